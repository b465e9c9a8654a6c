// Command durable writes numbered records, each followed by fsync, to a
// file (on a volume) and to a block device, and prints "ack N" once record
// N is durable on both. The test kills the launcher at a random moment
// and checks that every acknowledged record reached the host intact.
//
// Usage: durable FILE DEVICE
//
// A record is recordSize bytes: "rec NNNNNNNN " and a fill byte derived
// from N, ending in '\n'. In FILE records are appended; on DEVICE record N
// is at offset N*recordSize.
package main

import (
	"fmt"
	"os"
)

const recordSize = 512

// Record returns record n.
func record(n int) []byte {
	b := make([]byte, recordSize)
	copy(b, fmt.Sprintf("rec %08d ", n))
	for i := 13; i < recordSize-1; i++ {
		b[i] = 'a' + byte((n+i)%26)
	}
	b[recordSize-1] = '\n'
	return b
}

func main() {
	if len(os.Args) != 3 {
		fmt.Println("usage: durable FILE DEVICE")
		os.Exit(2)
	}
	f, err := os.OpenFile(os.Args[1], os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Println("durable:", err)
		os.Exit(1)
	}
	dev, err := os.OpenFile(os.Args[2], os.O_WRONLY, 0)
	if err != nil {
		fmt.Println("durable:", err)
		os.Exit(1)
	}
	fmt.Println("durable: writing")
	for n := 0; ; n++ {
		r := record(n)
		if _, err := f.Write(r); err != nil {
			fmt.Println("durable: write:", err)
			os.Exit(1)
		}
		if err := f.Sync(); err != nil {
			fmt.Println("durable: fsync:", err)
			os.Exit(1)
		}
		if _, err := dev.WriteAt(r, int64(n)*recordSize); err != nil {
			fmt.Println("durable: device write:", err)
			os.Exit(1)
		}
		if err := dev.Sync(); err != nil {
			fmt.Println("durable: device fsync:", err)
			os.Exit(1)
		}
		fmt.Printf("ack %d\n", n)
	}
}
