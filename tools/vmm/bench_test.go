package vmm

import (
	"io"
	"testing"
	"time"

	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// BenchmarkBoot measures a full in-process VM lifecycle for the tiny guest
// (create VM, load, run to the exit port, tear down) and reports the time
// from New to vCPU 0's first KVM_RUN and to the guest's exit.
func BenchmarkBoot(b *testing.B) {
	needKVM(b)
	img := testguest.Image(testguest.Hello())
	var toRun, toExit time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		var first, exit time.Time
		v, err := New(Config{Image: img, MemSize: 128 << 20, Stdout: io.Discard, Trace: func(p string) {
			switch p {
			case "first vCPU run":
				first = time.Now()
			case "guest exit":
				exit = time.Now()
			}
		}})
		if err != nil {
			b.Fatal(err)
		}
		if r := v.Run(); r.Reason != GuestExit || r.Code != 7 {
			b.Fatalf("unexpected result %+v", r)
		}
		v.Close()
		toRun += first.Sub(start)
		toExit += exit.Sub(start)
	}
	b.ReportMetric(float64(toRun.Microseconds())/float64(b.N), "µs-to-first-run")
	b.ReportMetric(float64(toExit.Microseconds())/float64(b.N), "µs-to-exit")
}
