package platform

// For the external tests (package platform_test, which links the kernel
// that rt needs).
var (
	BuildVDSO = buildVDSO
	VDSOSize  = vdsoSize
)
