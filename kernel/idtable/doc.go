// Package idtable names kernel objects to a Go-side server by id: the
// netstack channel's sockets (kernel/socket) and the file channel's
// requests (kernel/vfs). An id's low half is the object's slot in a
// fixed table, its high half the slot's generation, bumped when the slot
// is taken and when it is freed; so an id the server passes back after
// its object was freed, or one it forged, names nothing instead of freed
// memory.
//
// The owner declares the slots as a static array and passes them as a
// slice (a slice of a package array in a composite literal would be init
// work, which kernel packages may not have), with the int it keeps as
// the next slot to try. Nothing here allocates or locks: the owner's lock
// guards its table.
package idtable
