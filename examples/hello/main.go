// Command hello is the smallest unigo application: it prints a greeting, its
// arguments, the CPU count and the platform, and exits 0. `make run
// EXAMPLE=hello` boots it (plain `make run` boots examples/httpd).
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Println("Hello from unigo!")
	fmt.Printf("args: %q\n", os.Args)
	fmt.Printf("cpus: %d\n", runtime.NumCPU())
	fmt.Printf("platform: %s/%s\n", runtime.GOOS, runtime.GOARCH)
}
