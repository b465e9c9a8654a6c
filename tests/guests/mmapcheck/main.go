// Command mmapcheck checks file mappings against the file's contents
// through syscall.Mmap: a write through the descriptor is seen through a
// shared mapping and the other way round, a private mapping's writes stay
// private, ftruncate shrinks what may be touched (SIGBUS beyond the end,
// caught as a Go fault), mmap's argument checks answer Linux's errno, and
// an unlinked file lives while mapped. It prints "mmapcheck: ok", or the
// first failed check and exits 1.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"unsafe"
)

const pg = 4096

// sink keeps loads that should fault from being optimised away.
var sink byte

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mmapcheck:", err)
		os.Exit(1)
	}
	fmt.Println("mmapcheck: ok")
}

func run() error {
	dir, err := os.MkdirTemp("", "unigo-mmapcheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	f, err := os.OpenFile(dir+"/data", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := f.Truncate(4 * pg); err != nil {
		return err
	}

	shared, err := syscall.Mmap(fd, 0, 4*pg, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap shared: %w", err)
	}
	// fd -> mapping.
	if _, err := f.WriteAt([]byte("written via fd"), pg+10); err != nil {
		return err
	}
	if got := string(shared[pg+10 : pg+24]); got != "written via fd" {
		return fmt.Errorf("mapping after pwrite: %q", got)
	}
	// mapping -> fd.
	copy(shared[3*pg:], "written via mapping")
	buf := make([]byte, 19)
	if _, err := f.ReadAt(buf, 3*pg); err != nil || string(buf) != "written via mapping" {
		return fmt.Errorf("pread after store: %q, %v", buf, err)
	}
	fmt.Println("mmapcheck: shared coherence ok")

	// Private: sees the file until written, then keeps its own copy.
	private, err := syscall.Mmap(fd, 0, 4*pg, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return fmt.Errorf("mmap private: %w", err)
	}
	if got := string(private[pg+10 : pg+24]); got != "written via fd" {
		return fmt.Errorf("private mapping reads %q", got)
	}
	copy(private[pg+10:], "PRIVATE")
	if _, err := f.ReadAt(buf[:14], pg+10); err != nil || string(buf[:14]) != "written via fd" {
		return fmt.Errorf("private store reached the file: %q, %v", buf[:14], err)
	}
	if got := string(shared[pg+10 : pg+17]); got != "written" {
		return fmt.Errorf("private store reached the shared mapping: %q", got)
	}
	// MADV_DONTNEED drops the private copy: the file shows again.
	if err := syscall.Madvise(private, 4 /* MADV_DONTNEED */); err != nil {
		return fmt.Errorf("madvise: %w", err)
	}
	if got := string(private[pg+10 : pg+24]); got != "written via fd" {
		return fmt.Errorf("private after MADV_DONTNEED reads %q", got)
	}
	fmt.Println("mmapcheck: private copy-on-write ok")

	// mprotect read-only, then back; msync.
	if err := syscall.Mprotect(shared[:pg], syscall.PROT_READ); err != nil {
		return fmt.Errorf("mprotect: %w", err)
	}
	if err := faults(func() { shared[0] = 1 }); err == nil {
		return errors.New("store to a PROT_READ mapping did not fault")
	}
	if err := syscall.Mprotect(shared[:pg], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
		return fmt.Errorf("mprotect back: %w", err)
	}
	shared[0] = 'A'
	if _, _, e := syscall.Syscall(syscall.SYS_MSYNC, sliceAddr(shared), 4*pg, 4|2 /* MS_SYNC|MS_INVALIDATE */); e != 0 {
		return fmt.Errorf("msync: %v", e)
	}
	if _, err := f.ReadAt(buf[:1], 0); err != nil || buf[0] != 'A' {
		return fmt.Errorf("pread after mprotect and store: %q, %v", buf[:1], err)
	}
	fmt.Println("mmapcheck: mprotect and msync ok")

	// Shrink to 1.5 pages: the tail of page 1 reads as zeros, page 2 on
	// is beyond the end (SIGBUS); growing again shows zeros.
	if err := f.Truncate(pg + pg/2); err != nil {
		return err
	}
	if shared[pg+10] != 'w' || shared[pg+pg/2] != 0 {
		return fmt.Errorf("after shrink: page 1 %q, tail %d", shared[pg+10], shared[pg+pg/2])
	}
	if err := faults(func() { sink = shared[3*pg] }); err == nil {
		return errors.New("read beyond the end of the file did not fault")
	} else {
		fmt.Println("mmapcheck: beyond EOF:", err)
	}
	if err := faults(func() { sink = private[3*pg] }); err == nil {
		return errors.New("private read beyond the end of the file did not fault")
	}
	if err := f.Truncate(4 * pg); err != nil {
		return err
	}
	if shared[3*pg] != 0 || private[3*pg] != 0 {
		return fmt.Errorf("after regrow: %d %d, want zeros", shared[3*pg], private[3*pg])
	}
	shared[3*pg] = 'Z'
	if _, err := f.ReadAt(buf[:1], 3*pg); err != nil || buf[0] != 'Z' {
		return fmt.Errorf("pread after regrow and store: %q, %v", buf[:1], err)
	}
	fmt.Println("mmapcheck: ftruncate ok")

	if err := syscall.Munmap(private); err != nil {
		return err
	}
	// An unlinked, closed file lives while mapped.
	if err := os.Remove(dir + "/data"); err != nil {
		return err
	}
	f.Close()
	copy(shared[2*pg:], "still here")
	if !bytes.Equal(shared[2*pg:2*pg+10], []byte("still here")) || shared[pg+10] != 'w' {
		return errors.New("mapping of an unlinked, closed file lost its data")
	}
	if err := syscall.Munmap(shared); err != nil {
		return err
	}
	fmt.Println("mmapcheck: unlinked file ok")
	if err := checkConcurrent(dir); err != nil {
		return err
	}
	if err := checkHuge(); err != nil {
		return err
	}
	return checkErrors(dir)
}

