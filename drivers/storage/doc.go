// Package storage serves the VM's storage devices to the program's file
// system through the kernel's file channel (drivers/fsserve): virtio-9p
// volumes (volumes.go) mounted at the guest path their mount tag names.
// A program gets them by importing the package for its side effects.
package storage
