package tests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const blockdevPkg = "./tests/guests/blockdev"

// The blockdev guest's records (tests/guests/blockdev).
const (
	blkRecords = 16
	blkRecSize = 4096
	blkDisk    = 1 << 20
)

func blkRecord(i int) []byte {
	line := fmt.Sprintf("record %04d\n", i)
	return bytes.Repeat([]byte(line), blkRecSize/len(line)+1)[:blkRecSize]
}

func blkOffset(i int) int64 { return int64(i)*3*blkRecSize + int64(i%2)*512 }

// blkExpected is the disk after the guest's run on a disk of fill bytes.
func blkExpected(fill byte) []byte {
	want := bytes.Repeat([]byte{fill}, blkDisk)
	for i := 0; i < blkRecords; i++ {
		copy(want[blkOffset(i):], blkRecord(i))
	}
	copy(want[blkDisk-512-4:], "UNALIGNED")
	return want
}

// qemuDrive returns the QEMU arguments that attach path as a virtio-blk
// disk, as unigo run -runner qemu does.
func qemuDrive(path string, ro bool) []string {
	spec := "file=" + path + ",format=raw,if=none,id=d0"
	if ro {
		spec += ",readonly=on"
	}
	return qemuVirtio("-drive", spec, "-device", "virtio-blk-device,drive=d0")
}

// TestBlockDevice boots the blockdev guest with a disk file attached:
// under the launcher (-drive), QEMU (its own virtio-blk) and unigo run
// -runner qemu (the -drive mapping). The guest writes numbered records
// through /dev/vda; the test then checks on the host that the file holds
// exactly them, the rest of it untouched. A read-only disk refuses
// writes.
func TestBlockDevice(t *testing.T) {
	runs := []struct {
		name string
		spec func(path string, ro bool) runSpec
		r    string
	}{
		{"launcher", func(p string, ro bool) runSpec {
			d := p
			if ro {
				d += ":ro"
			}
			return runSpec{launcherArgs: []string{"-drive", d}}
		}, "launcher"},
		{"qemu", func(p string, ro bool) runSpec { return runSpec{qemuArgs: qemuDrive(p, ro)} }, "qemu"},
		{"unigo-run-qemu", func(p string, ro bool) runSpec {
			d := p
			if ro {
				d += ":ro"
			}
			return runSpec{launcherArgs: []string{"-runner", "qemu", "-drive", d}}
		}, "launcher"},
	}
	for _, run := range runs {
		t.Run(run.name, func(t *testing.T) {
			r := runnerNamed(run.r)
			r.check(t)
			if run.name == "unigo-run-qemu" {
				runnerNamed("qemu").check(t)
			}
			disk := filepath.Join(t.TempDir(), "disk.img")
			require.NoError(t, os.WriteFile(disk, bytes.Repeat([]byte{0xee}, blkDisk), 0o644))
			spec := run.spec(disk, false)
			spec.image, spec.memory, spec.cpus, spec.timeout = images[blockdevPkg], "128M", 1, 90*time.Second
			res, err := r.run(t, spec)
			require.NoError(t, err)
			require.Equal(t, 0, res.code, "output:\n%s%s", res.out, res.diag)
			assert.Contains(t, res.out, fmt.Sprintf("blockdev: size %d stat %d ioctl %d\n", blkDisk, blkDisk, blkDisk))
			for _, w := range []string{"blockdev: wrote 16 records\n", "blockdev: read back ok\n", "blockdev: ok\n"} {
				assert.Contains(t, res.out, w)
			}
			got, err := os.ReadFile(disk)
			require.NoError(t, err)
			want := blkExpected(0xee)
			require.Equal(t, len(want), len(got))
			if !bytes.Equal(want, got) {
				for i := range want {
					if want[i] != got[i] {
						t.Fatalf("disk differs first at byte %d: %#x, want %#x", i, got[i], want[i])
					}
				}
			}

			// Read-only: the same file, the guest cannot change it.
			spec = run.spec(disk, true)
			spec.image, spec.memory, spec.cpus, spec.timeout = images[blockdevPkg], "128M", 1, 90*time.Second
			spec.args = []string{"ro"}
			res, err = r.run(t, spec)
			require.NoError(t, err)
			require.Equal(t, 0, res.code, "output:\n%s%s", res.out, res.diag)
			for _, w := range []string{"blockdev: open for writing: EROFS\n", "blockdev: write: EBADF\n", "blockdev: ro ok\n"} {
				assert.Contains(t, res.out, w)
			}
			after, err := os.ReadFile(disk)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(got, after), "the read-only run changed the disk")
		})
	}
}
