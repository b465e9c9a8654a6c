// Command withkernel links the kernel itself, built with plain go build by
// TestImageCommand and made bootable by unigo image.
package main

import _ "github.com/unigo-os/unigo/kernel"

func main() { println("hello from withkernel") }
