// Command unigo-net is the user-mode network's process (package netproc):
// the launcher, or with -jail the jailer, starts it beside each guest
// that has the user-mode network, with its end of a SOCK_SEQPACKET
// socketpair as descriptor 3, and it runs usernet's gateway there,
// outside the launcher's address space (and, with -jail, outside its
// empty network namespace). It is not meant to be run by hand.
//
//	unigo-net [-p HOSTADDR:HOSTPORT:GUESTPORT/PROTO]... [-hostloopback] [-restrict] [-maxconns N] [-jail]
//
// It writes a hello on the socket (ready, or why it could not start),
// then hands the socket to the gateway's switch, which reads and writes
// it itself, until the launcher closes its end, and exits. It runs its
// goroutines on one P (GOMAXPROCS=1) unless GOMAXPROCS is set. It
// ignores the terminal's and the service manager's signals, which are
// the launcher's to handle; it dies with it. -jail: once its forwards
// listen it drops root to nobody and loads the launcher's seccomp
// allowlist (package jail).
package main
