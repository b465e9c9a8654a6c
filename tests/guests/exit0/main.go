// Command exit0 prints a line and returns from main: the image must exit 0.
package main

import "fmt"

func main() {
	fmt.Println("exit0: bye")
}
