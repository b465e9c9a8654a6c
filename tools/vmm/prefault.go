package vmm

import (
	"bytes"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"github.com/u-root/u-root/pkg/boot/kexec"
	"golang.org/x/sys/unix"
)

// Backing guest memory ahead of the guest's first touches. Under shadow
// paging (PVM) each guest page's first touch is a round trip into the
// host, the costliest event of a boot there; the host maps up to seven
// neighbours with it only where their host pages are already present and
// writable (KVM's PTE prefetch), and a whole 2 MiB page in one go where
// the guest maps one and a host huge page backs it. Three ranges are
// backed before the guest runs, the first two given back once the boot CPU
// first idles and writes abi.PortPrefaultDone (docs/BENCHMARKS.md:
// "Prefaulted boot RAM", "The image's read-only pages copied for the
// boot", "The image's 2 MiB text blocks in host huge pages", "The head of
// the image's data populated"):
//
//   - guest RAM below the image (arch.Prefault), where the kernel's
//     allocator hands out its first frames: populated; what the guest
//     says it has not used is dropped at once.
//   - on shadow-paging hosts only (shadowPaging, VM.copyText), the image's
//     read-only segments (text, read-only data), which
//     arch.Layout.LoadMapped would map from the image file copy-on-write,
//     present but not writable: the 2 MiB blocks of them that the kernel
//     maps with one page (Layout.TextBlocks; the guest is told with
//     abi.HugeImageParam) are copied into anonymous memory advised
//     MADV_HUGEPAGE, the rest copied with MADV_POPULATE_WRITE. A second
//     later (textReleaseDelay) every copied page still equal to the file
//     is given back (releaseText): guests booted from one image share the
//     page cache's pages as before, and the pages where the kernel
//     rewrote system-call sites (before it makes the text read-only,
//     which is before its first idle) stay the guest's own.
//   - on shadow-paging hosts too, the head of the image's writable segment
//     (Layout.DataHead): its initialised data, mapped from the file
//     copy-on-write, and the first dataHeadZeroed bytes of its BSS, where
//     the runtime's and the kernel's small variables lie: populated for
//     writing, and never given back (the guest writes most of those pages;
//     the rest cost ~0.1-0.4 MiB per guest).

// prefaultRange is the guest RAM the launcher backs before the guest runs
// (the layout's PrefaultRange), empty with HugePages: a first touch fills
// a whole 2 MiB page then anyway.
func (v *VM) prefaultRange() (start, end uint64) {
	if v.cfg.HugePages {
		return 0, 0
	}
	return v.layout.PrefaultRange(v.cfg.MemSize)
}

// textBlocks returns the image's text blocks (Layout.TextBlocks) when its
// text is copied for the boot, each advised MADV_HUGEPAGE before
// LoadMapped copies into it (advice: a host without transparent huge
// pages copies into small ones).
func (v *VM) textBlocks() kexec.Ranges {
	if !v.copyText {
		return nil
	}
	v.blocks = v.layout.TextBlocks()
	for _, b := range v.blocks {
		unix.Madvise(v.mem[b.Start:b.End()], unix.MADV_HUGEPAGE)
	}
	return v.blocks
}

// prefaultLow backs prefaultRange with host pages (MADV_POPULATE_WRITE),
// so that the guest's first touches there find them present. Advice only,
// as prefault's: a host kernel without MADV_POPULATE_WRITE (before 5.14)
// boots as before. VM.load runs it beside the image's loading.
func (v *VM) prefaultLow() {
	if start, end := v.prefaultRange(); end > start {
		unix.Madvise(v.mem[start:end], unix.MADV_POPULATE_WRITE)
	}
}

// prefault backs, when copyText, the head of the image's data
// (Layout.DataHead) and copies of its read-only pages that LoadMapped
// mapped from its file, so that the guest's first touches find them
// present and theirs map their neighbours too. Advice only. It runs on
// another thread while New creates the vCPUs (VM.load).
func (v *VM) prefault() {
	if !v.copyText {
		return
	}
	for _, r := range v.layout.DataHead(dataHeadZeroed) {
		if r.End() <= uintptr(len(v.mem)) {
			unix.Madvise(v.mem[r.Start:r.End()], unix.MADV_POPULATE_WRITE)
		}
	}
	for _, r := range v.layout.FileText {
		if !r.Copied {
			unix.Madvise(v.mem[r.Phys.Start:r.Phys.End()], unix.MADV_POPULATE_WRITE)
		}
	}
	v.textCopied.Store(true)
}

// dataHeadZeroed is how much of the image's BSS is populated for the boot
// on shadow-paging hosts (Layout.DataHead), with all its initialised data.
const dataHeadZeroed = 256 << 10

// textReleaseDelay is how long after the guest's first idle the copies
// of its image's pages are given back: a server's first idle often comes
// before it is up (examples/httpd idles while its network comes up), and
// what is given back faults in again page by page. Tests shorten it; 0
// gives them back on the vCPU's thread at once.
var textReleaseDelay = time.Second

