// Command httpd is a small web service, written as for Linux: it serves a
// hello page, a JSON endpoint, a streaming download of N bytes, an upload
// sink that answers with the body's length and SHA-256, and
// net/http/pprof, and shuts down gracefully on SIGINT/SIGTERM or when a
// client asks for /quit. With -log it logs one line per request to
// stderr, as a production server would. Under unigo it runs unmodified;
// `make run` boots it under the launcher with a port forward.
//
//	httpd [-addr :8080] [-log]
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

var started = time.Now()

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	logRequests := flag.Bool("log", false, "log one line per request to stderr")
	flag.Parse()

	mux := http.DefaultServeMux // net/http/pprof registers on it
	mux.HandleFunc("/", hello)
	mux.HandleFunc("/json", status)
	mux.HandleFunc("/bytes/", download)
	mux.HandleFunc("POST /upload", upload)
	quit := make(chan struct{})
	mux.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "bye")
		select {
		case <-quit:
		default:
			close(quit)
		}
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("httpd: %v", err)
	}
	var handler http.Handler = mux
	if *logRequests {
		handler = logged(mux)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("httpd: serving on http://%s/\n", ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		log.Fatalf("httpd: %v", err)
	case s := <-sig:
		fmt.Printf("httpd: %v: shutting down\n", s)
	case <-quit:
		fmt.Println("httpd: /quit: shutting down")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatalf("httpd: shutdown: %v", err)
	}
	fmt.Println("httpd: bye")
}

// logged logs each request h serves: client, method, path, status and
// duration.
func logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		log.Printf("%s %s %s %d %v", r.RemoteAddr, r.Method, r.URL.Path, sw.status, time.Since(start))
	})
}

// statusWriter remembers the status a handler sent.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func hello(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "Hello from unigo!")
}

func status(w http.ResponseWriter, r *http.Request) {
	host, _ := os.Hostname()
	if r.URL.Query().Get("gc") == "1" {
		runtime.GC() // the live heap rather than the garbage since the last cycle
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"heap_alloc": ms.HeapAlloc,  // live heap, bytes
		"sys":        ms.Sys,        // memory the runtime holds, bytes
		"stack":      ms.StackInuse, // goroutine stacks, bytes
		"host":       host,
		"goos":       runtime.GOOS,
		"cpus":       runtime.NumCPU(),
		"goroutines": runtime.NumGoroutine(),
		"uptime_ms":  time.Since(started).Milliseconds(),
		"remote":     r.RemoteAddr,
	})
}

// download streams N bytes of a repeating pattern: /bytes/N.
func download(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.ParseInt(r.URL.Path[len("/bytes/"):], 10, 64)
	if err != nil || n < 0 {
		http.Error(w, "want /bytes/N with N >= 0", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
	var block [32 << 10]byte
	for i := range block {
		block[i] = byte(i)
	}
	for n > 0 {
		k := int64(len(block))
		if k > n {
			k = n
		}
		if _, err := w.Write(block[:k]); err != nil {
			return
		}
		n -= k
	}
}

// upload reads the request body and answers with its length and SHA-256
// in hex: POST /upload.
func upload(w http.ResponseWriter, r *http.Request) {
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%d %x\n", n, h.Sum(nil))
}
