// Command files checks what `unigo build` puts into an image: the
// directory packed with -files (tests/main_test.go builds it with
// -files tests/guests/files/testdata:/data), the time-zone database and
// CA roots. Natively nothing is unpacked, and /data must not exist.
package main

import (
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/unigo-os/unigo/rt"
)

// isrgRootX1 is Let's Encrypt's root, which the roots must hold.
//
//go:embed isrgrootx1.pem
var isrgRootX1 []byte

func fail(format string, args ...any) {
	fmt.Printf("files: FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func read(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		fail("%v", err)
	}
	return string(b)
}

func checkFiles() {
	if got := read("/data/hello.txt"); got != "hello from the host\n" {
		fail("/data/hello.txt = %q", got)
	}
	if got := read("/data/sub/inner.txt"); got != "inner\n" {
		fail("/data/sub/inner.txt = %q", got)
	}
	if l, err := os.Readlink("/data/link"); err != nil || l != "hello.txt" {
		fail("readlink /data/link = %q, %v", l, err)
	}
	if got := read("/data/sub/up"); got != "hello from the host\n" {
		fail("/data/sub/up = %q", got)
	}
	// Read-write: change a packed file, add one to a packed directory.
	f, err := os.OpenFile("/data/hello.txt", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		fail("%v", err)
	}
	if _, err := f.WriteString("and from the guest\n"); err != nil {
		fail("%v", err)
	}
	f.Close()
	if got := read("/data/hello.txt"); got != "hello from the host\nand from the guest\n" {
		fail("after append: %q", got)
	}
	if err := os.WriteFile("/data/sub/new.txt", []byte("new\n"), 0o644); err != nil {
		fail("%v", err)
	}
	if got := read("/data/sub/new.txt"); got != "new\n" {
		fail("/data/sub/new.txt = %q", got)
	}
	ents, err := os.ReadDir("/data/sub")
	if err != nil || len(ents) != 3 {
		fail("/data/sub: %d entries, %v", len(ents), err)
	}
	fmt.Println("files: /data ok")
}

func checkTZ() {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		fail("%v", err)
	}
	winter := time.Date(2026, 1, 15, 12, 0, 0, 0, loc)
	summer := time.Date(2026, 7, 15, 12, 0, 0, 0, loc)
	if n, o := winter.Zone(); n != "EST" || o != -5*3600 {
		fail("winter zone %s %d", n, o)
	}
	if n, o := summer.Zone(); n != "EDT" || o != -4*3600 {
		fail("summer zone %s %d", n, o)
	}
	fmt.Println("files: tz ok")
}

func checkCerts() {
	pool, err := x509.SystemCertPool()
	if err != nil {
		fail("SystemCertPool: %v", err)
	}
	if pool.Equal(x509.NewCertPool()) {
		fail("no CA roots")
	}
	blk, _ := pem.Decode(isrgRootX1)
	if blk == nil {
		fail("bad PEM")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		fail("%v", err)
	}
	// Verified against the system roots (nil Roots): a chain exists only
	// if ISRG Root X1 is among them.
	chains, err := cert.Verify(x509.VerifyOptions{})
	if err != nil {
		fail("verifying %s: %v", cert.Subject, err)
	}
	fmt.Printf("files: certs ok (%s, chain of %d)\n", cert.Subject.CommonName, len(chains[0]))
}

func main() {
	if rt.Booted() {
		checkFiles()
	} else if _, err := os.Stat("/data/hello.txt"); err == nil {
		fail("natively, /data/hello.txt exists")
	} else {
		fmt.Println("files: native, nothing unpacked")
	}
	checkTZ()
	checkCerts()
	fmt.Println("files: ok")
}
