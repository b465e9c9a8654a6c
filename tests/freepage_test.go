package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const balloonPkg = "./tests/guests/balloon"

// TestFreePageReporting boots a guest that writes 96 MiB, then frees it
// (tests/guests/balloon), and samples the VM's resident memory on the
// host after each step: with free page reporting (kernel/balloon) the
// guest tells the device what it freed, which discards it, so the VM's
// resident memory falls back by most of the 96 MiB; with unigo.balloon=0
// it stays up; with -hugepages too (the discarded 4 KiB ranges split the
// host's huge pages). The guest's own counters (unigo.stats) show the reports,
// and the memory allocated again reads zero.
// Native runs have no VM to measure.
func TestFreePageReporting(t *testing.T) {
	for _, tc := range []struct {
		runner string
		off    bool
		cpus   int
		huge   bool // -hugepages: host huge pages behind guest RAM
	}{
		{"qemu", false, 1, false},
		{"qemu", true, 1, false},
		{"launcher", false, 1, false},
		{"launcher", true, 1, false},
		{"launcher", false, 2, false},
		{"launcher", false, 1, true},
	} {
		name := tc.runner
		if tc.off {
			name += "/off"
		}
		if tc.huge {
			name += "/hugepages"
		}
		if tc.cpus > 1 {
			name += fmt.Sprintf("/%dcpus", tc.cpus)
		}
		t.Run(name, func(t *testing.T) {
			r := runnerNamed(tc.runner)
			r.check(t)
			t.Setenv("UNIGO_VMM_STATS", "1") // the launcher's device counters
			s := runSpec{image: images[balloonPkg], memory: "256M", cpus: tc.cpus, timeout: 3 * time.Minute, kparams: []string{"unigo.stats=1"}}
			if tc.off {
				s.kparams = append(s.kparams, "unigo.balloon=0")
			}
			if tc.huge {
				s.launcherArgs = []string{"-hugepages"}
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			defer cancel()
			cmd, decode, err := r.command(ctx, s)
			require.NoError(t, err)
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.WaitDelay = 5 * time.Second
			require.NoError(t, cmd.Start())
			defer cmd.Process.Kill()
			waitLine := func(line string) {
				t.Helper()
				require.Eventually(t, func() bool { return strings.Contains(stdout.String(), line) },
					2*time.Minute, 20*time.Millisecond, "stdout %q stderr %q", &stdout, &stderr)
			}
			waitLine("balloon: filled")
			filled := vmRSS(t, cmd.Process.Pid)
			waitLine("balloon: idled")
			idled := vmRSS(t, cmd.Process.Pid)
			_ = cmd.Wait() // the exit status says how the guest ended
			code, _, err := decode(cmd.ProcessState.ExitCode(), stderr.String())
			require.NoError(t, err)
			require.Zero(t, code, "stdout %q stderr %q", &stdout, &stderr)
			t.Logf("%s: VM resident after filling %d MiB, after dropping and idling %d MiB", name, filled>>20, idled>>20)

			stats := regexp.MustCompile(`unigo: stats: balloon reports=(\d+) reported_bytes=(\d+) reused_bytes=(\d+) held_bytes=(\d+)`).
				FindStringSubmatch(stdout.String())
			if tc.off {
				assert.Nil(t, stats, "no reporting with unigo.balloon=0")
				assert.Less(t, filled-idled, int64(32<<20), "without reporting the VM keeps what the guest freed")
				return
			}
			if tc.runner == "launcher" {
				m := balloonStats.FindStringSubmatch(stderr.String())
				require.NotNil(t, m, "the launcher's balloon counters in %q", &stderr)
				assert.NotEqual(t, "0", m[1], "the device received reports")
				assert.Equal(t, "0", m[4], "no range refused")
			}
			assert.Contains(t, stdout.String(), "balloon: refilled 96 MiB, read zero\n")
			require.NotNil(t, stats, "stdout %q", &stdout)
			reported, _ := strconv.ParseInt(stats[2], 10, 64)
			reused, _ := strconv.ParseInt(stats[3], 10, 64)
			assert.GreaterOrEqual(t, reused, int64(64<<20), "the refill reused reported memory")
			assert.GreaterOrEqual(t, reported, int64(80<<20), "the guest reported most of what it freed")
			assert.GreaterOrEqual(t, filled-idled, int64(64<<20), "the VM's resident memory fell by most of the 96 MiB")
		})
	}
}

// vmRSS is the resident memory of the largest process in the tree rooted
// at pid: the VM (QEMU, or the launcher's VMM when `unigo run` starts
// it as a child).
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	best := int64(-1)
	var walk func(pid int)
	walk = func(pid int) {
		if rss, ok := procRSS(pid); ok && rss > best {
			best = rss
		}
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			for _, c := range strings.Fields(string(b)) {
				if n, err := strconv.Atoi(c); err == nil {
					walk(n)
				}
			}
		}
	}
	walk(pid)
	require.GreaterOrEqual(t, best, int64(0), "no VmRSS for %d", pid)
	return best
}

// procRSS reads VmRSS from /proc/PID/status, in bytes.
func procRSS(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
