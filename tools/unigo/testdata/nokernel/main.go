// Command nokernel is a plain Go program that does not import the unigo
// kernel; unigo build links it in through a generated file.
package main

import "fmt"

func main() { fmt.Println("hello from nokernel") }
