// Command prog is the image writer's test program: a normal Go program that
// also has a PVH entry. Natively it prints a line; booted by a PVH monitor
// its entry immediately reports exit code 42 on the isa-debug-exit port.
package main

import "fmt"

// pvhEntry is implemented in entry_amd64.s.
func pvhEntry()

// keep references pvhEntry so the linker does not drop it. Taking the Go
// func value makes the linker emit an ABIInternal wrapper called
// main.pvhEntry and rename the assembly body main.pvhEntry.abi0; the image
// writer must pick the body.
var keep = pvhEntry

func main() {
	if keep == nil {
		panic("unreachable")
	}
	fmt.Println("hello from an image")
}
