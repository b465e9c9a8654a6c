// Command spin wedges on purpose: it announces itself, then spins for ever
// in spinForever, so that the launcher's dump (on -timeout or SIGQUIT) can
// be checked to name the function it is stuck in (tests/dump_test.go).
package main

import (
	"fmt"
	"sync/atomic"
)

var (
	stop  atomic.Bool
	spins uint64
)

//go:noinline
func spinForever() {
	for !stop.Load() {
		spins++
	}
}

func main() {
	fmt.Println("spin: spinning")
	spinForever()
	fmt.Println("spin: FAIL stopped spinning")
}
