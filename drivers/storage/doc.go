// Package storage attaches the VM's storage devices to the program's file
// system when it starts, through the kernel's file channel
// (drivers/fsserve): each virtio-blk disk becomes a block device file,
// /dev/vda, /dev/vdb, ... in the order the devices are listed
// (storage.go), and each virtio-9p volume is mounted at the guest path its
// mount tag names (volumes.go). unigo build links it into every program
// that uses package os. As a Linux process (no unigo kernel) it does
// nothing, and unigo.storage=0 on the kernel command line makes it do
// nothing (for a program that drives the devices itself). Errors are
// reported on stderr, one line each; the program starts regardless.
package storage
