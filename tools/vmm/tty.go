package vmm

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Terminal is what a writer wrapping a terminal (such as unigo run's
// filter of control characters) implements to say so.
type Terminal interface{ IsTerminal() bool }

// isTerminal reports whether w is a terminal (the guest console is then
// one too: CRLF output, tty ioctls; see abi.TTYParam).
func isTerminal(w io.Writer) bool {
	if t, ok := w.(Terminal); ok {
		return t.IsTerminal()
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
