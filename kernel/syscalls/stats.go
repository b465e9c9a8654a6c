package syscalls

import (
	"sync/atomic"

	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/balloon"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/kmem"
	"github.com/unigo-os/unigo/kernel/task"
)

// Event counters, for finding where a guest's time goes: the kernel
// parameter unigo.stats makes exit_group print them (one line per CPU
// and the busiest system calls) before the VM powers off. Under a
// paravirtualised host (PVM) every privileged instruction the kernel runs
// — a timer MSR write, an EOI, an IPI, HLT — is a trip through the host,
// so these counts, divided by the work done (requests served, say), say
// what each unit of work costs in such trips.
//
// Each CPU writes only its own row, with plain increments (kernel
// context, no preemption while it runs); the exit-time reader may see a
// row a few events stale. The per-system-call counts are shared and
// atomic.

// sysCounts counts system calls by number; unigo's private calls (0x1000
// and up) share the last slot.
var sysCounts [abi.NSyscalls + 1]atomic.Uint64

// StatsOn is set at boot from the kernel parameter unigo.stats.
var StatsOn bool

func Count(nr uint64) {
	if !StatsOn {
		return
	}
	if nr < abi.NSyscalls {
		sysCounts[nr].Add(1)
	} else {
		sysCounts[abi.NSyscalls].Add(1)
	}
}

// printStats prints the counters (see above). Kernel context.
func printStats() {
	if !StatsOn {
		return
	}
	var total task.CPUStats
	for i := 0; i < task.NCPU; i++ {
		s := &task.CPUInfoAt(i).Stats
		kctx.Print("unigo: stats: cpu")
		kctx.PrintDec(uint64(i))
		printStatsRow(s)
		for k := range total {
			total[k] += s[k]
		}
	}
	kctx.Print("unigo: stats: all")
	printStatsRow(&total)
	if balloon.Dev.Active {
		kctx.Print("unigo: stats: balloon reports=")
		kctx.PrintDec(balloon.Dev.Reports.Load())
		kctx.Print(" reported_bytes=")
		kctx.PrintDec(balloon.Dev.ReportedBytes.Load())
		kctx.Print(" reused_bytes=")
		kctx.PrintDec(uint64(kmem.ReusedBytes()))
		kctx.Print(" held_bytes=")
		kctx.PrintDec(uint64(kmem.ReportedBytes()))
		kctx.Print("\n")
	}
	kctx.Print("unigo: stats: syscall sites=")
	kctx.PrintDec(syscallSites)
	kctx.Print(" rewritten=")
	kctx.PrintDec(syscallPatched)
	kctx.Print("\n")
	// The busiest system calls, greatest first (selection by repeated
	// maximum: no allocation, and there are few).
	var shown [len(sysCounts)]bool
	kctx.Print("unigo: stats: syscalls")
	for k := 0; k < 12; k++ {
		best, bestN := -1, uint64(0)
		for i := range sysCounts {
			if n := sysCounts[i].Load(); !shown[i] && n > bestN {
				best, bestN = i, n
			}
		}
		if best < 0 {
			break
		}
		shown[best] = true
		kctx.Print(" ")
		if best < abi.NSyscalls {
			kctx.Print(statsNames.name(uint64(best)))
		} else {
			kctx.Print("unigo-private")
		}
		kctx.Print("=")
		kctx.PrintDec(bestN)
	}
	kctx.Print("\n")
}

func printStatsRow(s *task.CPUStats) {
	for k, v := range s {
		kctx.Print(" ")
		kctx.Print(task.StatNames[k])
		kctx.Print("=")
		kctx.PrintDec(v)
	}
	kctx.Print("\n")
}

// statsNames gives printStats the system call names of the table. It is
// an interface so that the table's initialiser does not depend on itself:
// sysTable holds exit_group's handler, which ends in printStats, and Go
// rejects such an initialisation cycle, but does not follow calls through
// interfaces. Static data either way (no init code).
var statsNames sysNamer = tableNames{}

type sysNamer interface{ name(nr uint64) string }

type tableNames struct{}

func (tableNames) name(nr uint64) string { return sysName(nr) }

// ExitVM prints the statistics (unigo.stats) and ends the machine, the
// console's lines whole (kctx.ConsoleQuiesce).
func ExitVM(code int) {
	kctx.ConsoleQuiesce() // no trace line cut by the statistics
	printStats()
	kctx.ExitVM(code)
}
