package tests

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const confloodPkg = "./tests/guests/conflood"

// slowReader is the host end of a console pipe read at rate bytes a second.
type slowReader struct {
	mu   sync.Mutex
	b    strings.Builder
	rate int
}

func (s *slowReader) Write(p []byte) (int, error) {
	time.Sleep(time.Duration(len(p)) * time.Second / time.Duration(s.rate))
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *slowReader) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConsoleSlowReader: a guest writes 1 MiB to its console while the host
// reads the console's pipe at 1 MB/s; every byte arrives, in order, and the
// guest exits 0 (the console waits for the port rather than dropping what
// the host has not taken yet).
func TestConsoleSlowReader(t *testing.T) {
	const total = 1 << 20
	var want strings.Builder
	for i := 0; want.Len() < total; i++ {
		fmt.Fprintf(&want, "%08d abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123\n", i)
	}
	expect := want.String()[:total]
	summary := regexp.MustCompile(`^conflood: wrote 1048576 bytes in \S+ \(\S+ MB/s\)\n$`)
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			r.check(t)
			s := runSpec{image: images[confloodPkg], memory: "256M", cpus: 1, timeout: 90 * time.Second}
			timeout := s.timeout
			if r.name == "qemu" && !kvmBootsKernel() {
				timeout *= tcgSlowdown
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			cmd, decode, err := r.command(ctx, s)
			require.NoError(t, err)
			out := &slowReader{rate: 1 << 20}
			var diag strings.Builder
			cmd.Stdout = out
			if r.name == "native" {
				cmd.Stderr = out
			} else {
				cmd.Stderr = &diag
			}
			cmd.Dir = t.TempDir()
			cmd.WaitDelay = 5 * time.Second
			start := time.Now()
			err = cmd.Run()
			status := cmd.ProcessState.ExitCode()
			require.NoError(t, ctx.Err(), "timed out; stderr: %s", diag.String())
			if err != nil && status < 0 {
				require.NoError(t, err, diag.String())
			}
			code, _, err := decode(status, diag.String())
			require.NoError(t, err)
			got := strings.ReplaceAll(out.String(), "\r\n", "\n")
			t.Logf("%s: %d bytes in %v; %s", r.name, len(got), time.Since(start).Round(time.Millisecond), got[min(len(got), total):])
			assert.Equal(t, 0, code, "exit code; stderr: %s", diag.String())
			require.GreaterOrEqual(t, len(got), total, "bytes received; stderr: %s", diag.String())
			if got[:total] != expect {
				i := 0
				for i < total && got[i] == expect[i] {
					i++
				}
				t.Fatalf("output differs from byte %d: got %q, want %q", i, got[i:min(i+80, len(got))], expect[i:min(i+80, total)])
			}
			assert.Regexp(t, summary, got[total:])
		})
	}
}
