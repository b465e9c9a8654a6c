package fsserve

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
)

// maxSymlinks is how many symlinks one walk follows before ELOOP, as
// Linux's MAXSYMLINKS.
const maxSymlinks = 40

// Modes of Attr.Mode.
const (
	modeType    = 0o170000
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
	modeBlock   = 0o060000
)

// walk returns the Node at path (relative to root, components separated
// by '/'), following symlinks on the way and, with follow, a final one.
// Symlinks stay inside the tree: an absolute target starts again at the
// root, and ".." at the root stays there. Every Node it opens but does
// not return is closed.
func walk(fsys FS, path string, follow bool) (Node, error) {
	root, err := fsys.Root()
	if err != nil {
		return nil, err
	}
	stack := []Node{root}
	closeAll := func(keep Node) {
		for _, n := range stack {
			if n != keep {
				n.Close()
			}
		}
	}
	todo := splitPath(path)
	links := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack[len(stack)-1].Close()
				stack = stack[:len(stack)-1]
			}
			continue
		}
		top := stack[len(stack)-1]
		child, err := top.Walk(name)
		if err != nil {
			closeAll(nil)
			return nil, err
		}
		if len(todo) > 0 || follow {
			a, err := child.Attr()
			if err != nil {
				child.Close()
				closeAll(nil)
				return nil, err
			}
			if a.Mode&modeType == modeSymlink {
				target, err := child.Readlink()
				child.Close()
				if err != nil {
					closeAll(nil)
					return nil, err
				}
				if links++; links > maxSymlinks {
					closeAll(nil)
					return nil, syscall.ELOOP
				}
				if target == "" {
					closeAll(nil)
					return nil, syscall.ENOENT
				}
				if strings.HasPrefix(target, "/") {
					for _, n := range stack[1:] {
						n.Close()
					}
					stack = stack[:1]
				}
				todo = append(splitPath(target), todo...)
				continue
			}
			if len(todo) > 0 && a.Mode&modeType != modeDir {
				child.Close()
				closeAll(nil)
				return nil, syscall.ENOTDIR
			}
		}
		stack = append(stack, child)
	}
	last := stack[len(stack)-1]
	closeAll(last)
	return last, nil
}

// walkParent returns the directory holding path's last component and
// that component's name. The root has no parent (EBUSY).
func walkParent(fsys FS, path string) (Node, string, error) {
	path = strings.Trim(path, "/")
	if path == "" {
		return nil, "", syscall.EBUSY
	}
	dir, name := "", path
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		dir, name = path[:i], path[i+1:]
	}
	if name == "." || name == ".." {
		return nil, "", syscall.EINVAL
	}
	if len(name) > 255 {
		return nil, "", syscall.ENAMETOOLONG
	}
	d, err := walk(fsys, dir, true)
	if err != nil {
		return nil, "", err
	}
	return d, name, nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// errno maps an FS error to the errno the program sees.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	}
	return syscall.EIO
}
