// Command panic dies of an unrecovered panic in the main goroutine: the Go
// runtime must print its "panic: " report with a goroutine traceback to
// stderr and exit 2.
package main

import "fmt"

func main() {
	fmt.Println("panic guest: about to fail") // stdout before the panic must survive too
	var m map[string]int
	m["boom"] = 1 // nil map write: a runtime error panic, not a plain panic call
}
