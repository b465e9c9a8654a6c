package tests

import (
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var syscallSitesLine = regexp.MustCompile(`unigo: stats: syscall sites=(\d+) rewritten=(\d+)`)

// TestSyscallCallsRewritten boots the syscallcalls guest with unigo.stats
// and checks what the kernel did with the image's SYSCALL sites: on a PVM
// host (CPL-3 SYSCALL mode) the launcher's guest rewrites every site the
// image recorded, elsewhere (QEMU's TCG here, hardware KVM) none; with
// unigo.syscallpatch=0 none either. The guest's own checks (results,
// goroutines, profile, fault traceback) must pass every way.
func TestSyscallCallsRewritten(t *testing.T) {
	img := images["./tests/guests/syscallcalls"]
	forBootRunners(t, func(t *testing.T, r runner) {
		for _, off := range []bool{false, true} {
			kp := []string{"unigo.stats=1"}
			if off {
				kp = append(kp, "unigo.syscallpatch=0")
			}
			res, err := r.run(t, runSpec{image: img, memory: "128M", cpus: 2,
				timeout: 2 * time.Minute * tcgSlowdown, kparams: kp})
			require.NoError(t, err)
			require.Equal(t, 0, res.code, "output:\n%s", res.out)
			assert.Contains(t, res.out, "syscallcalls: ok\n")
			m := syscallSitesLine.FindStringSubmatch(res.out)
			require.NotNil(t, m, "no syscall sites line in:\n%s", res.out)
			sites, _ := strconv.Atoi(m[1])
			rewritten, _ := strconv.Atoi(m[2])
			if r.name == "launcher" && pvmHost() && !off {
				assert.GreaterOrEqual(t, sites, 20, "sites the image recorded")
				assert.Equal(t, sites, rewritten, "every recorded site rewritten")
			} else {
				assert.Zero(t, rewritten, "no site rewritten (syscallpatch=0: %v)", off)
			}
		}
	})
}
