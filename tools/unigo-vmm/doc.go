// Command unigo-vmm is the KVM launcher that `unigo run` execs: the run
// command (tools/launch) and the VMM alone, without the CLI's build, OCI,
// test and benchmark commands, so that the process beside each guest maps
// a small binary and initialises nothing the guest does not use. The CLI
// finds it next to its own executable and hands it the same command line;
// it is not meant to be run by hand.
//
//	unigo-vmm [-built-image PATH] [-jail-root] [-tap-fd FD:MTU] [-net-fd FD] [-ready-fd FD] [-fd NAME=FD]... RUN-FLAGS IMAGE [-- ARGS...]
//
// -built-image PATH: the CLI built the run target into PATH, in a
// temporary directory of its own, which the launcher removes at exit.
// -jail-root: the CLI started the launcher in fresh namespaces as the
// jailer; -jail then also moves it into an empty root. -tap-fd FD:MTU:
// the jailer opened -net tap's device, which is descriptor FD, with the
// interface's MTU. -net-fd FD: the jailer started the user-mode
// network's process (unigo-net) in the host's network namespace, and FD
// is the launcher's end of its socket. -ready-fd FD: write a byte to FD when the guest is
// ready, in place of creating -ready-file (the jailer does). -fd NAME=FD:
// the jailer opened kvm (/dev/kvm), image, driveN or volumeN (the Nth
// -drive or -v) as FD.
package main
