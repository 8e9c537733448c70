package nettest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestMechanismFor: the one decision of how a link's impairments are made,
// at build time and on a running link, and that it asks for netem only when
// the answer matters.
func TestMechanismFor(t *testing.T) {
	none := Impairments{}
	loss := Both(Impairment{Loss: 0.1})
	delay := Both(Impairment{Delay: time.Millisecond})
	for _, tc := range []struct {
		requested Mechanism
		imp       Impairments
		netem     bool
		running   bool
		want      Mechanism
		err       string // a part of the error; "" for none
		probes    bool   // netem is asked
	}{
		{"", none, true, false, MechanismNone, "", false},
		{"", loss, true, false, MechanismNetem, "", true},
		{"", loss, false, false, MechanismKernel, "", true},
		{"", delay, false, false, MechanismUserspace, "", true},
		{MechanismNone, loss, true, false, "", "mechanism none cannot impair anything", false},
		{MechanismNetem, none, false, false, "", "this kernel has no sch_netem", true},
		{MechanismKernel, delay, true, false, "", `mechanism tbf+nftables does only random loss and rate; delay needs "userspace" (or netem)`, false},
		{MechanismUserspace, delay, false, false, MechanismUserspace, "", false},
		{"quantum", none, true, false, "", `unknown mechanism "quantum"`, false},

		{MechanismUserspace, delay, false, true, MechanismUserspace, "", false},
		{MechanismNetem, delay, true, true, MechanismNetem, "", false},
		{MechanismKernel, loss, true, true, MechanismKernel, "", false},
		{MechanismKernel, delay, true, true, "", `delay needs netem or a userspace link`, false},
		{MechanismNone, none, true, true, MechanismNone, "", false},
		{MechanismNone, delay, true, true, MechanismNetem, "", true},
		{MechanismNone, loss, false, true, MechanismKernel, "", true},
		{MechanismNone, delay, false, true, "", `delay needs netem, which this kernel lacks`, true},
	} {
		probed := false
		got, err := mechanismFor(tc.requested, tc.imp, func() bool { probed = true; return tc.netem }, tc.running)
		name := string(tc.requested) + "/" + describeNeeds(tc.imp)
		if tc.running {
			name += "/running"
		}
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one with %q", name, err, tc.err)
		case got != tc.want:
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		case probed != tc.probes:
			t.Errorf("%s: netem asked: %v, want %v", name, probed, tc.probes)
		}
		if strings.Contains(tc.err, "netem") && strings.Contains(tc.err, "kernel") && !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v does not wrap ErrUnsupported", name, err)
		}
	}
}
