package netproc

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/tools/internal/sibling"
	"github.com/unigo-os/unigo/tools/vmm/netback"
	"github.com/unigo-os/unigo/tools/vmm/netback/seqpacket"
)

// Binary is the network process's command, looked for next to the
// executable that starts it.
const Binary = "unigo-net"

// SocketFD is the descriptor the network process finds its end of the
// socketpair at.
const SocketFD = 3

// Hello message kinds: the first byte of the network process's first
// message.
const (
	helloReady = 'R'
	helloError = 'E'
)

// maxHello bounds the hello message, and the error text in it.
const maxHello = 512

// Hello is the network process's first message: ready (err nil) or the
// reason it could not start, on one line.
func Hello(err error) []byte {
	if err == nil {
		return []byte{helloReady}
	}
	msg := append([]byte{helloError}, oneLine(err.Error())...)
	if len(msg) > maxHello {
		msg = msg[:maxHello]
	}
	return msg
}

// ParseHello reads the hello message msg: nil when the network is ready,
// else a one-line error. The network process runs the stack the guest
// talks to, so msg is untrusted: anything but the two kinds is an error,
// and the text is reduced to one line of printable characters.
func ParseHello(msg []byte) error {
	switch {
	case len(msg) == 0:
		return errors.New("user-mode network: the network process exited before it was ready")
	case len(msg) == 1 && msg[0] == helloReady:
		return nil
	case msg[0] == helloError && len(msg) <= maxHello:
		text := oneLine(string(msg[1:]))
		if text == "" {
			text = "user-mode network: failed (no reason given)"
		}
		return errors.New(text)
	}
	return fmt.Errorf("user-mode network: bad hello from the network process (%d bytes)", len(msg))
}

// oneLine keeps the printable characters of s, control characters and
// invalid UTF-8 replaced, so that an error stays one line.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "?")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s))
}

// Config is what the network process is started with: the -p forwards,
// the policy, and whether it confines itself (-jail).
type Config struct {
	Forwards []netback.Forward
	Policy   netback.UserPolicy
	Jail     bool
}

// Args is c as the network process's command line (ParseArgs reads it).
func (c Config) Args() []string {
	var a []string
	for _, f := range c.Forwards {
		a = append(a, "-p", f.String())
	}
	if c.Policy.HostLoopback {
		a = append(a, "-hostloopback")
	}
	if c.Policy.Restrict {
		a = append(a, "-restrict")
	}
	if c.Policy.MaxConns != 0 {
		a = append(a, "-maxconns", strconv.Itoa(c.Policy.MaxConns))
	}
	if c.Jail {
		a = append(a, "-jail")
	}
	return a
}

// ParseArgs parses the network process's command line.
func ParseArgs(args []string) (Config, error) {
	var c Config
	fs := flag.NewFlagSet(Binary, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Func("p", "", func(s string) error {
		f, err := netback.ParseForward(s)
		c.Forwards = append(c.Forwards, f)
		return err
	})
	fs.BoolVar(&c.Policy.HostLoopback, "hostloopback", false, "")
	fs.BoolVar(&c.Policy.Restrict, "restrict", false, "")
	fs.IntVar(&c.Policy.MaxConns, "maxconns", 0, "")
	fs.BoolVar(&c.Jail, "jail", false, "")
	if err := fs.Parse(args); err != nil {
		return Config{}, errors.New(oneLine(err.Error()))
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", oneLine(fs.Arg(0)))
	}
	if c.Policy.MaxConns < 0 || c.Policy.MaxConns > 1<<20 {
		return Config{}, fmt.Errorf("-maxconns %d: want 1..1048576", c.Policy.MaxConns)
	}
	return c, nil
}

// Path is the network process's binary next to the running executable.
func Path() (string, error) {
	p, err := sibling.Path(Binary)
	if err != nil {
		return "", fmt.Errorf("user-mode network: %v (make build builds it)", err)
	}
	return p, nil
}

// socketBuf is each direction's socket buffer: room for a burst before a
// writer blocks, as on usernet's own socketpair.
const socketBuf = 4 << 20

// Spawn starts the network process bin with c, in this process's
// namespaces, and returns this end of their socket (non-blocking,
// close-on-exec) and the process. The process gets SIGKILL when the
// thread that started it dies; it exits by itself on EOF of the socket.
func Spawn(bin string, c Config) (*os.File, *os.Process, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("user-mode network: socketpair: %w", err)
	}
	for _, fd := range fds {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, socketBuf)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBuf)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("user-mode network: %w", err)
	}
	ours := os.NewFile(uintptr(fds[0]), "user-net")
	theirs := os.NewFile(uintptr(fds[1]), "user-net-process")
	defer theirs.Close()
	cmd := exec.Command(bin, c.Args()...)
	cmd.Stderr = os.Stderr // a crash's trace; errors come in the hello
	cmd.ExtraFiles = []*os.File{theirs}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		ours.Close()
		return nil, nil, fmt.Errorf("user-mode network: start %s: %v", bin, err)
	}
	return ours, cmd.Process, nil
}

