package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Files in the image: a host directory is packed into a tar archive that a
// generated Go file, added to the program through the build overlay, embeds
// (go:embed) and unpacks into the guest's in-memory file system during
// package initialisation when the program is booted (rt.Booted); natively
// nothing is unpacked. `unigo build -files` and `unigo test` (the package
// directory) share this code.

const (
	// tzdataPackage embeds the time-zone database in the program.
	tzdataPackage = "time/tzdata"
	// certsPackage registers fallback CA roots with crypto/x509 when the
	// system has none (as in the guest).
	certsPackage = "golang.org/x/crypto/x509roots/fallback"
	certsModule  = certsPackage // a module of its own
	// filesInitFile is the generated file that embeds and unpacks the
	// -files archives.
	filesInitFile = "zz_unigo_files.go"
)

// fileSpec is one -files HOSTDIR:GUESTDIR.
type fileSpec struct {
	host  string // absolute
	guest string // absolute, clean
}

// parseFilesFlag checks a -files value: HOSTDIR must be an existing
// directory, GUESTDIR absolute.
func parseFilesFlag(v string) (fileSpec, error) {
	i := strings.LastIndex(v, ":")
	if i < 0 {
		return fileSpec{}, errors.New("want HOSTDIR:GUESTDIR")
	}
	host, guest := v[:i], v[i+1:]
	if host == "" {
		return fileSpec{}, errors.New("empty HOSTDIR")
	}
	if !strings.HasPrefix(guest, "/") {
		return fileSpec{}, fmt.Errorf("GUESTDIR %q is not an absolute path", guest)
	}
	info, err := os.Stat(host)
	if err != nil {
		if os.IsNotExist(err) {
			return fileSpec{}, fmt.Errorf("%s does not exist", host)
		}
		return fileSpec{}, err
	}
	if !info.IsDir() {
		return fileSpec{}, fmt.Errorf("%s is not a directory", host)
	}
	abs, err := filepath.Abs(host)
	if err != nil {
		return fileSpec{}, err
	}
	return fileSpec{host: abs, guest: filepath.Clean(guest)}, nil
}

// packedDir is one embedded archive and where the guest unpacks it.
type packedDir struct {
	name  string // file name of the archive beside the package's sources
	guest string // absolute directory in the guest
}

// unpackSource is a Go file of package pkgName that blank-imports imports,
// embeds the archives and, when booted, unpacks each at its guest
// directory during package initialisation, then changes to chdir (if
// set). who prefixes its error messages.
func unpackSource(pkgName, who string, imports []string, dirs []packedDir, chdir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "package %s\n\nimport (\n", pkgName)
	b.WriteString("\t\"archive/tar\"\n\t\"bytes\"\n\t_ \"embed\"\n\t\"fmt\"\n\t\"io\"\n\t\"os\"\n\t\"path/filepath\"\n\n")
	for _, p := range imports {
		fmt.Fprintf(&b, "\t_ %q\n", p)
	}
	fmt.Fprintf(&b, "\tzzunigort %q\n)\n\n", unigoModule+"/rt")
	for i, d := range dirs {
		fmt.Fprintf(&b, "//go:embed %s\nvar zzUnigoFiles%d []byte\n\n", d.name, i)
	}
	b.WriteString("var _ = zzUnigoUnpack()\n\n")
	b.WriteString("func zzUnigoUnpack() bool {\n\tif !zzunigort.Booted() {\n\t\treturn false\n\t}\n")
	for i, d := range dirs {
		fmt.Fprintf(&b, "\tif err := zzUnigoUnpackTar(zzUnigoFiles%d, %q); err != nil {\n", i, d.guest)
		fmt.Fprintf(&b, "\t\tfmt.Fprintln(os.Stderr, %q, err)\n\t\tos.Exit(1)\n\t}\n", who+": unpacking files into "+d.guest+":")
	}
	if chdir != "" {
		fmt.Fprintf(&b, "\tif err := os.Chdir(%q); err != nil {\n\t\tfmt.Fprintln(os.Stderr, %q, err)\n\t\tos.Exit(1)\n\t}\n", chdir, who+":")
	}
	b.WriteString("\treturn true\n}\n\n")
	b.WriteString(`func zzUnigoUnpackTar(data []byte, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, os.FileMode(h.Mode)&os.ModePerm|0o700)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeReg:
			var f *os.File
			f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&os.ModePerm)
			if err == nil {
				_, err = io.Copy(f, tr)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
		}
		if err != nil {
			return err
		}
	}
}
`)
	return b.String()
}

// writeDirTar archives dir into out. For a package directory (unigo test)
// hidden entries and subdirectories that are other packages or modules are
// left out (testdata is always included) and symbolic links are kept as
// they are. Otherwise (-files) everything is packed, and a symbolic link
// is kept only when it is relative and stays inside dir; any other link
// is refused.
func writeDirTar(dir, out string, pkgDir bool) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		if pkgDir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if pkgDir && d.IsDir() && !inTestdata(rel) && isOtherPackage(path) {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
			if !pkgDir && !linkInside(rel, link) {
				return fmt.Errorf("%s: symbolic link to %s leads outside the directory (only relative links inside it are packed; copy the target instead)", rel, link)
			}
		} else if !info.Mode().IsRegular() && !info.IsDir() {
			return nil // sockets, devices, pipes
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		// The guest sees none of these (unpacking sets no times or
		// owners); left out, the archive depends only on names, modes
		// and contents, and so does the image.
		h.ModTime, h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}, time.Time{}
		h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			src, err := os.Open(path)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			return err
		}
		return nil
	})
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// linkInside reports whether a symbolic link at rel (relative to the packed
// directory) with target link is relative and resolves inside the directory.
func linkInside(rel, link string) bool {
	if filepath.IsAbs(link) {
		return false
	}
	t := filepath.Join(filepath.Dir(rel), link)
	return t != ".." && !strings.HasPrefix(t, ".."+string(filepath.Separator))
}
