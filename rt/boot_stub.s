// This file makes the go tool accept function declarations without
// bodies in rt (kernelMain is provided by package kernel via go:linkname).
