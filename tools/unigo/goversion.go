package main

import (
	"fmt"
	"os/exec"
	"strings"
)

// supportedGo lists the Go releases whose runtime the kernel is known to
// work with (docs/ARCHITECTURE.md, "What the kernel assumes of the Go
// runtime").
var supportedGo = []string{"go1.26", "go1.27"}

// checkGoVersion refuses a go command of a release unigo does not support.
func checkGoVersion() error {
	cmd := exec.Command("go", "env", "GOVERSION")
	cmd.Env = goEnv()
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go env GOVERSION: %v", err)
	}
	return goVersionSupported(strings.TrimSpace(string(out)))
}

// goVersionSupported reports whether v (as go env GOVERSION prints it,
// e.g. go1.26.2 or go1.27rc1) is a supported release.
func goVersionSupported(v string) error {
	for _, s := range supportedGo {
		if v == s || strings.HasPrefix(v, s+".") || strings.HasPrefix(v, s+"rc") {
			return nil
		}
	}
	return fmt.Errorf("%s is not supported: unigo works with Go %s (set GOTOOLCHAIN, e.g. GOTOOLCHAIN=go1.27.3)",
		v, strings.ReplaceAll(strings.Join(supportedGo, " and "), "go", ""))
}
