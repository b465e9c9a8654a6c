package tests

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// confloodPattern is the first n bytes of conflood's pattern.
func confloodPattern(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%08d abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123\n", i)
	}
	return b.String()[:n]
}

// TestConsoleOrder: many small console writes (the launcher's console
// ring), stdout and stderr interleaved, and programs that end right after
// their last write, by os.Exit or a panic: every byte arrives, in order,
// before the exit is reported, on one CPU and on two, under every runner
// (QEMU with less output: its UART takes a byte per exit).
func TestConsoleOrder(t *testing.T) {
	cases := []struct {
		name  string
		bytes int
		cpus  int
		args  []string
		code  int
		tail  string // what follows the pattern: a regexp
	}{
		{"lines", 2 << 20, 1, nil, 0, `^conflood: wrote \d+ bytes in \S+ \(\S+ MB/s\)\n$`},
		{"lines-2cpus", 2 << 20, 2, nil, 0, `^conflood: wrote \d+ bytes in \S+ \(\S+ MB/s\)\n$`},
		{"interleave", 512 << 10, 1, []string{"-interleave"}, 0, `^conflood: wrote \d+ bytes in \S+ \(\S+ MB/s\)\n$`},
		{"exit", 1 << 20, 1, []string{"-end", "exit3"}, 3, `^$`},
		{"exit-2cpus", 1 << 20, 2, []string{"-end", "exit3"}, 3, `^$`},
		{"panic", 1 << 20, 1, []string{"-end", "panic"}, 2,
			`^panic: conflood: panic after writing\n\ngoroutine 1 \[running\]:\nmain\.main\(\)\n(.|\n)*$`},
	}
	for _, r := range runners {
		t.Run(r.name, func(t *testing.T) {
			r.check(t)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					n := c.bytes
					if r.name == "qemu" {
						n = 64 << 10
					}
					args := append([]string{"-bytes", strconv.Itoa(n), "-chunk", "100"}, c.args...)
					res, err := r.run(t, runSpec{image: images[confloodPkg], args: args, memory: "128M", cpus: c.cpus, timeout: 60 * time.Second})
					require.NoError(t, err)
					assert.Equal(t, c.code, res.code, "exit code; monitor: %s", res.diag)
					want := confloodPattern(n)
					got := res.out
					require.GreaterOrEqual(t, len(got), n, "bytes received; monitor: %s", res.diag)
					if got[:n] != want {
						i := 0
						for got[i] == want[i] {
							i++
						}
						t.Fatalf("output differs from byte %d: got %q, want %q", i, got[i:min(i+80, len(got))], want[i:min(i+80, n)])
					}
					assert.Regexp(t, c.tail, got[n:])
				})
			}
		})
	}
}
