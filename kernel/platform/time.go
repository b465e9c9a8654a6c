package platform

import (
	"math/bits"

	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/rt"
)

// Time. Monotonic time comes from the TSC, scaled by a frequency from
// kvmclock (or CPUID leaves 0x40000010, 0x15/0x16). Wall-clock time is the
// kvmclock wall clock (or the CMOS RTC) at boot plus monotonic time since.

// pvclock is struct pvclock_vcpu_time_info.
type pvclock struct {
	version uint32
	pad0    uint32
	tsc     uint64
	system  uint64
	mul     uint32
	shift   int8
	flags   uint8
	pad     [2]uint8
}

type pvwall struct {
	version uint32
	sec     uint32
	nsec    uint32
}

var (
	TSCHz    uint64
	tscScale uint64 // ns = (tsc-tsc0)*tscScale >> 32
	tsc0     uint64
	Mono0    int64 // monotonic time at tsc0
	wall0    int64 // wall-clock ns at tsc0
	kvmclock [64]byte
	kvmwall  [16]byte
)

// Nanotime is CLOCK_MONOTONIC, computed as rt.ClockParams says (the
// vDSO's clock_gettime computes the same in rt/vdso_amd64.s).
func Nanotime() int64 {
	c := &rt.Clock
	hi, lo := bits.Mul64(rt.Rdtsc()-c.TSC0, c.Scale)
	return c.Mono0 + int64(hi<<32|lo>>32)
}

func Walltime() int64 { return rt.Clock.WallOffset + Nanotime() }

func TimeInit() {
	_, b, c, d := rt.Cpuid(0x40000000, 0)
	isKVM := b == 0x4b4d564b && c == 0x564b4d56 && d == 0x4d
	fa, _, _, _ := rt.Cpuid(0x40000001, 0)
	if isKVM && fa&(1<<3) != 0 {
		// kvmclock: per-CPU time info and the wall clock at system time 0.
		pv := (kctx.PtrOf(&kvmclock[0]) + 31) &^ 31
		rt.Wrmsr(rt.MSRKVMSysTime, uint64(pv)|1)
		wp := (kctx.PtrOf(&kvmwall[0]) + 3) &^ 3
		rt.Wrmsr(rt.MSRKVMWallClock, uint64(wp))
		p := kctx.At[pvclock](pv)
		w := kctx.At[pvwall](wp)
		for p.version == 0 || p.version&1 != 0 {
			rt.Pause()
		}
		// ns per tick = mul * 2^shift / 2^32.
		hz := (uint64(1_000_000_000) << 32) / uint64(p.mul)
		if p.shift >= 0 {
			TSCHz = hz >> uint(p.shift)
		} else {
			TSCHz = hz << uint(-p.shift)
		}
		tsc0 = p.tsc
		Mono0 = int64(p.system)
		wall0 = int64(w.sec)*1_000_000_000 + int64(w.nsec) + Mono0
	} else {
		TSCHz = tscFromCPUID()
		if TSCHz == 0 {
			TSCHz = calibrateTSC()
		} else {
		}
		var tsc uint64
		wall0, tsc = rtcNow()
		tsc0 = tsc
		Mono0 = 0
	}
	tscScale = (uint64(1_000_000_000) << 32) / TSCHz
	rt.Clock = rt.ClockParams{TSC0: tsc0, Scale: tscScale, Mono0: Mono0, WallOffset: wall0 - Mono0}
}

// tscFromCPUID returns the TSC frequency the (virtual) CPU reports, or 0.
// Hypervisors report it in leaf 0x40000010 (kHz; QEMU/KVM with invtsc,
// VMware); Intel CPUs in leaf 0x15 (crystal ratio). Every leaf is checked
// against the maximum leaf first: beyond it, Intel CPUs (and QEMU's
// "-cpu max") answer with the highest basic leaf's data, which once made
// TCG guests believe the TSC ran at 4 kHz.
func tscFromCPUID() uint64 {
	if _, _, c, _ := rt.Cpuid(1, 0); c&(1<<31) != 0 { // hypervisor present
		if maxHV, _, _, _ := rt.Cpuid(0x40000000, 0); maxHV >= 0x40000010 && maxHV < 0x40000100 {
			if khz, _, _, _ := rt.Cpuid(0x40000010, 0); khz >= 100_000 && khz < 20_000_000 {
				return uint64(khz) * 1000
			}
		}
	}
	maxLeaf, _, _, _ := rt.Cpuid(0, 0)
	if maxLeaf >= 0x15 {
		a, b, c, _ := rt.Cpuid(0x15, 0)
		if a != 0 && b != 0 && c != 0 {
			hz := uint64(c) * uint64(b) / uint64(a)
			if hz >= 100_000_000 && hz < 20_000_000_000 {
				return hz
			}
		}
	}
	return 0
}

const pitHz = 1193182

// pitRead latches and reads PIT channel 0's counter.
func pitRead() uint16 {
	rt.Outb(0x43, 0x00) // latch channel 0
	lo := rt.Inb(0x40)
	hi := rt.Inb(0x40)
	return uint16(hi)<<8 | uint16(lo)
}

// pitSample reads PIT channel 0 and returns the count with the TSC at the
// middle of the read and the read's duration in TSC ticks.
func pitSample() (count uint16, tsc, width uint64) {
	a := rt.Rdtsc()
	c := pitRead()
	b := rt.Rdtsc()
	return c, a + (b-a)/2, b - a
}

