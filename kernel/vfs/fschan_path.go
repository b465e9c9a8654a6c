package vfs

// Lexical path work for the file channel (fschan.go): joining a relative
// path to its base and cleaning it, and finding the mount a clean absolute
// path lies in. Pure functions over byte slices, tested on the host.

// fsJoinClean writes the clean absolute form of path into dst: path
// itself if it is absolute, else base (a clean absolute path) joined with
// it; "." and empty components are dropped, ".." removes the component
// before it (none at the root). It returns the length, or -1 if dst is too
// small.
func fsJoinClean(dst, base, path []byte) int {
	if len(dst) < 1 {
		return -1
	}
	dst[0] = '/'
	n := 1
	if len(path) == 0 || path[0] != '/' {
		if n = fsAppendClean(dst, n, base); n < 0 {
			return -1
		}
	}
	return fsAppendClean(dst, n, path)
}

// fsAppendClean appends path's components to the clean path dst[:n].
func fsAppendClean(dst []byte, n int, path []byte) int {
	for i := 0; i < len(path); {
		for i < len(path) && path[i] == '/' {
			i++
		}
		j := i
		for j < len(path) && path[j] != '/' {
			j++
		}
		c := path[i:j]
		i = j
		switch {
		case len(c) == 0 || len(c) == 1 && c[0] == '.':
		case len(c) == 2 && c[0] == '.' && c[1] == '.':
			for n > 1 && dst[n-1] != '/' {
				n--
			}
			if n > 1 {
				n-- // the slash before the removed component
			}
		default:
			need := len(c)
			if n > 1 {
				need++
			}
			if n+need > len(dst) {
				return -1
			}
			if n > 1 {
				dst[n] = '/'
				n++
			}
			n += copy(dst[n:], c)
		}
	}
	return n
}

// fsUnder reports whether the clean absolute path abs is mount point mp
// or lies beneath it, and returns the rest of abs (no leading slash; empty
// for mp itself).
func fsUnder(abs, mp []byte) ([]byte, bool) {
	if len(abs) < len(mp) || string(abs[:len(mp)]) != string(mp) {
		return nil, false
	}
	if len(abs) == len(mp) {
		return abs[len(abs):], true
	}
	if abs[len(mp)] != '/' {
		return nil, false
	}
	return abs[len(mp)+1:], true
}