// checkHuge fills a 16 MiB anonymous mapping upwards (the unigo kernel
// maps it with 2 MiB pages after its first 2 MiB, and the range advised
// MADV_HUGEPAGE with one at once), then cuts into 2 MiB pages: munmap of
// one page, mprotect of another, MADV_DONTNEED of 64 KiB. Every other
// byte keeps its value, the released range reads as zeros, the unmapped
// page and writes to the read-only one fault.
func checkHuge() error {
	const size = 16 << 20
	m, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return fmt.Errorf("mmap 16 MiB: %w", err)
	}
	if err := syscall.Madvise(m[10<<20:12<<20], 14 /* MADV_HUGEPAGE */); err != nil && err != syscall.EINVAL {
		return fmt.Errorf("madvise MADV_HUGEPAGE: %w", err)
	}
	for i := 0; i < size; i += pg {
		m[i], m[i+pg-1] = byte(i/pg), byte(i/pg)+1
	}
	hole, ro, dn := 4<<20+5*pg, 6<<20+7*pg, 8<<20+16*pg
	if err := munmap(m[hole : hole+pg]); err != nil {
		return fmt.Errorf("munmap inside a 2 MiB page: %w", err)
	}
	if err := syscall.Mprotect(m[ro:ro+pg], syscall.PROT_READ); err != nil {
		return fmt.Errorf("mprotect inside a 2 MiB page: %w", err)
	}
	if err := syscall.Madvise(m[dn:dn+16*pg], 4 /* MADV_DONTNEED */); err != nil {
		return fmt.Errorf("MADV_DONTNEED inside a 2 MiB page: %w", err)
	}
	if err := syscall.Madvise(m[10<<20+pg:10<<20+2*pg], 4 /* MADV_DONTNEED */); err != nil {
		return fmt.Errorf("MADV_DONTNEED inside an advised 2 MiB page: %w", err)
	}
	for i := 0; i < size; i += pg {
		var want0, want1 byte
		switch {
		case i == hole:
			if err := faults(func() { sink = m[i] }); err == nil {
				return fmt.Errorf("page %d: readable after munmap", i/pg)
			}
			continue
		case i >= dn && i < dn+16*pg, i == 10<<20+pg:
		default:
			want0, want1 = byte(i/pg), byte(i/pg)+1
		}
		if m[i] != want0 || m[i+pg-1] != want1 {
			return fmt.Errorf("page %d: %d, %d, want %d, %d", i/pg, m[i], m[i+pg-1], want0, want1)
		}
	}
	if err := faults(func() { m[ro] = 1 }); err == nil {
		return fmt.Errorf("write to a page made read-only inside a 2 MiB page")
	}
	if err := checkProtNone(m[ro+2*pg:ro+3*pg], m[12<<20:14<<20]); err != nil {
		return err
	}
	m[ro-pg], m[ro+pg], m[dn] = 7, 7, 7
	if err := munmap(m[:hole]); err != nil {
		return err
	}
	if err := munmap(m[hole+pg:]); err != nil {
		return err
	}
	fmt.Println("mmapcheck: huge pages ok")
	return nil
}

// checkProtNone makes pages the program has already touched PROT_NONE (a
// 4 KiB page and a whole 2 MiB one): reading them faults, a system call
// reading them gets EFAULT, and PROT_READ|PROT_WRITE gives the contents
// back.
func checkProtNone(spans ...[]byte) error {
	for _, b := range spans {
		was := b[0]
		if err := syscall.Mprotect(b, syscall.PROT_NONE); err != nil {
			return fmt.Errorf("mprotect PROT_NONE: %w", err)
		}
		if err := faults(func() { sink = b[0] }); err == nil {
			return fmt.Errorf("PROT_NONE page of %d bytes still readable", len(b))
		}
		if _, err := syscall.Write(1, b[:1]); err != syscall.EFAULT {
			return fmt.Errorf("write(2) from a PROT_NONE page: %v, want EFAULT", err)
		}
		if err := syscall.Mprotect(b, syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return fmt.Errorf("mprotect back: %w", err)
		}
		if b[0] != was {
			return fmt.Errorf("PROT_NONE and back lost the page's contents: %d, want %d", b[0], was)
		}
	}
	return nil
}

