package launch

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapImage maps the image file read-only and private instead of reading it
// into the heap: the launcher only reads it (ELF headers, the segments it
// copies into guest RAM, the symbol table for -net auto-detection and
// crash reports), so its pages stay file-backed and shared with the page
// cache, and the Go heap stays small enough that no collection runs
// before the first KVM_RUN. A file that cannot be mapped (empty, a pipe,
// /proc) is read as before. release unmaps it; call it after the last use
// of the slice (after vmm.VM.Close, which may still symbolize a crash).
// evict drops the mapping's pages from the process once the image is
// loaded into guest RAM (they stay in the page cache; a crash report reads
// them back), so they do not count in the launcher's RSS. A mapped image
// comes with its open file, for vmm.Config.ImageFile (closed by release);
// a read one with a nil file.
func mapImage(path string) (image []byte, file *os.File, evict, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return mapImageFile(f, path)
}

// mapImageFile is mapImage for the image already open as f (by the
// jailer), which it takes over.
func mapImageFile(f *os.File, path string) (image []byte, file *os.File, evict, release func(), err error) {
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 && int64(int(fi.Size())) == fi.Size() {
		if b, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_PRIVATE); err == nil {
			return b, f, func() { unix.Madvise(b, unix.MADV_DONTNEED) }, func() { unix.Munmap(b); f.Close() }, nil
		}
	}
	f.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return b, nil, func() {}, func() {}, nil
}
