// Command trapcost measures what single traps into the kernel cost, for
// docs/BENCHMARKS.md ("PVM: where traps cost"): a user page fault taken
// alone (no fault-around), and the detours a spinning thread sees (each
// an interrupt, usually the timer, and whatever the kernel did before it
// resumed the thread), and a wake-up round trip between two threads (with
// two CPUs: a halt, an IPI and a wake on each side). It prints
//
//	trapcost: NAME VALUE
//
// and exits 0. TRAPCOST_PAGES (default 2048) sets how many pages the
// fault figure touches (0 skips it: a run to diff host counters
// against), TRAPCOST_SPIN_MS (default 500) how long the spin lasts,
// TRAPCOST_TRIPS (default 1000) how many wake-up round trips are made.
//
// TRAPCOST_NOTIFY=N (default 0: skipped; the launcher with -rng only)
// times N virtio notifications of the virtio-rng device's queue 0 each way
// the launcher takes one without a userspace exit (a KVM ioeventfd behind
// both): a 32-bit MMIO write to its QueueNotify register, and a 16-bit OUT
// to abi.PortVirtioDoorbell. It prints the median over batches of 1000 as
// notify_mmio_ns and notify_pio_ns. TRAPCOST_NOTIFY_WAY=mmio or pio times
// only that one (host counters for one way: a run minus one with N=0).
package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/drivers/hw"
	"github.com/unigo-os/unigo/drivers/virtio"
	"github.com/unigo-os/unigo/rt"
)

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n >= 0 {
		return n
	}
	return def
}

func report(name string, v float64) { fmt.Printf("trapcost: %s %.0f\n", name, v) }

func minorFaults() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
}

func main() {
	// Pages touched from the top down: the kernel maps one page per fault
	// for a mapping growing down (it grows its fault-around window only
	// upwards), so every touch is one fault.
	if pages := envInt("TRAPCOST_PAGES", 2048); pages > 0 {
		m, err := syscall.Mmap(-1, 0, pages*4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			fmt.Println("trapcost: FAIL mmap:", err)
			os.Exit(1)
		}
		f0 := minorFaults()
		start := time.Now()
		for i := pages - 1; i >= 0; i-- {
			m[i*4096] = 1
		}
		elapsed := time.Since(start)
		faults := minorFaults() - f0
		report("faults", float64(faults))
		if faults > 0 {
			report("fault_ns", float64(elapsed.Nanoseconds())/float64(faults))
		}
	}

	// Detours: spin reading the clock (the vDSO, no system call) and
	// record every gap over 2 µs between two reads.
	spin := time.Duration(envInt("TRAPCOST_SPIN_MS", 500)) * time.Millisecond
	var gaps []float64
	start := time.Now()
	last := start
	for last.Sub(start) < spin {
		now := time.Now()
		if d := now.Sub(last); d > 2*time.Microsecond {
			gaps = append(gaps, float64(d.Nanoseconds()))
		}
		last = now
	}
	report("detours", float64(len(gaps)))
	if len(gaps) > 0 {
		slices.Sort(gaps)
		report("detour_median_ns", gaps[len(gaps)/2])
		report("detour_p90_ns", gaps[len(gaps)*9/10])
	}
	// Wake-up round trips: two goroutines locked to their own threads
	// pass a token over unbuffered channels, so every hand-off wakes the
	// other thread.
	if trips := envInt("TRAPCOST_TRIPS", 1000); trips > 0 {
		ping, pong := make(chan int), make(chan int)
		go func() {
			runtime.LockOSThread()
			for v := range ping {
				pong <- v + 1
			}
		}()
		runtime.LockOSThread()
		start := time.Now()
		for i := 0; i < trips; i++ {
			ping <- i
			if <-pong != i+1 {
				fmt.Println("trapcost: FAIL ping-pong lost a message")
				os.Exit(1)
			}
		}
		report("trip_ns", float64(time.Since(start).Nanoseconds())/float64(trips))
		close(ping)
		runtime.UnlockOSThread()
	}
	if n := envInt("TRAPCOST_NOTIFY", 0); n > 0 {
		notifyCost(n)
	}
	fmt.Println("trapcost: ok")
}

// mmioBase is the launcher's first virtio-mmio window; each device has
// one 4 KiB window after it, the slot VirtioDoorbellValue names.
const mmioBase, mmioSize = 0xD000_0000, 0x1000

func notifyCost(n int) {
	devs, err := virtio.Devices(abi.VirtioDeviceRNG)
	if err != nil || len(devs) == 0 {
		fmt.Println("trapcost: FAIL no virtio-rng device:", err)
		os.Exit(1)
	}
	info := devs[0]
	regs, err := hw.MapMMIO(info.Base, info.Size)
	if err != nil {
		fmt.Println("trapcost: FAIL mapping", info, err)
		os.Exit(1)
	}
	door := uint16(abi.VirtioDoorbellValue(int((info.Base-mmioBase)/mmioSize), 0))

	ways := []struct {
		name string
		kick func()
	}{
		{"notify_mmio_ns", func() { regs.Write32(abi.VirtioMMIOQueueNotify, 0) }},
		{"notify_pio_ns", func() { rt.OutwDirect(abi.PortVirtioDoorbell, door) }},
	}
	if w := os.Getenv("TRAPCOST_NOTIFY_WAY"); w != "" {
		ways = slices.DeleteFunc(ways, func(x struct {
			name string
			kick func()
		}) bool {
			return x.name != "notify_"+w+"_ns"
		})
	}
	// Batches alternate between the two ways, so a change in the host's
	// load falls on both.
	const batch = 1000
	per := make([][]float64, len(ways))
	for done := 0; done < n; done += batch {
		for i, w := range ways {
			start := time.Now()
			for j := 0; j < batch; j++ {
				w.kick()
			}
			per[i] = append(per[i], float64(time.Since(start).Nanoseconds())/batch)
		}
	}
	for i, w := range ways {
		slices.Sort(per[i])
		report(w.name, per[i][len(per[i])/2])
	}
}
