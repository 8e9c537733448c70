package nettest_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nettestlab/nettest/nettest"
)

// TestImpairmentMechanism: the decision tools get before building is the
// engine's, declared then running, with the features it needs.
func TestImpairmentMechanism(t *testing.T) {
	delay := nettest.Impairments{AB: nettest.Impairment{Delay: 10 * time.Millisecond}}
	loss := nettest.Impairments{AB: nettest.Impairment{Loss: 0.1}}
	for _, c := range []struct {
		via      nettest.Mechanism
		declared nettest.Impairments
		later    []nettest.Impairments
		netem    bool
		want     nettest.Mechanism
		needs    []nettest.Feature
		err      bool
	}{
		{"", nettest.Impairments{}, nil, false, nettest.MechanismNone, nil, false},
		{"", delay, nil, true, nettest.MechanismNetem, []nettest.Feature{nettest.FeatureNetem}, false},
		{"", delay, nil, false, nettest.MechanismUserspace, []nettest.Feature{nettest.FeatureTUN}, false},
		{"", loss, nil, false, nettest.MechanismKernel, []nettest.Feature{nettest.FeatureTBF, nettest.FeatureNFTables}, false},
		// Impaired only while running: a plain pair takes the kernel's best,
		// and without netem it cannot delay.
		{"", nettest.Impairments{}, []nettest.Impairments{delay}, false, "", nil, true},
		{"", nettest.Impairments{}, []nettest.Impairments{loss}, false, nettest.MechanismKernel, []nettest.Feature{nettest.FeatureTBF, nettest.FeatureNFTables}, false},
		{nettest.MechanismUserspace, nettest.Impairments{}, []nettest.Impairments{delay}, false, nettest.MechanismUserspace, []nettest.Feature{nettest.FeatureTUN}, false},
		{nettest.MechanismKernel, delay, nil, true, "", nil, true},
	} {
		m, err := nettest.ImpairmentMechanism(c.via, c.declared, c.later, c.netem)
		if (err != nil) != c.err || m != c.want || !slices.Equal(m.Needs(), c.needs) {
			t.Errorf("ImpairmentMechanism(%q, %+v, %v, netem %v) = %q (needs %v), %v; want %q (needs %v), error %v",
				c.via, c.declared, c.later, c.netem, m, m.Needs(), err, c.want, c.needs, c.err)
		}
		if err != nil && c.via == "" && !errors.Is(err, nettest.ErrUnsupported) {
			t.Errorf("%v: want ErrUnsupported", err)
		}
	}
}
