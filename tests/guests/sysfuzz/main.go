// Command sysfuzz is the system-call fuzzer guest without the netstack
// (inet sockets fail with EAFNOSUPPORT); see package fuzz for what it does
// and its flags, and ./net for the same fuzzer with the netstack linked.
package main

import "github.com/unigo-os/unigo/tests/guests/sysfuzz/fuzz"

func main() { fuzz.Main() }
