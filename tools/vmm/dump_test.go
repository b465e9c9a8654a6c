package vmm

import (
	"regexp"
	"strconv"
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

// A vCPU whose thread is stuck outside KVM_RUN (here writing more than the
// UART's FIFO takes while the host's stdout does not drain) is reported
// after DumpWait instead of hanging the dump.
func TestDumpStuckThread(t *testing.T) {
	needKVM(t)
	w := blockedWriter{release: make(chan struct{})}
	code := []byte{
		0xB9, 0x00, 0x00, 0x01, 0x00, // mov ecx, 0x10000
		0x66, 0xBA, 0xF8, 0x03, // mov dx, 0x3f8
		0xB0, 'x', // mov al, 'x'
		0xEE,       // 1: out dx, al
		0xE2, 0xFD, // loop 1b
		0xB8, 0x07, 0x00, 0x00, 0x00, // mov eax, 7
	}
	code = append(code, testguest.ExitWithEAX()...)
	v, err := New(Config{Image: testguest.Image(code), MemSize: 16 << 20, Stdout: w})
	require.NoError(t, err)
	defer v.Close()
	done := make(chan Result)
	go func() { done <- v.Run() }()
	// Dump until the FIFO has filled up and the vCPU waits for room.
	deadline := time.Now().Add(30 * time.Second)
	for {
		start := time.Now()
		d := dumpOf(t, v)
		if strings.Contains(d, "vCPU 0: did not stop within 1s") {
			assert.Less(t, time.Since(start), DumpWait+2*time.Second)
			assert.GreaterOrEqual(t, time.Since(start), DumpWait)
			break
		}
		require.True(t, time.Now().Before(deadline), "the vCPU never got stuck; last dump:\n%s", d)
		time.Sleep(50 * time.Millisecond)
	}
	close(w.release)
	select {
	case r := <-done:
		assert.Equal(t, GuestExit, r.Reason)
		assert.EqualValues(t, 7, r.Code)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

// Dumps taken while the guest does port I/O (an exit to the launcher per
// byte) lose and repeat nothing: the exit a dump interrupts is completed
// first.
func TestDumpDuringIO(t *testing.T) {
	needKVM(t)
	var want strings.Builder
	for want.Len() < 5000 {
		want.WriteString("0123456789abcdefghijklmnopqrstuvwxyz\n")
	}
	var out syncBuf
	v, err := New(Config{Image: testguest.Image(append(testguest.Print(want.String()), testguest.Exit(7)...)),
		MemSize: 16 << 20, Stdout: &out})
	require.NoError(t, err)
	defer v.Close()
	done := make(chan Result)
	go func() { done <- v.Run() }()
	dumps := 0
	for {
		select {
		case r := <-done:
			require.Equal(t, GuestExit, r.Reason, "%v", r.Err)
			assert.EqualValues(t, 7, r.Code)
			assert.Equal(t, want.String(), out.String())
			assert.Positive(t, dumps)
			t.Logf("%d dumps during the output", dumps)
			return
		default:
			if d := dumpOf(t, v); strings.Contains(d, "vCPU 0: 0x") {
				dumps++
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
}

// A dump that interrupts an IN exit shows the instruction completed: past
// the IN means the data is in AL. (Hardware KVM moves RIP past an IN
// before the exit and writes AL when the launcher re-enters; without the
// completion the dump would show RIP past the IN with AL still 0.)
func TestDumpCompletesIN(t *testing.T) {
	needKVM(t)
	// mov dx, COM1+LSR; loop: mov al, 0; in al, dx; jmp loop
	code := []byte{0x66, 0xBA, 0xFD, 0x03, 0xB0, 0x00, 0xEC, 0xEB, 0xFB}
	jmp := uint64(testguest.LoadAddr + 7)
	v, err := New(Config{Image: testguest.Image(code), MemSize: 16 << 20})
	require.NoError(t, err)
	defer v.Close()
	done := make(chan Result)
	go func() { done <- v.Run() }()
	defer func() {
		v.Stop(Result{Reason: Stopped})
		<-done
	}()
	time.Sleep(50 * time.Millisecond)
	ripRe := regexp.MustCompile(`rip 0x([0-9a-f]+)`)
	raxRe := regexp.MustCompile(`rax 0x([0-9a-f]+)`)
	atJmp := 0
	for i := 0; i < 200; i++ {
		d := dumpOf(t, v)
		rip, rax := ripRe.FindStringSubmatch(d), raxRe.FindStringSubmatch(d)
		require.NotNil(t, rip, d)
		require.NotNil(t, rax, d)
		r, _ := strconv.ParseUint(rip[1], 16, 64)
		a, _ := strconv.ParseUint(rax[1], 16, 64)
		if r == jmp {
			atJmp++
			require.EqualValues(t, 0x60, a&0xff, "AL after IN from the LSR (THRE|TEMT):\n%s", d)
		}
	}
	t.Logf("%d of 200 dumps right after the IN", atJmp)
}
