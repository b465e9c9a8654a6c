package idtable

// Slot is one entry of a table: the object's address (0: free) and the
// slot's generation.
type Slot struct {
	obj uintptr
	gen uint32
}

// Alloc puts obj in the first free slot at or after *next (wrapping) and
// returns its id, or 0 when every slot is taken. A taken slot's
// generation is odd (Alloc and Free each bump it), so no id is 0.
func Alloc(t []Slot, next *int, obj uintptr) uint64 {
	for i := range t {
		j := (*next + i) % len(t)
		if t[j].obj == 0 {
			t[j].obj = obj
			t[j].gen++
			*next = j + 1
			return uint64(t[j].gen)<<32 | uint64(j)
		}
	}
	return 0
}

// Lookup returns the object id names, or 0 if the id is out of range,
// stale or free.
func Lookup(t []Slot, id uint64) uintptr {
	j := id & 0xffffffff
	if j >= uint64(len(t)) || t[j].gen != uint32(id>>32) {
		return 0
	}
	return t[j].obj
}

// Free empties the slot of id, which Lookup has just accepted.
func Free(t []Slot, id uint64) {
	j := id & 0xffffffff
	t[j].obj = 0
	t[j].gen++
}
