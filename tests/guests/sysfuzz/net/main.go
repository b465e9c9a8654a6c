// Command net is the system-call fuzzer guest with the unigo netstack
// linked (it imports package net), so that inet sockets exist and the
// netstack's goroutines run beside the fuzzer; see package fuzz.
package main

import (
	_ "net" // links the unigo netstack

	"github.com/unigo-os/unigo/tests/guests/sysfuzz/fuzz"
)

func main() { fuzz.Main() }
