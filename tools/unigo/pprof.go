package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// profileEnv names an address (host:port) on which `unigo run` serves the
// launcher's own Go profiles (net/http/pprof: heap, goroutine, profile...),
// for finding where the launcher's memory and goroutines go under load:
//
//	UNIGO_PPROF=127.0.0.1:6060 unigo run ...
//	go tool pprof -top http://127.0.0.1:6060/debug/pprof/heap
//
// Unset, nothing listens and nothing is recorded.
const profileEnv = "UNIGO_PPROF"

// serveProfiles starts the profile server when profileEnv is set; a bad
// address is one line on stderr, and the launcher goes on without it.
func serveProfiles() {
	addr := os.Getenv(profileEnv)
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "unigo: %s: %v\n", profileEnv, err)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go http.Serve(ln, mux)
}
