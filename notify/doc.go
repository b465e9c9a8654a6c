// Package notify tells the program's supervisor where it is in its life,
// as systemd's sd_notify does: Ready says the program now serves.
//
// Booted by unigo, the report goes to the kernel (abi.SysReady), which
// passes it to the launcher once: `unigo run -status` prints
// "unigo-status: ready" and -ready-file creates its file. Without a call,
// the kernel reports the program ready when its first TCP socket listens;
// a program that must do more first (load data, warm a cache) calls Defer
// early, then Ready when it is done. Run as a Linux process, Ready sends
// "READY=1" to the socket named by $NOTIFY_SOCKET, if set (systemd's
// Type=notify), and Defer does nothing.
package notify