// checkConcurrent has goroutines (on every CPU the VM has) store through a
// shared mapping and read back with pread, and copy-on-write one private
// page at once, while another drops the private copies with
// MADV_DONTNEED.
func checkConcurrent(dir string) error {
	const workers, rounds = 4, 300
	f, err := os.OpenFile(dir+"/conc", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate((workers + 1) * pg); err != nil {
		return err
	}
	shared, err := syscall.Mmap(int(f.Fd()), 0, (workers+1)*pg, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return err
	}
	defer syscall.Munmap(shared)
	private, err := syscall.Mmap(int(f.Fd()), 0, (workers+1)*pg, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return err
	}
	defer syscall.Munmap(private)
	errs := make(chan error, workers+1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				errs <- nil
				return
			default:
			}
			if err := syscall.Madvise(private[workers*pg:], 4 /* MADV_DONTNEED */); err != nil {
				errs <- err
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 8)
			for r := 0; r < rounds; r++ {
				v := fmt.Appendf(nil, "%d:%05d", w, r)[:7]
				copy(shared[w*pg+r%pg:], v)
				if _, err := f.ReadAt(buf[:7], int64(w*pg+r%pg)); err != nil || string(buf[:7]) != string(v) {
					errs <- fmt.Errorf("worker %d round %d: pread %q, %v, want %q", w, r, buf[:7], err, v)
					return
				}
				// Every worker writes the same private page: each
				// store lands in a copy, never in the file.
				private[workers*pg+w] = byte(r)
				_ = private[w*pg]
			}
			errs <- nil
		}()
	}
	wg.Wait()
	close(done)
	for i := 0; i < workers+1; i++ {
		if err := <-errs; err != nil {
			return err
		}
	}
	last := make([]byte, pg)
	if _, err := f.ReadAt(last, workers*pg); err != nil {
		return err
	}
	if !bytes.Equal(last, make([]byte, pg)) {
		return errors.New("private stores reached the file")
	}
	fmt.Printf("mmapcheck: concurrent ok (%d CPUs)\n", runtime.NumCPU())
	return nil
}

// checkErrors checks mmap's errno for bad arguments.
func checkErrors(dir string) error {
	ro, err := os.OpenFile(dir+"/ro", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	ro.Truncate(pg)
	ro.Close()
	ro, err = os.Open(dir + "/ro")
	if err != nil {
		return err
	}
	defer ro.Close()
	want := func(what string, err, want error) error {
		if !errors.Is(err, want) {
			return fmt.Errorf("%s: got %v, want %v", what, err, want)
		}
		return nil
	}
	_, err = syscall.Mmap(int(ro.Fd()), 0, pg, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err := want("O_RDONLY, PROT_WRITE, MAP_SHARED", err, syscall.EACCES); err != nil {
		return err
	}
	m, err := syscall.Mmap(int(ro.Fd()), 0, pg, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("O_RDONLY, PROT_READ, MAP_SHARED: %w", err)
	}
	err = syscall.Mprotect(m, syscall.PROT_READ|syscall.PROT_WRITE)
	if err := want("mprotect PROT_WRITE of a read-only shared mapping", err, syscall.EACCES); err != nil {
		return err
	}
	syscall.Munmap(m)
	m, err = syscall.Mmap(int(ro.Fd()), 0, pg, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE)
	if err != nil {
		return fmt.Errorf("O_RDONLY, PROT_WRITE, MAP_PRIVATE: %w", err)
	}
	m[0] = 1
	syscall.Munmap(m)
	_, err = syscall.Mmap(int(ro.Fd()), 100, pg, syscall.PROT_READ, syscall.MAP_SHARED)
	if err := want("unaligned offset", err, syscall.EINVAL); err != nil {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	defer w.Close()
	_, err = syscall.Mmap(int(r.Fd()), 0, pg, syscall.PROT_READ, syscall.MAP_SHARED)
	if err := want("pipe", err, syscall.ENODEV); err != nil {
		return err
	}
	_, err = syscall.Mmap(-1, 0, pg, syscall.PROT_READ, syscall.MAP_SHARED)
	if err := want("bad fd", err, syscall.EBADF); err != nil {
		return err
	}
	fmt.Println("mmapcheck: errors ok")
	return nil
}

// faults runs fn and returns the runtime error of the memory fault it
// causes, or nil.
func faults(fn func()) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	fn()
	return nil
}

func sliceAddr(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

// munmap unmaps part of a mapping (syscall.Munmap takes whole ones only).
func munmap(b []byte) error {
	if _, _, e := syscall.Syscall(syscall.SYS_MUNMAP, sliceAddr(b), uintptr(len(b)), 0); e != 0 {
		return e
	}
	return nil
}
