// Command exe reads its own executable: os.Executable(), the file's size
// and SHA-256 (which the test compares with the image on the host), and
// debug/buildinfo.ReadFile; in the guest it is /init, read-only.
package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"

	"github.com/unigo-os/unigo/rt"
)

func check(what string, err error) {
	if err != nil {
		fmt.Printf("exe: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	path, err := os.Executable()
	check("os.Executable", err)
	f, err := os.Open(path)
	check("open", err)
	fi, err := f.Stat()
	check("stat", err)
	h := sha256.New()
	n, err := io.Copy(h, f)
	check("read", err)
	f.Close()
	if n != fi.Size() {
		fmt.Printf("exe: read %d bytes, stat says %d\n", n, fi.Size())
		os.Exit(1)
	}
	fmt.Printf("exe: size %d sha256 %x\n", n, h.Sum(nil))
	bi, err := buildinfo.ReadFile(path)
	check("buildinfo", err)
	fmt.Printf("exe: buildinfo %s %s\n", bi.Path, bi.GoVersion)
	b, err := os.ReadFile("/proc/self/exe")
	check("read /proc/self/exe", err)
	if int64(len(b)) != n {
		fmt.Printf("exe: /proc/self/exe holds %d bytes\n", len(b))
		os.Exit(1)
	}
	if !rt.Booted() {
		fmt.Println("exe: native")
	} else if path != "/init" {
		fmt.Printf("exe: os.Executable() = %q, want /init\n", path)
		os.Exit(1)
	} else {
		// In the guest the file is read-only, whoever opens it.
		if w, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			_, err = w.Write([]byte("x"))
			w.Close()
			if err == nil {
				fmt.Println("exe: writing the executable succeeded")
				os.Exit(1)
			}
		}
		fmt.Println("exe: read-only ok")
	}
	fmt.Println("exe: ok")
}
