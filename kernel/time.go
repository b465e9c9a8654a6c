package kernel

import (
	"math/bits"

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
	tscHz    uint64
	tscScale uint64 // ns = (tsc-tsc0)*tscScale >> 32
	tsc0     uint64
	mono0    int64 // monotonic time at tsc0
	wall0    int64 // wall-clock ns at tsc0
	kvmclock [64]byte
	kvmwall  [16]byte
	timeSrc  string
)

func nanotime() int64 {
	d := rt.Rdtsc() - tsc0
	hi, lo := bits.Mul64(d, tscScale)
	return mono0 + int64(hi<<32|lo>>32)
}

func walltime() int64 { return wall0 + nanotime() - mono0 }

func timeInit() {
	a, b, c, d := rt.Cpuid(0x40000000, 0)
	isKVM := b == 0x4b4d564b && c == 0x564b4d56 && d == 0x4d
	if isKVM {
		_ = a
		_, _, _, _ = rt.Cpuid(0x40000001, 0)
	}
	fa, _, _, _ := rt.Cpuid(0x40000001, 0)
	if isKVM && fa&(1<<3) != 0 {
		// kvmclock: per-CPU time info and the wall clock at system time 0.
		pv := (ptrOf(&kvmclock[0]) + 31) &^ 31
		rt.Wrmsr(rt.MSRKVMSysTime, uint64(pv)|1)
		wp := (ptrOf(&kvmwall[0]) + 3) &^ 3
		rt.Wrmsr(rt.MSRKVMWallClock, uint64(wp))
		p := at[pvclock](pv)
		w := at[pvwall](wp)
		for p.version == 0 || p.version&1 != 0 {
			rt.Pause()
		}
		// ns per tick = mul * 2^shift / 2^32.
		hz := (uint64(1_000_000_000) << 32) / uint64(p.mul)
		if p.shift >= 0 {
			tscHz = hz >> uint(p.shift)
		} else {
			tscHz = hz << uint(-p.shift)
		}
		tsc0 = p.tsc
		mono0 = int64(p.system)
		wall0 = int64(w.sec)*1_000_000_000 + int64(w.nsec) + mono0
		timeSrc = "kvmclock"
	} else {
		if isKVM {
			if ta, _, _, _ := rt.Cpuid(0x40000010, 0); ta != 0 {
				tscHz = uint64(ta) * 1000
			}
		}
		if tscHz == 0 {
			if ta, tb, tc, _ := rt.Cpuid(0x15, 0); ta != 0 && tb != 0 && tc != 0 {
				tscHz = uint64(tc) * uint64(tb) / uint64(ta)
			}
		}
		if tscHz == 0 {
			tscHz = calibrateTSC()
		}
		tsc0 = rt.Rdtsc()
		mono0 = 0
		wall0 = rtcNow()
		timeSrc = "tsc"
	}
	tscScale = (uint64(1_000_000_000) << 32) / tscHz
}

// calibrateTSC measures the TSC against PIT channel 2 over 10 ms.
func calibrateTSC() uint64 {
	const pitHz = 1193182
	const ticks = pitHz / 100
	rt.Outb(0x61, (rt.Inb(0x61)&^0x02)|0x01) // gate on, speaker off
	rt.Outb(0x43, 0xb0)                      // channel 2, lobyte/hibyte, mode 0
	rt.Outb(0x42, ticks&0xff)
	rt.Outb(0x42, ticks>>8)
	start := rt.Rdtsc()
	for i := 0; i < 1_000_000 && rt.Inb(0x61)&0x20 == 0; i++ {
	}
	end := rt.Rdtsc()
	hz := (end - start) * 100
	if hz < 100_000_000 {
		hz = 2_000_000_000 // no PIT: assume 2 GHz rather than divide by 0
	}
	return hz
}

// rtcNow reads the CMOS real-time clock (UTC) as ns since the epoch.
func rtcNow() int64 {
	read := func(reg uint8) uint8 {
		rt.Outb(0x70, reg)
		return rt.Inb(0x71)
	}
	for read(0x0a)&0x80 != 0 {
	}
	sec, min, hour := read(0), read(2), read(4)
	day, mon, year := read(7), read(8), read(9)
	if read(0x0b)&0x04 == 0 { // BCD
		bcd := func(v uint8) uint8 { return v&0xf + (v>>4)*10 }
		sec, min, hour, day, mon, year = bcd(sec), bcd(min), bcd(hour&0x7f), bcd(day), bcd(mon), bcd(year)
	}
	y := int64(year) + 2000
	m := int64(mon)
	// Days from civil (Howard Hinnant's algorithm).
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + int64(day) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468
	return ((days*24+int64(hour))*60+int64(min))*60*1_000_000_000 + int64(sec)*1_000_000_000
}
