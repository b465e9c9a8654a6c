package kernel

import (
	"github.com/unigo-os/unigo/abi"
	"github.com/unigo-os/unigo/kernel/kctx"
	"github.com/unigo-os/unigo/kernel/task"
	"github.com/unigo-os/unigo/rt"
)

// traceBuf is the kernel's trace ring (abi.TraceBuffer): rt's trapEntry
// records every kernel entry of CPU i in Rings[i], and the unigo launcher
// reads the buffer, found by its symbol (abi.TraceSymbol), when it dumps
// a wedged guest.
var traceBuf abi.TraceBuffer

// Every CPU the kernel can start has a ring.
var _ [abi.TraceMaxCPUs - task.MaxCPUs]struct{}

// traceInit marks the buffer valid and starts the boot CPU's ring.
func traceInit() {
	traceBuf.Magic = abi.TraceMagic
	traceBuf.Version = abi.Version
	traceCPU(rt.BootCPU(), 0)
}

// traceCPU starts the ring of CPU block c, index idx.
func traceCPU(c *rt.CPU, idx int) {
	if idx < 0 || idx >= abi.TraceMaxCPUs {
		return
	}
	if n := uint32(idx + 1); n > traceBuf.CPUs {
		traceBuf.CPUs = n
	}
	c.Trace = kctx.PtrOf(&traceBuf.Rings[idx])
}
