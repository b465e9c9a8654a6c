// Command argsenv prints its arguments and a few environment variables so the
// harness can check that both survive the trip through the boot command line.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("args=%q\n", os.Args[1:])
	for _, k := range []string{"UNIGO_A", "UNIGO_B", "UNIGO_UNSET", "PATH", "HOME"} {
		v, ok := os.LookupEnv(k)
		if ok {
			fmt.Printf("env %s=%q\n", k, v)
		} else {
			fmt.Printf("env %s unset\n", k)
		}
	}
}
