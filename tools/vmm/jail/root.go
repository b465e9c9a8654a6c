package jail

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// RootMount is the directory the empty root is mounted on before the
// launcher pivots into it: any directory will do, since the mount lives
// only in the launcher's own mount namespace.
const RootMount = "/tmp"

// RootOptions say what the empty root holds.
type RootOptions struct {
	// Proc mounts a procfs of the launcher's PID namespace at /proc:
	// the volumes' file server reopens the descriptors it holds through
	// /proc/self/fd.
	Proc bool
	// Files are host files bound read-only at the same path (the
	// user-mode network's /etc/resolv.conf); a missing one is skipped.
	Files []string
}

// EnterRoot moves the launcher, which must be root in a mount namespace
// of its own (the jailer's CLONE_NEWNS), into an empty read-only root: a
// small tmpfs becomes "/" by pivot_root and the host's tree is detached,
// so that only the descriptors already open reach host files. Threads
// share their root (Go starts them with CLONE_FS), so it holds for all.
func EnterRoot(o RootOptions) error {
	// Nothing mounted here may propagate to the host's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("jail: make mounts private: %w", err)
	}
	dir := RootMount
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=64k,nr_inodes=64,mode=0755"); err != nil {
		return fmt.Errorf("jail: mount the empty root on %s: %w", dir, err)
	}
	for _, f := range o.Files {
		if _, err := os.Stat(f); err != nil {
			continue
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("jail: %w", err)
		}
		if err := os.WriteFile(dst, nil, 0o444); err != nil {
			return fmt.Errorf("jail: %w", err)
		}
		if err := unix.Mount(f, dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("jail: bind %s: %w", f, err)
		}
		if err := unix.Mount("", dst, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("jail: bind %s read-only: %w", f, err)
		}
	}
	if o.Proc {
		p := filepath.Join(dir, "proc")
		if err := os.Mkdir(p, 0o555); err != nil {
			return fmt.Errorf("jail: %w", err)
		}
		if err := unix.Mount("proc", p, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return fmt.Errorf("jail: mount /proc: %w", err)
		}
	}
	// pivot_root(".", "."): the old root ends up stacked on the new one,
	// and detaching it leaves the new root alone.
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("jail: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("jail: pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("jail: detach the host's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("jail: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("jail: remount the root read-only: %w", err)
	}
	return nil
}

// Check makes a call outside the allowlist (getppid, which cannot fail
// otherwise) and reports an error unless the filter refused it with EPERM.
func Check() error {
	_, _, errno := unix.RawSyscall(unix.SYS_GETPPID, 0, 0, 0)
	if errno != unix.EPERM {
		return errors.New("jail: the seccomp filter is not in force (getppid was not refused)")
	}
	return nil
}
