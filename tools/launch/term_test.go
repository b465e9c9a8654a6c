package launch

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/unigo-os/unigo/tools/vmm/testguest"
)

func TestTermSafe(t *testing.T) {
	var out bytes.Buffer
	w := &termSafe{w: &out}
	in := "ok\tline\r\n\x1b]0;pwned\x07\x1b[2J\x7f\x00é\u009b31m"
	for i := range len(in) { // byte by byte, as the UART may
		n, err := w.Write([]byte{in[i]})
		require.NoError(t, err)
		assert.Equal(t, 1, n)
	}
	assert.Equal(t, "ok\tline\r\n^[]0;pwned^G^[[2J^?^@é\\u009b31m", out.String())
}

func FuzzTermSafe(f *testing.F) {
	f.Add([]byte("plain\n"))
	f.Add([]byte("\x1b[31mred\x1b[0m\xc2\x9b\xc2"))
	f.Fuzz(func(t *testing.T, p []byte) {
		var out bytes.Buffer
		w := &termSafe{w: &out}
		w.Write(p)
		w.Write([]byte{'x'}) // flush a pending 0xC2
		got := out.Bytes()
		for i, c := range got {
			if c < 0x20 && c != '\n' && c != '\t' && c != '\r' || c == 0x7f {
				t.Fatalf("control byte %#x at %d in %q", c, i, got)
			}
			if c == 0xC2 && i+1 < len(got) && got[i+1] >= 0x80 && got[i+1] <= 0x9f {
				t.Fatalf("C1 control at %d in %q", i, got)
			}
		}
	})
}

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals on this host: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return m, s
}

func TestIsTerminal(t *testing.T) {
	_, s := openPTY(t)
	assert.True(t, isTerminal(s))
	assert.False(t, isTerminal(&bytes.Buffer{}))
	f, err := os.CreateTemp(t.TempDir(), "out")
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f))
}

// TestReaderIsTerminal: only a terminal stdin keeps QEMU's stdin on the
// serial port; a pipe, a file or a reader goes to the virtio port.
func TestReaderIsTerminal(t *testing.T) {
	_, s := openPTY(t)
	assert.True(t, readerIsTerminal(s))
	assert.False(t, readerIsTerminal(strings.NewReader("x")))
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.False(t, readerIsTerminal(r))
}

// TestRunTerminal: on a terminal the guest's escape sequences arrive
// neutralised, with -raw as they are.
func TestRunTerminal(t *testing.T) {
	kvmOK(t)
	img := writeImage(t, append(testguest.Print("\x1b[2Jhi\n"), testguest.Exit(0)...))
	for _, tc := range []struct {
		raw  bool
		want string
	}{{false, "^[[2Jhi\r\n"}, {true, "\x1b[2Jhi\r\n"}} {
		m, s := openPTY(t)
		args := []string{img}
		if tc.raw {
			args = append([]string{"-raw"}, args...)
		}
		var errb bytes.Buffer
		code := runLauncher(args, strings.NewReader(""), s, &errb)
		require.Equal(t, 0, code, errb.String())
		buf := make([]byte, 64)
		m.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := m.Read(buf)
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(buf[:n]), "raw %v", tc.raw)
	}
}
