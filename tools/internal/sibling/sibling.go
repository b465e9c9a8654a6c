// Package sibling finds the programs installed next to the running one:
// `make build` puts unigo, unigo-vmm and unigo-net in one directory, and
// each finds the next by its name there, never through PATH.
package sibling

import (
	"fmt"
	"os"
	"path/filepath"
)

// Path returns the path of the executable file name in the directory of
// the running program, or an error naming both when there is none.
func Path(name string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(self), name)
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("no %s next to %s", name, self)
	}
	return p, nil
}