// Start spawns the network process (Path) with c and returns the
// launcher's end.
func Start(c Config) (*Remote, error) {
	bin, err := Path()
	if err != nil {
		return nil, err
	}
	f, p, err := Spawn(bin, c)
	if err != nil {
		return nil, err
	}
	return NewRemote(f, p), nil
}

// helloTimeout bounds the wait for the network process's hello (its
// start: exec, package initialisers, listening on the forwards).
const helloTimeout = 30 * time.Second

// Remote is the launcher's end of the network process: a
// virtio.NetBackend whose frames are the socket's messages.
type Remote struct {
	f    *os.File
	c    *seqpacket.Conn // f, read a burst at a time
	proc *os.Process     // nil: started by the jailer, who reaps it

	helloDone chan struct{}
	helloErr  error

	done      chan struct{} // closed when the network process is gone
	doneOnce  sync.Once
	closed    chan struct{}
	closeOnce sync.Once
}

// NewRemote takes over f, this end of the socket to a network process,
// and proc, that process when this one started it (Close reaps it).
func NewRemote(f *os.File, proc *os.Process) *Remote {
	r := &Remote{f: f, proc: proc, helloDone: make(chan struct{}), done: make(chan struct{}), closed: make(chan struct{})}
	c, err := seqpacket.New(f, netback.UserBurst, netback.UserFrameMax)
	if err != nil {
		r.helloErr = fmt.Errorf("user-mode network: %v", err)
		close(r.helloDone)
		r.gone()
		return r
	}
	r.c = c
	go func() {
		defer close(r.helloDone)
		buf := make([]byte, maxHello+1)
		n, err := c.Read(buf)
		if err != nil && !errors.Is(err, io.EOF) {
			r.helloErr = fmt.Errorf("user-mode network: %v", err)
		} else {
			r.helloErr = ParseHello(buf[:n])
		}
		if r.helloErr != nil {
			r.gone()
		}
	}()
	return r
}

// Ready waits for the network process's hello: nil once it serves, else
// why it could not start.
func (r *Remote) Ready() error {
	t := time.NewTimer(helloTimeout)
	defer t.Stop()
	select {
	case <-r.helloDone:
		return r.helloErr
	case <-t.C:
		return fmt.Errorf("user-mode network: the network process did not start within %v", helloTimeout)
	}
}

// Pid is the network process's, when this process started it; else 0.
func (r *Remote) Pid() int {
	if r.proc == nil {
		return 0
	}
	return r.proc.Pid
}

// Done is closed when the network process is gone (EOF on the socket)
// before Close.
func (r *Remote) Done() <-chan struct{} { return r.done }

func (r *Remote) gone() {
	select {
	case <-r.closed:
	default:
		r.doneOnce.Do(func() { close(r.done) })
	}
}

// ReadFrame implements virtio.NetBackend: one message, after the hello.
func (r *Remote) ReadFrame(buf []byte) (int, error) {
	<-r.helloDone
	if r.helloErr != nil {
		return 0, r.helloErr
	}
	n, err := r.c.Read(buf)
	if err != nil {
		r.gone()
		return 0, err
	}
	return n, nil
}

// WriteFrame implements virtio.NetBackend: one message, after those
// queued.
func (r *Remote) WriteFrame(frame []byte) error {
	if r.c == nil {
		return r.helloErr
	}
	_, err := r.c.Write(frame)
	return err
}

// QueueFrame implements virtio.NetBatchBackend: frame joins the burst
// that Flush sends with one system call.
func (r *Remote) QueueFrame(frame []byte) error {
	if r.c == nil {
		return r.helloErr
	}
	return r.c.Queue(frame)
}

// Flush implements virtio.NetBatchBackend.
func (r *Remote) Flush() error {
	if r.c == nil {
		return r.helloErr
	}
	return r.c.Flush()
}

// reapGrace is how long Close waits for the network process to exit on
// EOF before it kills it: beyond the time it may take to hand the host
// what the guest sent last (usernet.DrainMax).
const reapGrace = 35 * time.Second

// Close closes the socket, which ends the network process, and reaps
// the process when this one started it.
func (r *Remote) Close() error {
	r.closeOnce.Do(func() {
		close(r.closed)
		r.f.Close()
		if r.proc == nil {
			return
		}
		Reap(r.proc)
	})
	return nil
}

// Reap waits for the network process p, which exits on EOF of its
// socket once the launcher's end is closed, and kills it if it has not
// within reapGrace.
func Reap(p *os.Process) {
	exited := make(chan struct{})
	go func() {
		p.Wait()
		close(exited)
	}()
	select {
	case <-exited:
	case <-time.After(reapGrace):
		p.Kill()
		<-exited
	}
}

// Network is the network process's network: usernet.User.
type Network interface {
	// Serve makes sock the device's port and moves frames between it
	// and the network until the launcher closes its end (EOF).
	Serve(sock *os.File) error
	io.Closer
}

// Serve is the network process's side: it sends the hello for n (ready),
// hands n the socket until the launcher closes its end, then closes n.
// The network reads and writes the socket itself, so a frame crosses no
// further hop in this process.
func Serve(sock *os.File, n Network) error {
	if _, err := sock.Write(Hello(nil)); err != nil {
		n.Close()
		return err
	}
	err := n.Serve(sock)
	n.Close()
	return err
}
