// Command sqlite writes 10,000 rows in one transaction to a
// modernc.org/sqlite database in WAL mode (whose -shm index is a shared
// mmap of a file), runs an aggregate query, closes, reopens and checks the
// rows again. It prints "sqlite: ok", or the first failed check and exits 1.
package main

import (
	"database/sql"
	"fmt"
	"os"
	"time"

	_ "modernc.org/sqlite"
)

const rows = 10000

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sqlite:", err)
		os.Exit(1)
	}
	fmt.Println("sqlite: ok")
}

// wantSum is the sum of v over all rows: v = i*3 for i in [0, rows).
const wantSum = 3 * rows * (rows - 1) / 2

func run() error {
	dir, err := os.MkdirTemp("", "unigo-sqlite-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := dir + "/test.db"

	db, err := sql.Open("sqlite", path)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return fmt.Errorf("journal_mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal_mode = %q, want wal", mode)
	}
	fmt.Println("sqlite: journal_mode=wal")
	if _, err := db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, v INTEGER)"); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	start := time.Now()
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	st, err := tx.Prepare("INSERT INTO t (id, name, v) VALUES (?, ?, ?)")
	if err != nil {
		return err
	}
	for i := 0; i < rows; i++ {
		if _, err := st.Exec(i, fmt.Sprintf("row-%d", i), i*3); err != nil {
			return fmt.Errorf("insert %d: %w", i, err)
		}
	}
	st.Close()
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	fmt.Printf("sqlite: inserted %d rows (%v)\n", rows, time.Since(start).Round(time.Millisecond))
	if err := check(db); err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		fmt.Println("sqlite: wal file left after close")
	}

	db, err = sql.Open("sqlite", path)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	defer db.Close()
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		return fmt.Errorf("journal_mode after reopen = %q, %v", mode, err)
	}
	if err := check(db); err != nil {
		return fmt.Errorf("after reopen: %w", err)
	}
	var name string
	if err := db.QueryRow("SELECT name FROM t WHERE id = ?", 4321).Scan(&name); err != nil || name != "row-4321" {
		return fmt.Errorf("row 4321 = %q, %v", name, err)
	}
	fmt.Println("sqlite: reopen verified")
	return nil
}

func check(db *sql.DB) error {
	var n, sum int64
	if err := db.QueryRow("SELECT count(*), sum(v) FROM t").Scan(&n, &sum); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	if n != rows || sum != wantSum {
		return fmt.Errorf("count, sum = %d, %d, want %d, %d", n, sum, rows, wantSum)
	}
	fmt.Printf("sqlite: count=%d sum=%d\n", n, sum)
	return nil
}
