package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/tools/vmm/jail"
	"github.com/unigo-os/unigo/tools/vmm/netback/netproc"
	"github.com/unigo-os/unigo/tools/vmm/netback/usernet"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	// One P unless GOMAXPROCS says otherwise: a frame's work here is a
	// chain of short steps on several goroutines (the switch's reader,
	// gVisor's TCP processors, a connection's relays), and on one P
	// each hand-off is a run-queue push, not a wake-up of another
	// thread; it leaves the other CPUs to the guest and the launcher.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	// The launcher's group gets the terminal's ^C and a stop's SIGTERM:
	// the launcher hands them to the guest, and this process must
	// outlive the guest's grace. It ends on EOF of the socket.
	signal.Ignore(syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	// Descriptor 3 must be the launcher's SOCK_SEQPACKET socket; run by
	// hand it is absent, or the runtime's own (its poller's).
	if typ, err := unix.GetsockoptInt(netproc.SocketFD, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_SEQPACKET {
		fmt.Fprintf(os.Stderr, "%s: descriptor %d is not the launcher's socket (unigo-vmm starts this process)\n", netproc.Binary, netproc.SocketFD)
		return 2
	}
	if err := unix.SetNonblock(netproc.SocketFD, true); err != nil {
		fmt.Fprintf(os.Stderr, "%s: descriptor %d: %v\n", netproc.Binary, netproc.SocketFD, err)
		return 2
	}
	sock := os.NewFile(netproc.SocketFD, "launcher")
	fail := func(err error) int {
		sock.Write(netproc.Hello(err))
		return 1
	}
	c, err := netproc.ParseArgs(args)
	if err != nil {
		return fail(fmt.Errorf("%s: %v", netproc.Binary, err))
	}
	u, err := usernet.New(c.Forwards, c.Policy)
	if err != nil {
		return fail(err)
	}
	if c.Jail {
		if err := jail.Enter(); err != nil {
			u.Close()
			return fail(err)
		}
		// The drop to nobody cleared the SIGKILL on the parent's death
		// (Spawn's PR_SET_PDEATHSIG); ask again. A parent that died
		// meanwhile took the launcher with it: the socket's EOF ends
		// this process then (the filter refuses getppid).
		if err := jail.DieWithParent(); err != nil {
			u.Close()
			return fail(err)
		}
	}
	if err := netproc.Serve(sock, u); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", netproc.Binary, err)
	}
	// The guest is gone; what it sent may not all be with the host yet.
	if n := u.Drain(); n > 0 {
		fmt.Fprintf(os.Stderr, "%s: gave up handing the host the guest's last data on %d connections (the host stopped reading, or %v passed)\n", netproc.Binary, n, usernet.DrainMax)
	}
	// The gateway's loss counters, beside the launcher's device counters
	// (which it prints before it closes the socket and reaps this process).
	if os.Getenv("UNIGO_VMM_STATS") != "" {
		fmt.Fprintf(os.Stderr, "%s: %v\n", netproc.Binary, u)
	}
	return 0
}
