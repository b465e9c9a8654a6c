// Command fileio exercises the file system calls a Go program leans on:
// MkdirAll, WriteFile, ReadFile, Stat, ReadDir, Rename, Remove, Getwd, and
// the fs.ErrNotExist mapping of a missing file. It prints "fileio: ok", or the
// first failed check and exits 1.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fileio:", err)
		os.Exit(1)
	}
	fmt.Println("fileio: ok")
}

func run() error {
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("Getwd: %w", err)
	}
	if !filepath.IsAbs(wd) {
		return fmt.Errorf("Getwd = %q, not absolute", wd)
	}
	fmt.Printf("fileio: wd=%s\n", wd)

	// A fresh directory per run, so native runs on a shared /tmp do not
	// trip over each other.
	if err := os.MkdirAll("/tmp", 0o777); err != nil {
		return fmt.Errorf("MkdirAll /tmp: %w", err)
	}
	root, err := os.MkdirTemp("/tmp", "unigo-fileio-")
	if err != nil {
		return fmt.Errorf("MkdirTemp: %w", err)
	}
	defer os.RemoveAll(root)

	dir := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("MkdirAll: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("Stat %s after MkdirAll: %v, %v", dir, fi, err)
	}

	// Big enough to span several pages and not be a multiple of one.
	data := bytes.Repeat([]byte("unigo file contents\n"), 1000)
	data = append(data, "tail"...)
	files := map[string][]byte{"one.txt": data, "two.txt": []byte("2"), "empty": nil}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			return fmt.Errorf("WriteFile %s: %w", name, err)
		}
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		got, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("ReadFile %s: %w", name, err)
		}
		if !bytes.Equal(got, content) {
			return fmt.Errorf("ReadFile %s: got %d bytes, want %d", name, len(got), len(content))
		}
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("Stat %s: %w", name, err)
		}
		if fi.Size() != int64(len(content)) || !fi.Mode().IsRegular() {
			return fmt.Errorf("Stat %s: size %d mode %v, want size %d regular", name, fi.Size(), fi.Mode(), len(content))
		}
	}

	if err := wantDir(dir, "empty", "one.txt", "two.txt"); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(dir, "one.txt"), filepath.Join(dir, "three.txt")); err != nil {
		return fmt.Errorf("Rename: %w", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "three.txt")); err != nil || !bytes.Equal(got, data) {
		return fmt.Errorf("ReadFile after Rename: %d bytes, %v", len(got), err)
	}
	if err := os.Remove(filepath.Join(dir, "two.txt")); err != nil {
		return fmt.Errorf("Remove: %w", err)
	}
	if err := wantDir(dir, "empty", "three.txt"); err != nil {
		return err
	}

	_, err = os.ReadFile(filepath.Join(dir, "one.txt"))
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ReadFile of a renamed-away file: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(root, "missing", "deeper")); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("Stat of a missing path: %v, want fs.ErrNotExist", err)
	}
	if err := os.Remove(filepath.Join(root, "a")); err == nil {
		return fmt.Errorf("Remove of a non-empty directory succeeded")
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("RemoveAll: %w", err)
	}
	if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("Stat after RemoveAll: %v, want fs.ErrNotExist", err)
	}
	return nil
}

func wantDir(dir string, want ...string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("ReadDir: %w", err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("ReadDir = %q, want %q", got, want)
	}
	return nil
}
