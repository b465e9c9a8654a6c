package main

import (
	"fmt"
	"math"
	"math/rand"
	"runtime"
	"runtime/debug"
)

const (
	chunkSize = 64 << 10
	// heapChunks*chunkSize is 256 MiB of byte slices; the tree adds about
	// 24 MiB of pointer-linked nodes, for a live heap of about 280 MiB.
	heapChunks = 4096
	treeDepth  = 19
	heapRounds = 8
	// heapLimit caps the heap with a soft memory limit. Left alone, GOGC=100
	// would let a 280 MiB live heap grow towards 560 MiB, which does not fit
	// a 512 MiB VM; under the limit the collector simply runs more often.
	heapLimit = 400 << 20
)

// node is a binary tree node. key follows heap numbering (root 1, children
// 2k and 2k+1), so every node can check that it sits where it should: a
// collector that loses or moves a pointer shows up as a wrong key.
type node struct {
	left, right *node
	key         uint64
	pad         [2]uint64
}

func buildTree(key uint64, depth int) *node {
	if depth == 0 {
		return nil
	}
	return &node{key: key, left: buildTree(2*key, depth-1), right: buildTree(2*key+1, depth-1)}
}

// checkTree returns the number of nodes under n, or an error for a node with
// the wrong key or a subtree of the wrong shape.
func checkTree(n *node, key uint64, depth int) (int, error) {
	if depth == 0 {
		if n != nil {
			return 0, fmt.Errorf("tree node %d deeper than built", n.key)
		}
		return 0, nil
	}
	if n == nil {
		return 0, fmt.Errorf("tree node %d missing", key)
	}
	if n.key != key {
		return 0, fmt.Errorf("tree node at %d has key %d", key, n.key)
	}
	l, err := checkTree(n.left, 2*key, depth-1)
	if err != nil {
		return 0, err
	}
	r, err := checkTree(n.right, 2*key+1, depth-1)
	if err != nil {
		return 0, err
	}
	return 1 + l + r, nil
}

// chunk is a byte slice filled with a pattern derived from its seed.
type chunk struct {
	seed uint64
	b    []byte
}

func newChunk(seed uint64) *chunk {
	c := &chunk{seed: seed, b: make([]byte, chunkSize)}
	for i := range c.b {
		c.b[i] = pattern(seed, i)
	}
	return c
}

func pattern(seed uint64, i int) byte { return byte(seed*131 + uint64(i)*7 + uint64(i>>8)) }

// check samples the chunk; a page the collector freed and reused, or a chunk
// whose pointer now leads elsewhere, fails it.
func (c *chunk) check() error {
	for i := 0; i < len(c.b); i += 509 {
		if c.b[i] != pattern(c.seed, i) {
			return fmt.Errorf("chunk %d byte %d is %#x, want %#x", c.seed, i, c.b[i], pattern(c.seed, i))
		}
	}
	if last := len(c.b) - 1; c.b[last] != pattern(c.seed, last) {
		return fmt.Errorf("chunk %d last byte is %#x, want %#x", c.seed, c.b[last], pattern(c.seed, last))
	}
	return nil
}

// runHeap keeps a live heap of heapChunks byte slices plus a pointer tree,
// replaces a quarter of both every round, forces collections, and checks
// after each that every live object is intact and the heap really is as big
// as intended.
func runHeap(scale float64) error {
	nchunks := scaled(heapChunks, scale, 16)
	depth := treeDepth + int(math.Floor(math.Log2(scale)))
	if depth < 6 {
		depth = 6
	}
	wantLive := uint64(nchunks) * chunkSize

	old := debug.SetMemoryLimit(heapLimit)
	defer debug.SetMemoryLimit(old)

	rng := rand.New(rand.NewSource(1))
	chunks := make([]*chunk, nchunks)
	seed := uint64(0)
	for i := range chunks {
		chunks[i] = newChunk(seed)
		seed++
	}
	root := buildTree(1, depth)
	var ms runtime.MemStats
	var maxHeap uint64

	for round := 0; round < heapRounds; round++ {
		// Churn: a quarter of the chunks become garbage and are replaced.
		for k := 0; k < nchunks/4; k++ {
			i := rng.Intn(nchunks)
			if err := chunks[i].check(); err != nil {
				return fmt.Errorf("round %d: %w", round, err)
			}
			chunks[i] = newChunk(seed)
			seed++
		}
		// One of the four subtrees two levels down is rebuilt.
		q := rng.Intn(4)
		parent := root.left
		if q >= 2 {
			parent = root.right
		}
		if q%2 == 0 {
			parent.left = buildTree(2*parent.key, depth-2)
		} else {
			parent.right = buildTree(2*parent.key+1, depth-2)
		}

		runtime.GC()
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc < wantLive {
			return fmt.Errorf("round %d: live heap after GC is %d MiB, want at least %d MiB", round, ms.HeapAlloc>>20, wantLive>>20)
		}
		if ms.HeapAlloc > maxHeap {
			maxHeap = ms.HeapAlloc
		}
		for _, c := range chunks {
			if err := c.check(); err != nil {
				return fmt.Errorf("round %d after GC: %w", round, err)
			}
		}
		n, err := checkTree(root, 1, depth)
		if err != nil {
			return fmt.Errorf("round %d after GC: %w", round, err)
		}
		if want := 1<<depth - 1; n != want {
			return fmt.Errorf("round %d: tree has %d nodes, want %d", round, n, want)
		}
	}
	runtime.KeepAlive(chunks)
	runtime.KeepAlive(root)
	fmt.Printf("stress: heap: live %d MiB after GC, %d GCs, %d rounds\n", maxHeap>>20, ms.NumGC, heapRounds)
	return nil
}
