package platform

// What the boot learned about the machine: the end of the highest RAM
// range (the identity map covers RAM up to it) and the physical address of
// the ACPI RSDP (0 if none).
var (
	RAMTop   uintptr
	RSDPAddr uintptr
)
