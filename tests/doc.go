// Package tests holds unigo's end-to-end tests: small guest programs (under
// guests/, plus the programs in examples/) built into images with
// `unigo build` and run by every runner, each run checked for its exit code
// and output. It is a module of its own, as it imports the tools module,
// which the library module must not require.
//
// The test table is scenarios × runners:
//
//   - native: executes the image directly as a Linux process. An image is a
//     valid static Linux executable, so this checks the program and the
//     harness without booting anything.
//   - qemu: boots the image under qemu-system-x86_64 -M microvm through its
//     PVH entry note, with isa-debug-exit at 0xf4 carrying the exit code.
//     Uses KVM when /dev/kvm is usable and falls back to TCG (logged).
//   - launcher: boots the image under the bundled KVM launcher, `unigo run`.
//
// TestMain builds the unigo CLI into a temporary directory once, then builds
// each guest once with `unigo build`; a build failure fails the whole run.
//
// # Runners and skips
//
// One runner's scenarios, or one scenario, run alone with -run:
//
//	go -C tests test . -run 'TestScenarios/qemu/fileio' -v
//
// Under QEMU without a /dev/kvm that can run the kernel (none, or a PVM
// host), the qemu runner uses TCG and multiplies timeouts by tcgSlowdown.
//
// A boot runner skips (with the reason) on a machine that lacks what it
// needs: qemu-system-x86_64 on PATH for qemu, a usable /dev/kvm for the
// launcher.
//
// # Probe: a runner that cannot boot fails fast
//
// A runner that is present but cannot boot the kernel at all on this host
// (a guest that hangs at boot, say) does not sit out a timeout per test:
// before its first test, runner.check boots examples/hello under it once,
// with the probe `unigo doctor` uses (tools/probe), and if that fails,
// every test of the runner fails at once with the probe's one line, e.g.
//
//	the launcher runner cannot boot on this host (unigo doctor's probe): launcher: FAILED: no exit after 30s; last output: "..."
//
// Host detection (what /dev/kvm is, QEMU's presence, the QEMU command
// line) comes from tools/probe too, so the tests and `unigo doctor` agree.
//
// # Boot command line
//
// Under QEMU, arguments and environment reach the guest through the PVH
// command line (-append), composed with abi.Compose, the same syntax the
// kernel parses and `unigo run` writes.
//
// # Devices
//
// A scenario's qemuArgs add QEMU devices (the virtio scenarios add
// virtio-rng and virtio-net with user networking), its launcherArgs the
// launcher's (-rng for virtio-rng); its skip map names runners it cannot
// run under and why (natively there are no devices; the virtionet checks
// name QEMU's user-network gateway). TestVirtionetTAP, root only,
// boots the virtio-net guest against a TAP device in a fresh network
// namespace, where offloads and multiqueue are offered.
//
// TestBootRunnersRawGuests boots hand-assembled PVH guests (no kernel) to
// check the monitor command lines and exit-status decoding on their own.
//
// Benchmarks (BenchmarkBoot) measure one build-free run of a trivial image,
// start to exit, per runner.
package tests
