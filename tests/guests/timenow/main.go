// Command timenow prints the wall clock as Unix nanoseconds; the harness
// compares it with the host's clock.
package main

import (
	"fmt"
	"time"
)

func main() {
	fmt.Printf("now=%d\n", time.Now().UnixNano())
}
