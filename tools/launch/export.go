package launch

// Names the CLI's other commands (test, exec, stdtest, oci, doctor) share
// with run.

// Runners `unigo run -runner` and `unigo test -runner` accept.
const (
	RunnerLauncher = runnerLauncher
	RunnerQEMU     = runnerQEMU
)

// Exit statuses of `unigo run` besides the guest's own exit code.
const (
	ExitTimeout  = exitTimeout
	ExitLauncher = exitLauncher
	ExitSIGINT   = exitSIGINT
	ExitSIGQUIT  = exitSIGQUIT
	ExitSIGTERM  = exitSIGTERM
)

// ParseMemSize parses a memory size as -m does.
func ParseMemSize(s string) (uint64, error) { return parseMemSize(s) }

// SplitGuestArgs splits a command line at its first lone "--".
func SplitGuestArgs(args []string) (own, guest []string) { return splitGuestArgs(args) }

// FirstLineOf keeps an error report to one line.
func FirstLineOf(s string) string { return firstLineOf(s) }

// UnwrapPathError drops the "open" prefix noise of *os.PathError.
func UnwrapPathError(err error) error { return unwrapPathError(err) }
