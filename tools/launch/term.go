package launch

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readerIsTerminal reports whether r is a terminal.
func readerIsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// termSafe writes a guest's console to a terminal with its control
// characters neutralised: every C0 control but newline, tab and carriage
// return, DEL, and the C1 controls (U+0080-U+009F, which a terminal may
// take as CSI and others) become visible caret or \u escapes, so a guest
// cannot drive the terminal (move the cursor, set the title, answer-back
// sequences, ...). Not safe for concurrent use; the UART serialises.
type termSafe struct {
	w      io.Writer
	pendC2 bool // the previous Write ended with 0xC2
	buf    []byte
}

// IsTerminal tells vmm.New that the guest's console is a terminal
// (vmm.Terminal).
func (t *termSafe) IsTerminal() bool { return true }

func (t *termSafe) Write(p []byte) (int, error) {
	b := t.buf[:0]
	for i := 0; i < len(p); i++ {
		c := p[i]
		if t.pendC2 {
			t.pendC2 = false
			if c >= 0x80 && c <= 0x9f {
				b = append(b, '\\', 'u', '0', '0', hex(c>>4), hex(c&15))
				continue
			}
			b = append(b, 0xC2)
		}
		switch {
		case c == 0xC2:
			t.pendC2 = true
		case c == '\n' || c == '\t' || c == '\r':
			b = append(b, c)
		case c < 0x20:
			b = append(b, '^', c+'@')
		case c == 0x7f:
			b = append(b, '^', '?')
		default:
			b = append(b, c)
		}
	}
	t.buf = b
	if _, err := t.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

func hex(n byte) byte { return "0123456789abcdef"[n] }

// flush writes a 0xC2 held back at the end of the output.
func (t *termSafe) flush() {
	if t.pendC2 {
		t.pendC2 = false
		t.w.Write([]byte{0xC2})
	}
}
