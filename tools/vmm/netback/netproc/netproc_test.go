package netproc

import (
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/vmm/netback"
	"github.com/unigo-os/unigo/tools/vmm/netback/seqpacket"
)

func TestHello(t *testing.T) {
	require.NoError(t, ParseHello(Hello(nil)))
	err := ParseHello(Hello(errors.New("-p 127.0.0.1:80:80/tcp: listen tcp: bind: address already in use\nsecond line")))
	require.EqualError(t, err, "-p 127.0.0.1:80:80/tcp: listen tcp: bind: address already in use second line")
	assert.LessOrEqual(t, len(Hello(errors.New(strings.Repeat("x", 4096)))), maxHello)
	for msg, want := range map[string]string{
		"":                                  "exited before it was ready",
		"E":                                 "no reason given",
		"R\x00":                             "bad hello",
		"X":                                 "bad hello",
		"E\x1b[31mred\r\n\xff":              "[31mred",
		"E" + strings.Repeat("y", maxHello): "bad hello",
	} {
		err := ParseHello([]byte(msg))
		require.Error(t, err, "%q", msg)
		assert.Contains(t, err.Error(), want, "%q", msg)
		assert.NotContains(t, err.Error(), "\n")
	}
}

func TestArgs(t *testing.T) {
	f1, err := netback.ParseForward("8080:80")
	require.NoError(t, err)
	f2, err := netback.ParseForward("[::1]:5353:53/udp")
	require.NoError(t, err)
	c := Config{Forwards: []netback.Forward{f1, f2}, Policy: netback.UserPolicy{HostLoopback: true, Restrict: true, MaxConns: 7}, Jail: true}
	got, err := ParseArgs(c.Args())
	require.NoError(t, err)
	assert.Equal(t, c, got)
	got, err = ParseArgs(Config{}.Args())
	require.NoError(t, err)
	assert.Equal(t, Config{}, got)
	for _, bad := range [][]string{{"-p", "x"}, {"-maxconns", "-1"}, {"-maxconns", "x"}, {"extra"}, {"-nope"}} {
		_, err := ParseArgs(bad)
		assert.Error(t, err, bad)
	}
}

// pair is a SOCK_SEQPACKET socketpair as Spawn makes it: the launcher's
// end and the network process's, both non-blocking.
func pair(t *testing.T) (launcher, proc *os.File) {
	launcher, proc, err := seqpacket.Pair("l", "p")
	require.NoError(t, err)
	return launcher, proc
}

// loopNet is a Network that answers each frame with the frame reversed.
type loopNet struct {
	once   sync.Once
	closed chan struct{}
}

func newLoopNet() *loopNet { return &loopNet{closed: make(chan struct{})} }

func (l *loopNet) Serve(sock *os.File) error {
	c, err := seqpacket.New(sock, 4, 64<<10)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		k, err := c.Read(buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		slices.Reverse(buf[:k])
		if _, err := c.Write(buf[:k]); err != nil {
			return err
		}
	}
}

func (l *loopNet) Close() error { l.once.Do(func() { close(l.closed) }); return nil }

// TestServeRemote: frames keep their boundaries both ways through Serve
// and Remote; closing the launcher's end ends Serve and closes the
// network, and that is not the network process dying (Done stays open).
func TestServeRemote(t *testing.T) {
	l, p := pair(t)
	n := newLoopNet()
	served := make(chan error, 1)
	go func() { served <- Serve(p, n) }()
	r := NewRemote(l, nil)
	require.NoError(t, r.Ready())
	buf := make([]byte, 16<<10)
	for _, f := range []string{"abc", strings.Repeat("z", 1514)} {
		require.NoError(t, r.WriteFrame([]byte(f)))
		k, err := r.ReadFrame(buf)
		require.NoError(t, err)
		assert.Equal(t, len(f), k)
		assert.Equal(t, f[len(f)-1], buf[0])
	}
	// A burst queued and flushed at once comes back in order.
	burst := []string{"one", "two", strings.Repeat("3", 9000), "four"}
	for _, f := range burst {
		require.NoError(t, r.QueueFrame([]byte(f)))
	}
	require.NoError(t, r.Flush())
	for _, f := range burst {
		k, err := r.ReadFrame(buf[:cap(buf)])
		require.NoError(t, err)
		want := []byte(f)
		slices.Reverse(want)
		assert.Equal(t, want, buf[:k])
	}
	r.Close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not end when the launcher closed its end")
	}
	select {
	case <-n.closed:
	default:
		t.Fatal("Serve left the network open")
	}
	select {
	case <-r.Done():
		t.Fatal("Done after Close")
	default:
	}
}

// TestRemoteGone: the network process's end closing (it died) closes
// Done and fails ReadFrame.
func TestRemoteGone(t *testing.T) {
	l, p := pair(t)
	r := NewRemote(l, nil)
	defer r.Close()
	_, err := p.Write(Hello(nil))
	require.NoError(t, err)
	require.NoError(t, r.Ready())
	p.Close()
	_, err = r.ReadFrame(make([]byte, 2048))
	assert.Error(t, err)
	select {
	case <-r.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
}

// TestRemoteFailed: an error hello fails Ready with its text, and a
// process that dies before its hello fails it too.
func TestRemoteFailed(t *testing.T) {
	l, p := pair(t)
	r := NewRemote(l, nil)
	p.Write(Hello(errors.New("-p 1:2/tcp: address already in use")))
	assert.EqualError(t, r.Ready(), "-p 1:2/tcp: address already in use")
	r.Close()
	p.Close()

	l, p = pair(t)
	r = NewRemote(l, nil)
	p.Close()
	assert.ErrorContains(t, r.Ready(), "exited before it was ready")
	r.Close()
}

func TestPathMissing(t *testing.T) {
	// The test binary has no unigo-net next to it.
	_, err := Path()
	assert.ErrorContains(t, err, "no unigo-net next to")
}
