// Command unigo builds Go programs into unigo images, runs and benchmarks
// them.
//
//	unigo build [-o IMAGE] [build flags] PACKAGE|FILE.go
//	unigo run   [flags] IMAGE|PACKAGE|FILE.go [-- ARGS...]
//	unigo test  [build and test flags] [PACKAGES]
//	unigo stdtest [flags] [STD PACKAGES]
//	unigo exec  TEST-BINARY [ARGS...] (go test -exec)
//	unigo image IN OUT
//	unigo oci   [flags] PACKAGE|FILE.go|IMAGE [-- ARGS...]
//	unigo bench [flags]
//	unigo doctor [flags]
package main

import (
	"fmt"
	"os"
)

const usage = `usage: unigo <command> [arguments]

commands:
  build   build a Go main package into a bootable image
  run     boot an image (building it first if given a package) under the KVM launcher
  test    run packages' tests inside the unikernel, like go test
  stdtest run standard library packages' tests natively and in the guest;
          print a Markdown table of the differences
  exec    boot a test binary that links the kernel (go test -exec 'unigo exec')
  image   add the PVH entry note to an executable built by other tools
  oci     build an OCI image that boots the program (layout, tarball or -push)
  bench   measure boot time, memory, SMP speedup and syscall cost; print tables
  doctor  print what this host offers (CPU, /dev/kvm, QEMU) and boot a small
          guest under each runner; exit 0 when the launcher works
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "build":
		os.Exit(buildCmd(args))
	case "run":
		serveProfiles()
		os.Exit(runCmd(args))
	case "vmm": // the launcher, for the jailer (run.go); not for users
		serveProfiles()
		os.Exit(vmmCmd(args))
	case "test":
		os.Exit(testCmd(args))
	case "stdtest":
		os.Exit(stdtestCmd(args))
	case "exec":
		os.Exit(execCmd(args))
	case "image":
		os.Exit(imageCmdMain(args))
	case "oci":
		os.Exit(ociCmd(args))
	case "bench":
		os.Exit(benchCmd(args))
	case "doctor":
		os.Exit(doctorCmd(args))
	case "help", "-h", "-help", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "unigo: unknown command %q (want build, run, test, stdtest, exec, image, oci, bench or doctor)\n", cmd)
		os.Exit(2)
	}
}
