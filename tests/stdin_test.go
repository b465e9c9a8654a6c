package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const catstdinPkg = "./tests/guests/catstdin"

// TestStdinEOF: `... | unigo run` gives the guest the whole input and
// then end of file (a read returns 0), so a program copying its stdin
// ends; input sent before the guest booted is kept, and more than the
// kernel's console ring arrives whole. Under QEMU stdin is a
// virtio-serial port (probe.QEMUArgsStdinPort), which QEMU closes at the
// end of its input.
func TestStdinEOF(t *testing.T) {
	var in strings.Builder
	for i := 0; in.Len() < 12000; i++ {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	for _, r := range []string{"launcher", "qemu"} {
		t.Run(r, func(t *testing.T) {
			if r == "launcher" {
				needLauncher(t)
			} else if why := qemuUnavailable(); why != "" {
				t.Skip(why)
			}
			for _, input := range []string{"", "hi\n", in.String()} {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				cmd := exec.CommandContext(ctx, unigoBin, "run", "-runner", r, "-timeout", "45s", images[catstdinPkg])
				cmd.Dir = t.TempDir()
				cmd.WaitDelay = 5 * time.Second
				cmd.Stdin = strings.NewReader(input)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				cancel()
				require.NoError(t, err, "%s%s", stdout.String(), stderr.String())
				// stdout is a pipe: LF line ends under both runners.
				assert.Equal(t, input+fmt.Sprintf("catstdin: eof after %d bytes\n", len(input)), stdout.String())
			}
		})
	}
}

// TestStdinPipe: a MiB piped into a guest that copies its stdin to its
// stdout comes out byte for byte, followed by the end of file, in a few
// seconds (under the launcher, abi.PortConsoleInput moves the input a
// ring's worth per VM exit; under QEMU the virtio console moves 4 KiB
// buffers). Under QEMU the input is sent once QEMU is up, which the
// virtio port does not need but shows that late input arrives too.
func TestStdinPipe(t *testing.T) {
	var in bytes.Buffer
	for i := 0; in.Len() < 1<<20; i++ {
		fmt.Fprintf(&in, "%07d %x\n", i, uint64(i)*0x9e3779b97f4a7c15)
	}
	input := in.Bytes()[:1<<20]
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			r.check(t)
			s := runSpec{image: images[catstdinPkg], memory: "128M", cpus: 1, timeout: 30 * time.Second, stdin: bytes.NewReader(input)}
			if r.name == "qemu" {
				s.stdin = &delayedReader{r: bytes.NewReader(input), delay: 2 * time.Second}
			}
			want := string(input) + fmt.Sprintf("catstdin: eof after %d bytes\n", len(input))
			start := time.Now()
			res, err := r.run(t, s)
			require.NoError(t, err)
			elapsed := time.Since(start)
			require.Equal(t, 0, res.code, "%s", res.diag)
			require.Equal(t, len(want), len(res.out), "output length; diagnostics:\n%s", res.diag)
			require.True(t, want == res.out, "output differs from the input")
			t.Logf("%d bytes in %v (boot included)", len(input), elapsed.Round(time.Millisecond))
		})
	}
}

// delayedReader reads from r after waiting delay once.
type delayedReader struct {
	r     io.Reader
	delay time.Duration
	once  sync.Once
}

func (d *delayedReader) Read(p []byte) (int, error) {
	d.once.Do(func() { time.Sleep(d.delay) })
	return d.r.Read(p)
}

// TestStdinPortQEMU: with stdin on the virtio-serial port, the serial
// port still carries everything the guest writes, a crash's last words
// included, once; and the drivers still find the other virtio devices
// (the kernel keeps the console device to itself).
func TestStdinPortQEMU(t *testing.T) {
	r := runnerNamed("qemu")
	r.check(t)
	t.Run("panic", func(t *testing.T) {
		res, err := r.run(t, runSpec{image: images["./tests/guests/panic"], memory: "128M", cpus: 1, timeout: 30 * time.Second, stdin: strings.NewReader("unread")})
		require.NoError(t, err)
		assert.Equal(t, 2, res.code, "%s", res.diag)
		assert.Equal(t, 1, strings.Count(res.out, "panic guest: about to fail\n"), res.out)
		assert.Contains(t, res.out, "panic: assignment to entry in nil map")
		assert.Contains(t, res.out, "main.main()")
	})
	t.Run("virtiorng", func(t *testing.T) {
		res, err := r.run(t, runSpec{image: images["./tests/guests/virtiorng"], memory: "128M", cpus: 1, timeout: 30 * time.Second,
			stdin: strings.NewReader(""), qemuArgs: qemuVirtio("-device", "virtio-rng-device")})
		require.NoError(t, err)
		assert.Equal(t, 0, res.code, "%s", res.diag)
		assert.Contains(t, res.out, "virtiorng: ok\n")
	})
}
