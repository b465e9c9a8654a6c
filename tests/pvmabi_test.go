package tests

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/probe"
)

// TestPVMParavirt checks the kernel's detection of PVM's paravirtual
// interface (kernel/host.go pvmParavirt, printed as pvm-abi=) against the
// host: under the launcher the guest finds it exactly when the host's KVM
// module implements it (probe: a vCPU has MSR_PVM_VCPU_STRUCT); QEMU never
// offers it. The PVM module on this project's hosts does not, so there the
// kernel keeps today's path everywhere (pvm-abi=0).
func TestPVMParavirt(t *testing.T) {
	forBootRunners(t, func(t *testing.T, r runner) {
		res, err := r.run(t, runSpec{image: images["./examples/hello"], memory: "128M", cpus: 1,
			timeout: 30 * time.Second, kparams: []string{probe.GuestCPUParam}})
		require.NoError(t, err)
		require.Equal(t, 0, res.code, "output:\n%s", res.out)
		g, ok, err := probe.FindGuestCPU(res.out)
		require.NoError(t, err)
		require.True(t, ok, "no cpu line in:\n%s", res.out)
		t.Logf("%s; host /dev/kvm: %s", g, host().KVM)
		want := 0
		if r.name == "launcher" && host().KVM.PVMABI {
			want = 1
		}
		assert.Equal(t, want, g.PVMABI)
	})
}
