// Command bbolt stores 20,000 keys in a go.etcd.io/bbolt database (which
// reads its file through a shared read-only mmap and writes it with pwrite)
// in 20 transactions, closes, reopens and verifies every key, and checks
// that a second Open of the locked file times out (flock per open file
// description). It prints "bbolt: ok", or the first failed check and exits 1.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

const (
	txs   = 20
	perTx = 1000
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bbolt:", err)
		os.Exit(1)
	}
	fmt.Println("bbolt: ok")
}

func key(i int) []byte   { return fmt.Appendf(nil, "key-%06d", i) }
func value(i int) []byte { return fmt.Appendf(nil, "value-%d-%x", i, i*7919) }

func run() error {
	dir, err := os.MkdirTemp("", "unigo-bbolt-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := dir + "/test.db"

	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	start := time.Now()
	for t := 0; t < txs; t++ {
		err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("data"))
			if err != nil {
				return err
			}
			for i := t * perTx; i < (t+1)*perTx; i++ {
				if err := b.Put(key(i), value(i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("update %d: %w", t, err)
		}
	}
	fmt.Printf("bbolt: wrote %d keys in %d transactions (%v)\n", txs*perTx, txs, time.Since(start).Round(time.Millisecond))

	// A second handle on the same file: bolt takes an exclusive flock,
	// which must conflict across open file descriptions.
	_, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, berrors.ErrTimeout) {
		return fmt.Errorf("second open while locked: got %v, want %v", err, berrors.ErrTimeout)
	}
	fmt.Println("bbolt: second open timed out ok")

	if err := db.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("data"))
		if b == nil {
			return errors.New("bucket missing after reopen")
		}
		if n := b.Stats().KeyN; n != txs*perTx {
			return fmt.Errorf("%d keys after reopen, want %d", n, txs*perTx)
		}
		for i := 0; i < txs*perTx; i++ {
			if got := b.Get(key(i)); string(got) != string(value(i)) {
				return fmt.Errorf("key %s = %q, want %q", key(i), got, value(i))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("bbolt: verified %d keys after reopen\n", txs*perTx)
	return nil
}
