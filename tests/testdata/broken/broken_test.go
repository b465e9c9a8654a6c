package broken

import "testing"

// This file does not compile on purpose: unigo test must show go's error.
func TestBroken(t *testing.T) {
	var x int = "not an int"
}
