package main

import "github.com/unigo-os/unigo/tools/bench"

// benchCmd implements `unigo bench`; the suite is package bench.
func benchCmd(args []string) int {
	return bench.Main(args, bench.Tools{
		Root:  func() (string, error) { return (&builder{}).unigoRoot() },
		Build: buildImage,
		GoEnv: goEnv(),
	})
}
