// Package hostfs serves a host directory to a guest over 9P: New returns
// a github.com/hugelgupf/p9 Attacher whose files are the directory's tree
// and nothing outside it, for the launcher's virtio-9p device.
//
// Confinement. Every file is held as an O_PATH descriptor, never as a
// path. A walk opens one component at a time relative to its parent's
// descriptor with openat2(2), O_NOFOLLOW and RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, so "..", a symlink (inside
// or pointing out, relative or absolute) or a directory swapped for a
// symlink by a racing host process never leads out of the tree: symlinks
// are only ever read (Readlink), not followed; the guest's own file server
// resolves them inside its mount. Entries are created, linked, renamed and
// removed with the *at system calls relative to the parent's descriptor,
// with a single-component name. Opening a file for I/O reopens its O_PATH
// descriptor through /proc/self/fd, which names the object already reached
// and cannot resolve anywhere else; only regular files and directories
// are opened (a FIFO or device node in the tree is ENXIO), so no guest
// request can block the server on a host pipe or reach a host device.
//
// The guest sets no set-user-ID or set-group-ID bit on a host file and
// changes no host owner (EPERM): a launcher running as root must not let
// it plant privileged programs on the host.
//
// A read-only tree refuses every change (create, write-open, truncate,
// setattr, mkdir, symlink, link, rename, unlink, mknod) with EROFS. FSync
// is fsync(2) on the host descriptor; host errors such as ENOSPC or EDQUOT
// reach the guest unchanged. The number of descriptors one tree holds is
// capped (ENFILE beyond), so a guest cannot exhaust the launcher's.
package hostfs
