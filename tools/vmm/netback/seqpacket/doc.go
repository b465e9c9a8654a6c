// Package seqpacket reads and writes a non-blocking SOCK_SEQPACKET
// socket one message at a time, as the user-mode network's frames cross
// it (one Ethernet frame per message), while taking a burst of waiting
// messages in one system call (recvmmsg) and handing them out one by
// one, and sending a burst its writer queued in one (sendmmsg). Both
// ends of the launcher's socket to its network process use it: a frame
// costs a system call per hop, a burst of them one.
//
// A Conn keeps message boundaries: each Read returns one message, never
// part of two. An empty message means the peer closed its end (a frame
// is never empty), so Read returns io.EOF for it and Write and Queue
// refuse one. Reads and writes block through the Go runtime's poller;
// one goroutine reads, another may write.
package seqpacket
