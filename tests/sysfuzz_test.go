package tests

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sysfuzzPkg is the system-call fuzzer guest (tests/guests/sysfuzz).
const sysfuzzPkg = "./tests/guests/sysfuzz"

// sysfuzzNetPkg is the same fuzzer with the netstack linked. By default
// it runs seeds 7 and 8, which found F1 and F2 (FINDINGS.md); with
// SYSFUZZ_NET=1 it runs the SYSFUZZ_SEEDS range instead of the plain guest.
const sysfuzzNetPkg = "./tests/guests/sysfuzz/net"

// sysfuzzEnv reads the knobs of TestSyscallFuzz:
//
//	SYSFUZZ_SEEDS  first-last seed range (default 1-4)
//	SYSFUZZ_CALLS  system calls per seed (default 6000)
//	SYSFUZZ_TIME   run seed after seed from the first for this long
//	               (make sysfuzz FUZZTIME=5m); the range's last is then ignored
//	SYSFUZZ_ARGS   extra guest arguments, e.g. "-set all" or "-skip socket"
//	SYSFUZZ_NET=1  the guest with the netstack linked (tests/guests/sysfuzz/net)
func sysfuzzEnv(t *testing.T) (first, last uint64, calls int, d time.Duration, extra []string) {
	first, last, calls = 1, 4, 6000
	if v := os.Getenv("SYSFUZZ_SEEDS"); v != "" {
		a, b, ok := strings.Cut(v, "-")
		var err1, err2 error
		first, err1 = strconv.ParseUint(a, 10, 64)
		last, err2 = first, nil
		if ok {
			last, err2 = strconv.ParseUint(b, 10, 64)
		}
		require.NoError(t, err1, "SYSFUZZ_SEEDS")
		require.NoError(t, err2, "SYSFUZZ_SEEDS")
	}
	if v := os.Getenv("SYSFUZZ_CALLS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "SYSFUZZ_CALLS")
		calls = n
	}
	if v := os.Getenv("SYSFUZZ_TIME"); v != "" {
		var err error
		d, err = time.ParseDuration(v)
		require.NoError(t, err, "SYSFUZZ_TIME")
		last = ^uint64(0)
	}
	extra = strings.Fields(os.Getenv("SYSFUZZ_ARGS"))
	return
}

// sysfuzzFinal is the guest's last line when every call returned and
// every sanity check held.
var sysfuzzFinal = regexp.MustCompile(`(?m)^sysfuzz: (\d+) calls ok$`)

// TestSyscallFuzz boots the system-call fuzzer guest for a fixed range of
// seeds: random system calls with hostile arguments on a locked thread,
// with worker goroutines whose state is checked after every batch. Every
// seed must end with exit 0 and "sysfuzz: N calls ok", with no kernel
// panic or fault on the console. The launcher runs every seed, QEMU the
// first. Known kernel crashes the fuzzer finds, with reproducers, are in
// tests/guests/sysfuzz/FINDINGS.md; the CI range is one that passes.
func TestSyscallFuzz(t *testing.T) {
	first, last, calls, d, extra := sysfuzzEnv(t)
	type run struct {
		pkg         string
		first, last uint64
	}
	runs := []run{{sysfuzzPkg, first, last}, {sysfuzzNetPkg, 7, 8}}
	if os.Getenv("SYSFUZZ_NET") == "1" {
		runs = []run{{sysfuzzNetPkg, first, last}}
	}
	forBootRunners(t, func(t *testing.T, r runner) {
		start := time.Now()
		for _, rn := range runs {
			pkg := rn.pkg
			for seed := rn.first; seed <= rn.last; seed++ {
				if d > 0 && time.Since(start) > d {
					break
				}
				args := append([]string{"-seed", strconv.FormatUint(seed, 10), "-count", strconv.Itoa(calls)}, extra...)
				res, err := r.run(t, runSpec{image: images[pkg], args: args, memory: "256M", cpus: 1,
					timeout: 60*time.Second + time.Duration(calls)*time.Millisecond})
				repro := fmt.Sprintf("reproduce: bin/unigo run -timeout 120s %s -- %s", pkg, strings.Join(args, " "))
				require.NoError(t, err, repro)
				ok := assert.Equal(t, 0, res.code, "seed %d: exit code; %s; output:\n%s", seed, repro, res.out)
				ok = assert.Regexp(t, sysfuzzFinal, res.out, "seed %d: final line; %s", seed, repro) && ok
				for _, bad := range []string{"kernel panic", "kernel fault", "sysfuzz: FAIL"} {
					ok = assert.NotContains(t, res.out, bad, "seed %d; %s", seed, repro) && ok
				}
				if !ok {
					return
				}
				if testing.Verbose() {
					t.Logf("seed %d: %s", seed, sysfuzzFinal.FindString(res.out))
				}
				if r.name == "qemu" && d == 0 {
					break // QEMU boots more slowly: one seed is enough there
				}
			}
		}
	})
}