// calibrateTSC measures the TSC against PIT channel 0, which QEMU (also
// microvm) and PCs have; channel 2's gate needs the PC speaker port, which
// microvm lacks. Channel 0 counts down from 65535 in mode 0, read back
// with latch commands. The counter wraps every 55 ms, and an emulated CPU
// can stall for longer than that between two reads (TCG translating code,
// a busy host), so the measurement is in two steps:
//
//  1. a rough rate from a 5 ms window in which no single gap between reads
//     took more than half the window (a hidden wrap would have to);
//  2. counting PIT ticks across wraps for 100 ms, unwrapping the 16-bit
//     counter between reads; a gap that the rough rate says exceeds 20 ms
//     (where a wrap could hide) restarts the count.
//
// Without a PIT (the counter does not move), it falls back to leaf 0x16's
// base frequency, then 2 GHz.
func calibrateTSC() uint64 {
	rt.Outb(0x43, 0x30) // channel 0, lobyte/hibyte, mode 0, binary
	rt.Outb(0x40, 0xff)
	rt.Outb(0x40, 0xff)
	hz := pitRough()
	if hz != 0 {
		hz = pitFine(hz)
	}
	if hz >= 100_000_000 {
		return hz
	}
	if maxLeaf, _, _, _ := rt.Cpuid(0, 0); maxLeaf >= 0x16 {
		if mhz, _, _, _ := rt.Cpuid(0x16, 0); mhz >= 100 && mhz < 20_000 {
			return uint64(mhz) * 1_000_000
		}
	}
	return 2_000_000_000 // no reference at all: assume 2 GHz rather than divide by 0
}

// pitRough returns the TSC rate over a 5 ms PIT window free of long
// stalls, or 0 if the PIT does not count.
func pitRough() uint64 {
	const window = pitHz / 200
	for try := 0; try < 20; try++ {
		c0, t0, _ := pitSample()
		prevC, prevT := c0, t0
		var maxGap uint64
		moved := false
		for i := 0; i < 1_000_000; i++ {
			c, t, _ := pitSample()
			if gap := t - prevT; gap > maxGap {
				maxGap = gap
			}
			d := c0 - c // uint16: wraps with the counter
			if c != prevC {
				moved = true
			}
			if uint16(prevC-c) > 0x8000 { // moved backwards: wrapped past c0
				break
			}
			prevC, prevT = c, t
			if uint64(d) >= window {
				if dt := t - t0; maxGap < dt/2 {
					return dt * pitHz / uint64(d)
				}
				break
			}
		}
		if !moved {
			return 0
		}
	}
	return 0
}

// pitFine counts PIT ticks across counter wraps for 100 ms and returns the
// TSC rate, or rough if the count keeps being interrupted by stalls.
func pitFine(rough uint64) uint64 {
	const want = pitHz / 10
	maxGap := rough / 50 // 20 ms: well inside the 55 ms wrap period
	prevC, prevT, _ := pitSample()
	start := prevT
	var ticks uint64
	for i := 0; i < 10_000_000; i++ {
		c, t, _ := pitSample()
		if t-prevT > maxGap {
			ticks, start = 0, t // a wrap could hide in this gap: start over
		} else {
			ticks += uint64(prevC - c)
		}
		prevC, prevT = c, t
		if ticks >= want {
			return (t - start) * pitHz / ticks
		}
	}
	return rough
}

// rtcNow reads the CMOS real-time clock (UTC) as ns since the epoch, and
// the TSC at the moment it was read. The RTC counts whole seconds, so the
// result is the current second's start (as Linux's boot-time read is).
// Registers are read until two passes agree, outside update cycles; BCD vs
// binary and 12- vs 24-hour modes come from status register B, the
// century from register 0x32 when it holds a plausible value.
func rtcNow() (int64, uint64) {
	var r, prev [8]uint8
	var tsc uint64
	for try := 0; try < 1000; try++ {
		for i := 0; i < 100_000 && cmosRead(0x0a)&0x80 != 0; i++ {
		}
		r = [8]uint8{cmosRead(0), cmosRead(2), cmosRead(4), cmosRead(7), cmosRead(8), cmosRead(9), cmosRead(0x32), cmosRead(0x0b)}
		tsc = rt.Rdtsc()
		if r == prev {
			break
		}
		prev = r
	}
	sec, min, hour, day, mon, year, century, regB := r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
	pm := hour&0x80 != 0
	hour &= 0x7f
	if regB&0x04 == 0 { // BCD
		sec, min, hour, day, mon, year, century = bcd(sec), bcd(min), bcd(hour), bcd(day), bcd(mon), bcd(year), bcd(century)
	}
	if regB&0x02 == 0 { // 12-hour mode: 12 AM is 0, 12 PM is 12
		if hour == 12 {
			hour = 0
		}
		if pm {
			hour += 12
		}
	}
	y := int64(year) + 2000
	if century >= 19 && century <= 30 {
		y = int64(century)*100 + int64(year)
	}
	return civilToUnix(y, int64(mon), int64(day), int64(hour), int64(min), int64(sec)), tsc
}

func cmosRead(reg uint8) uint8 {
	rt.Outb(0x70, reg)
	return rt.Inb(0x71)
}

func bcd(v uint8) uint8 { return v&0xf + (v>>4)*10 }

// civilToUnix converts a UTC date and time to ns since the epoch (days
// from civil, Howard Hinnant's algorithm).
func civilToUnix(y, m, d, hour, min, sec int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return (((days*24+hour)*60+min)*60 + sec) * 1_000_000_000
}
