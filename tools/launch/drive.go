package launch

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/unigo-os/unigo/tools/vmm/virtio"
)

// drive is one -drive FILE[:ro]: a host file the guest sees as a
// virtio-blk disk.
type drive struct {
	path string
	ro   bool
}

func parseDrive(s string) (drive, error) {
	d := drive{path: s}
	if p, ok := strings.CutSuffix(s, ":ro"); ok {
		d = drive{path: p, ro: true}
	}
	if d.path == "" {
		return d, errors.New("want FILE or FILE:ro")
	}
	return d, nil
}

// check validates the backing file: it exists, is a regular file (or a
// block device), and is writable unless the drive is read-only.
func (d drive) check() error {
	st, err := os.Stat(d.path)
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err
	}
	if err != nil {
		return fmt.Errorf("-drive %s: %v", d.path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("-drive %s: is a directory, not a disk image", d.path)
	}
	if !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 {
		return fmt.Errorf("-drive %s: not a regular file or a block device", d.path)
	}
	if !d.ro && st.Mode().Perm()&0o222 == 0 {
		return fmt.Errorf("-drive %s: the file is read-only; add :ro to attach it read-only", d.path)
	}
	return nil
}

// openFile checks the backing file and opens it for the launcher, or
// takes it over as f when the jailer opened it (nil: open it here).
func (d drive) openFile(f *os.File) (*virtio.Block, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	var b *virtio.Block
	var err error
	if f != nil {
		b, err = virtio.NewBlockFile(f, d.path, d.ro)
	} else {
		b, err = virtio.OpenBlock(d.path, d.ro)
	}
	if errors.Is(err, os.ErrPermission) && !d.ro {
		return nil, fmt.Errorf("-drive %s: not writable; add :ro to attach it read-only", d.path)
	}
	if err != nil {
		return nil, fmt.Errorf("-drive %s: %v", d.path, unwrapPathError(err))
	}
	return b, nil
}

// qemuArgs maps the drives onto QEMU's options (after check).
func qemuDriveArgs(drives []drive) []string {
	var args []string
	for i, d := range drives {
		spec := fmt.Sprintf("file=%s,format=raw,if=none,id=d%d", strings.ReplaceAll(d.path, ",", ",,"), i)
		if d.ro {
			spec += ",readonly=on"
		}
		args = append(args, "-drive", spec, "-device", fmt.Sprintf("virtio-blk-device,drive=d%d", i))
	}
	return args
}
