package tests

import (
	"testing"
)

// BenchmarkBoot measures one run of the smallest guest, start to exit, per
// runner: process start for native, boot plus teardown for the VMs.
func BenchmarkBoot(b *testing.B) {
	var exit0 scenario
	for _, sc := range scenarios {
		if sc.name == "exit0" {
			exit0 = sc
		}
	}
	for _, r := range runners {
		b.Run(r.name, func(b *testing.B) {
			r.check(b)
			s := exit0.spec()
			for i := 0; i < b.N; i++ {
				res, err := r.run(b, s)
				if err != nil || res.poweredOff || res.code != 0 {
					b.Fatalf("run %d: %v, %s\n%s%s", i, err, describeStatus(res), res.out, res.diag)
				}
			}
		})
	}
}
