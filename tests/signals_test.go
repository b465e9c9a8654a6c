package tests

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// checkSignalReports checks the signals scenario's console: where the
// kernel refused the SIGALRM timer (the guest says "(refused)"), each kind
// of unsupported signal operation is reported exactly once, although the
// guest tries the real timer twice; natively nothing is refused.
func checkSignalReports(t *testing.T, r result, _, _ time.Time) {
	if !strings.Contains(r.out, "itimer-real ok (refused)") {
		assert.Contains(t, r.out, "itimer-real ok (delivered)")
		assert.NotContains(t, r.out, "unigo:")
		return
	}
	for _, report := range []string{
		"unigo: setitimer(ITIMER_REAL): SIGALRM timers are not supported: EINVAL\n",
		"unigo: alarm: SIGALRM timers are not supported: EINVAL\n",
		"unigo: timer_create: signals from timers on clocks other than CPU time are not supported: EINVAL\n",
		"unigo: kill/tgkill: stop signals are not supported (nothing could continue the process): EINVAL\n",
	} {
		assert.Equal(t, 1, strings.Count(r.out, report), "want %q reported once; output:\n%s", report, r.out)
	}
	assert.Contains(t, r.out, "signals: waits on unsupported signals refused\n")
}
