package tests

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// TestBootRunnersRawGuests boots hand-assembled PVH guests (a few bytes of
// 32-bit code, no kernel) under the boot runners. It checks the harness's
// monitor command lines and exit-status decoding independently of the
// kernel. (A power-off case is missing: a triple fault under nested KVM
// ends in a KVM emulation failure, not a QEMU exit;
// probe.DecodeQEMUStatus's unit test covers status 0.) It checks only that
// a runner is present (runner.unavailable), not runner.check's probe boot:
// these guests do not need the kernel to work.
func TestBootRunnersRawGuests(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, code []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, testguest.Image(code), 0o644))
		return p
	}
	cases := []struct {
		name  string
		image string
		code  int
		out   string
	}{
		{name: "hello7", image: write("hello7", testguest.Hello()), code: 7, out: "hi\n"},
		{name: "exit0", image: write("exit0", append(testguest.Print("zero\n"), testguest.Exit(0)...)), code: 0, out: "zero\n"},
		// A process exit status has 8 bits and QEMU spends one on its
		// marker, so 127 is the largest code QEMU can carry.
		{name: "exit127", image: write("exit127", testguest.Exit(127)), code: 127},
	}
	for _, r := range runners {
		if !r.boot {
			continue
		}
		t.Run(r.name, func(t *testing.T) {
			if why := r.unavailable(); why != "" {
				t.Skip(why)
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					res, err := r.run(t, runSpec{image: tc.image, memory: "64M", timeout: 30 * time.Second})
					require.NoError(t, err)
					assert.False(t, res.poweredOff, "powered off without a code; diag: %s", res.diag)
					assert.Equal(t, tc.code, res.code, "exit code; diag: %s", res.diag)
					assert.Equal(t, tc.out, res.out)
				})
			}
		})
	}
}
