package vmm

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

// dumpOf runs Dump into a string.
func dumpOf(t *testing.T, v *VM) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, v.Dump(&b))
	return b.String()
}

// A spinning guest is dumped on every vCPU, twice (it resumes in between),
// and then stops as usual.
func TestDump(t *testing.T) {
	needKVM(t)
	spin := []byte{0xEB, 0xFE} // jmp .
	v, err := New(Config{Image: testguest.Image(spin), MemSize: 16 << 20, VCPUs: 2})
	require.NoError(t, err)
	defer v.Close()
	done := make(chan Result)
	go func() { done <- v.Run() }()
	time.Sleep(50 * time.Millisecond)
	for i := 0; i < 2; i++ {
		d := dumpOf(t, v)
		assert.Contains(t, d, "unigo: guest state, 2 vCPU(s)")
		assert.Contains(t, d, "vCPU 0: 0x100000 ? at CPL 0")
		assert.Contains(t, d, "rip 0x0000000000100000")
		assert.Contains(t, d, "=> 0x100000")
		assert.Contains(t, d, "jmp")
		assert.Contains(t, d, "vCPU 1: ")
		assert.Contains(t, d, "not started (waiting for INIT-SIPI)")
		// The image has no symbol table, so no trace ring to find.
		assert.Contains(t, d, "(none: the image has no github.com/unigo-os/unigo/kernel.traceBuf)")
	}
	v.Stop(Result{Reason: Stopped, Code: 124})
	select {
	case r := <-done:
		assert.Equal(t, Stopped, r.Reason)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
	require.NoError(t, v.Close())
	assert.Equal(t, "unigo: no dump: the VM is closed\n", dumpOf(t, v))
}

// blockedWriter blocks every write until release is closed.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

// A vCPU whose thread is stuck outside KVM_RUN (here writing the console)
// is reported after DumpWait instead of hanging the dump.
func TestDumpStuckThread(t *testing.T) {
	needKVM(t)
	w := blockedWriter{release: make(chan struct{})}
	v, err := New(Config{Image: testguest.Image(testguest.Hello()), MemSize: 16 << 20, Stdout: w})
	require.NoError(t, err)
	defer v.Close()
	done := make(chan Result)
	go func() { done <- v.Run() }()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	d := dumpOf(t, v)
	assert.Less(t, time.Since(start), DumpWait+2*time.Second)
	assert.GreaterOrEqual(t, time.Since(start), DumpWait)
	assert.Contains(t, d, "vCPU 0: did not stop within 1s")
	close(w.release)
	select {
	case r := <-done:
		assert.Equal(t, GuestExit, r.Reason)
		assert.EqualValues(t, 7, r.Code)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}