// prefaultDone gives back the prefaulted RAM from addr (a page boundary)
// on, which the guest says it has not used (abi.PortPrefaultDone): it
// reads as zeros again. It runs on the writing vCPU's thread while the
// guest's allocator waits. Only prefaultRange is touched, whatever addr
// says. The first time, it also schedules releaseText.
func (v *VM) prefaultDone(addr uint64) {
	start, end := v.prefaultRange()
	dropPages(v.mem[min(max(start, addr), end):end])
	if !v.textCopied.CompareAndSwap(true, false) {
		return
	}
	if textReleaseDelay == 0 {
		v.releaseText()
		return
	}
	time.AfterFunc(textReleaseDelay, func() {
		v.dumpMu.Lock() // against Close unmapping guest memory
		defer v.dumpMu.Unlock()
		if !v.closed {
			v.releaseText()
		}
	})
}

// releaseText gives back the guest's copy of each page of
// layout.FileText that equals the image file's page, in runs: dropped
// where the page is mapped from the file (its page cache page shows
// again), mapped from the file again where LoadMapped copied it into a
// text block. The other pages of a block (those the kernel rewrote, and
// partial pages at a segment's ends) move to small pages of their own
// (movePage), so that no page of the block's huge page stays mapped and
// the host frees it at once rather than keep it whole until memory runs
// short (a huge page mapped in part is only split then). The file is
// read with pread, not through the launcher's mapping of the image, whose
// pages were dropped after loading (they would count in its RSS again). A
// page the guest writes while this runs (the kernel does not write
// read-only segments after its boot) could lose that write: only the
// guest's own text, never the launcher's memory.
func (v *VM) releaseText() {
	const page = 4096
	buf := make([]byte, 64<<10)
	given := map[uintptr]bool{} // pages of the text blocks given back
	for _, r := range v.layout.FileText {
		give := func(lo, hi uintptr) {
			if hi <= lo {
				return
			}
			if !r.Copied {
				dropPages(v.mem[lo:hi])
				return
			}
			// The same bytes, now the page cache's: a failure leaves the copy.
			unix.MmapPtr(int(v.cfg.ImageFile.Fd()), int64(r.Off+uint64(lo-r.Phys.Start)), unsafe.Pointer(&v.mem[lo]), hi-lo,
				unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
			for a := lo; a < hi; a += page {
				given[a] = true
			}
		}
		// [run, a) are pages found equal and not yet given back.
		run, a := r.Phys.Start, r.Phys.Start
		for a < r.Phys.End() {
			n, _ := v.cfg.ImageFile.ReadAt(buf[:min(uintptr(len(buf)), r.Phys.End()-a)], int64(r.Off+uint64(a-r.Phys.Start)))
			if n &^= page - 1; n == 0 {
				break // the file shrank: keep the rest
			}
			for i := 0; i < n; i, a = i+page, a+page {
				if !bytes.Equal(v.mem[a:a+page], buf[i:i+page]) {
					give(run, a)
					run = a + page
				}
			}
		}
		give(run, a)
	}
	// The rest of each block: pages that differ from the file, pages past
	// where it ended, and partial pages at a segment's ends.
	for _, b := range v.blocks {
		for a := b.Start; a < b.End(); a += page {
			if !given[a] {
				v.movePage(a)
			}
		}
	}
}

// movePage moves guest page a, with its contents, to a small anonymous
// page of its own: a copy made aside, then moved over it in one step
// (mremap), so that the guest never sees it change. A failure leaves the
// page where it was.
func (v *VM) movePage(a uintptr) {
	const page = 4096
	tmp, err := unix.Mmap(-1, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return
	}
	copy(tmp, v.mem[a:a+page])
	if _, err := unix.MremapPtr(unsafe.Pointer(&tmp[0]), page, unsafe.Pointer(&v.mem[a]), page,
		unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED); err != nil {
		unix.Munmap(tmp)
	}
}

// dropPages gives back the pages of b, a page-aligned part of guest memory.
func dropPages(b []byte) {
	if len(b) > 0 {
		unix.Madvise(b, unix.MADV_DONTNEED)
	}
}

// shadowPaging reports whether this host's KVM maps guest memory through
// shadow page tables, where the image's text is worth copying for the
// boot; tests replace it.
var shadowPaging = func() bool { return hostShadowPaging("/sys/module") }

// hostShadowPaging reports whether the KVM modules loaded under sysModule
// (/sys/module) map guest memory through shadow page tables: the PVM
// module always, VMX without EPT, SVM without NPT. There a guest page's
// first touch is a trap into the host; with EPT or NPT it is cheap and
// copying the image's pages would only cost memory. Unknown counts as not.
func hostShadowPaging(sysModule string) bool {
	if _, err := os.Stat(filepath.Join(sysModule, "kvm_pvm")); err == nil {
		return true
	}
	for _, p := range []string{"kvm_intel/parameters/ept", "kvm_amd/parameters/npt"} {
		if b, err := os.ReadFile(filepath.Join(sysModule, p)); err == nil {
			return len(b) > 0 && (b[0] == 'N' || b[0] == '0')
		}
	}
	return false
}
