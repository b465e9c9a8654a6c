// Command fsmount mounts an in-memory fsserve.FS at /mnt and works on it
// with ordinary os calls: the end-to-end test of the kernel's file
// channel (the kernel forwards the calls to fsserve's goroutines).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/unigo-os/unigo/drivers/fsserve"
)

func check(what string, err error) {
	if err != nil {
		fmt.Printf("fsmount: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func want(what string, ok bool) {
	if !ok {
		fmt.Printf("fsmount: %s: wrong\n", what)
		os.Exit(1)
	}
}

func main() {
	check("mount", fsserve.Mount("/mnt", fsserve.NewMemFS(), false))

	// Files: create, write, read back, stat, seek, truncate, sync.
	data := bytes.Repeat([]byte("0123456789"), 1000)
	check("write", os.WriteFile("/mnt/a.txt", data, 0o640))
	got, err := os.ReadFile("/mnt/a.txt")
	check("read", err)
	want("read back", bytes.Equal(got, data))
	st, err := os.Stat("/mnt/a.txt")
	check("stat", err)
	want("stat size", st.Size() == int64(len(data)) && st.Mode().IsRegular() && st.Mode().Perm() == 0o640)
	f, err := os.OpenFile("/mnt/a.txt", os.O_RDWR|os.O_APPEND, 0)
	check("open", err)
	_, err = f.Write([]byte("END"))
	check("append", err)
	end, err := f.Seek(0, io.SeekEnd)
	check("seek", err)
	want("seek end", end == int64(len(data))+3)
	b := make([]byte, 3)
	_, err = f.ReadAt(b, end-3)
	check("pread", err)
	want("pread", string(b) == "END")
	check("sync", f.Sync())
	check("truncate", f.Truncate(5))
	fi, err := f.Stat()
	check("fstat", err)
	want("fstat size", fi.Size() == 5)
	check("close", f.Close())
	check("chmod", os.Chmod("/mnt/a.txt", 0o600))
	st, err = os.Stat("/mnt/a.txt")
	check("stat", err)
	want("chmod", st.Mode().Perm() == 0o600)
	mt := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	check("chtimes", os.Chtimes("/mnt/a.txt", mt, mt))
	check("truncate by path", os.Truncate("/mnt/a.txt", 3))
	check("access", syscall.Access("/mnt/a.txt", 4))
	st, err = os.Stat("/mnt/a.txt")
	check("stat", err)
	want(fmt.Sprintf("chtimes %v, truncate %d", st.ModTime(), st.Size()), st.Size() == 3)
	check("chtimes again", os.Chtimes("/mnt/a.txt", mt, mt))
	st, err = os.Stat("/mnt/a.txt")
	check("stat", err)
	want(fmt.Sprintf("mtime %v", st.ModTime()), st.ModTime().Equal(mt))
	fmt.Println("fsmount: files ok")

	// Directories: mkdir, readdir, rename (EXDEV out of the mount),
	// unlink, rmdir.
	check("mkdir", os.Mkdir("/mnt/d", 0o755))
	check("write b", os.WriteFile("/mnt/d/b", []byte("bee"), 0o644))
	check("rename", os.Rename("/mnt/a.txt", "/mnt/d/c.txt"))
	_, err = os.Stat("/mnt/a.txt")
	want("renamed away", errors.Is(err, os.ErrNotExist))
	ents, err := os.ReadDir("/mnt/d")
	check("readdir", err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	want(fmt.Sprintf("readdir %v", names), slices.Equal(names, []string{"b", "c.txt"}))
	err = os.Rename("/mnt/d/b", "/tmp/b")
	want(fmt.Sprintf("rename across: %v", err), errors.Is(err, syscall.EXDEV))
	err = os.Remove("/mnt/d")
	want(fmt.Sprintf("rmdir non-empty: %v", err), errors.Is(err, syscall.ENOTEMPTY))
	check("remove", os.Remove("/mnt/d/c.txt"))
	fmt.Println("fsmount: directories ok")

	// Working directory inside the mount, relative paths.
	check("chdir", os.Chdir("/mnt/d"))
	wd, err := syscall.Getwd()
	check("getwd", err)
	want("getwd "+wd, wd == "/mnt/d")
	got, err = os.ReadFile("b")
	check("relative read", err)
	want("relative read", string(got) == "bee")
	got, err = os.ReadFile("../../etc/hostname")
	want(fmt.Sprintf("leaving the mount by ..: %v", err), err != nil)
	check("chdir back", os.Chdir("/"))
	_, err = os.ReadFile("etc/hostname")
	check("read after chdir back", err)
	fmt.Println("fsmount: chdir ok")

	// Symlinks stay inside the mount.
	check("symlink", os.Symlink("../../../../etc/hostname", "/mnt/esc"))
	_, err = os.ReadFile("/mnt/esc")
	want(fmt.Sprintf("escape by ..: %v", err), errors.Is(err, os.ErrNotExist))
	check("symlink abs", os.Symlink("/d/b", "/mnt/abs"))
	got, err = os.ReadFile("/mnt/abs")
	check("read through absolute symlink", err)
	want("absolute symlink from the mount's root", string(got) == "bee")
	target, err := os.Readlink("/mnt/esc")
	check("readlink", err)
	want("readlink", target == "../../../../etc/hostname")
	lst, err := os.Lstat("/mnt/abs")
	check("lstat", err)
	want("lstat", lst.Mode()&os.ModeSymlink != 0)
	check("link", os.Link("/mnt/d/b", "/mnt/b2"))
	got, err = os.ReadFile("/mnt/b2")
	want("hard link", err == nil && string(got) == "bee")
	fmt.Println("fsmount: symlinks ok")

	// Many goroutines doing I/O at once.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("/mnt/par%d", i)
			want := bytes.Repeat([]byte{byte('a' + i)}, 4096+i)
			for j := 0; j < 20; j++ {
				if err := os.WriteFile(name, want, 0o644); err != nil {
					errs <- err
					return
				}
				got, err := os.ReadFile(name)
				if err != nil || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("%s: %v (%d bytes)", name, err, len(got))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check("concurrent I/O", err)
	}
	fmt.Println("fsmount: concurrent ok")

	// A read-only mount.
	ro := fsserve.NewMemFS()
	check("mount ro", fsserve.Mount("/ro", ro, true))
	err = os.WriteFile("/ro/x", []byte("x"), 0o644)
	want(fmt.Sprintf("write to read-only: %v", err), errors.Is(err, syscall.EROFS))
	err = os.Mkdir("/ro/d", 0o755)
	want(fmt.Sprintf("mkdir on read-only: %v", err), errors.Is(err, syscall.EROFS))
	var sfs syscall.Statfs_t
	check("statfs", syscall.Statfs("/ro", &sfs))
	want("statfs read-only flag", sfs.Flags&1 != 0)
	fmt.Println("fsmount: read-only ok")

	// One request's round trip: stat through the channel.
	const n = 2000
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := os.Stat("/mnt/b2"); err != nil {
			check("stat", err)
		}
	}
	fmt.Printf("fsmount: %d stats in %v (%v each)\n", n, time.Since(start).Round(time.Microsecond), (time.Since(start) / n).Round(time.Microsecond/10))

	check("removeall", os.RemoveAll("/mnt/d"))
	fmt.Println("fsmount: ok")
}
