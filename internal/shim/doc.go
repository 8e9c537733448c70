// Package shim is the init process of every command nettest runs in a
// node, and both sides of its protocol.
//
// A command started in a node runs under a shim: the very binary that
// started it, run again, which turns into the init process of the
// command's own PID namespace before anything else of the program runs
// (package nettest's init calls [Main] when the environment variable [Env]
// is set). The shim
//
//   - joins the node's network namespace (its file descriptor is passed in);
//   - in the mount namespace it was cloned with, makes every mount private,
//     mounts /proc for its PID namespace and /sys for the node's network
//     namespace (so /sys/class/net lists the node's interfaces), and mounts
//     the node's own files ([MountFiles]): its /run (and /var/run), /tmp,
//     /var/tmp and /var/log are bind mounts of the node's directories, its
//     /etc an overlay of the node's etc/ (hostname, the topology's hosts
//     file, a resolv.conf that sends no query out of the node, and the
//     test's files) on the host's /etc — the host's directories are not
//     touched;
//   - sets the hostname (its own UTS namespace) to the node's name;
//   - starts the command, says so on the status pipe ("started PID", or
//     "noexec ERRNO" when the program cannot be run, or "error ..."),
//     forwards SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 (and the other
//     catchable signals) to its process group, reaps every orphan, and
//     exits when the command does, passing on its wait status ("status N").
//
// When the shim dies, by any means, the kernel kills everything left in its
// PID namespace: grandchildren cannot outlive the command. The shim itself
// gets SIGKILL when the thread that started it dies (see [Spawn]), which
// happens only when the test process dies.
//
// The parent's side ([Prepare], [Launch], [ParseStarted], [ExitStatus])
// lives here too, so that the protocol is written in one place.
//
// The node's files directory ([MakeFilesDir]) outlives every shim: the
// parent keeps it (package nettest: a tmpfs mounted nowhere, held by a file
// descriptor) and passes it to each shim, so that every program of a node
// sees the same files.
//
// It must never import a package of nettest (nettest, fixtures,
// assertions, ...): the engine imports it. It knows nothing of nodes or
// topologies; it gets descriptors, names and paths.
package shim
