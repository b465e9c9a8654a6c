package kctx

// The boot command line (kernelMain copies it from the PVH start info):
// kernel parameters (unigo.xxx) before "--", then the program's.
var (
	Cmdline    [4096]byte
	CmdlineLen int
)

// ParseUint parses a decimal or 0x-prefixed hexadecimal number that
// fits in 64 bits.
func ParseUint(s []byte) (uint64, bool) {
	base := uint64(10)
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base, s = 16, s[2:]
	}
	if len(s) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range s {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if v > (^uint64(0)-d)/base {
			return 0, false
		}
		v = v*base + d
	}
	return v, true
}

// paramTokenMax is the longest command-line token the lookups read.
const paramTokenMax = 128

// findParam finds the kernel parameter name (NAME or NAME=VALUE, before
// any "--") on the command line and returns its token, unquoted into tok.
func findParam(name string, tok *[paramTokenMax]byte) ([]byte, bool) {
	pos := 0
	for {
		n, more, err := NextToken(Cmdline[:CmdlineLen], &pos, tok[:])
		if err != "" || !more {
			return nil, false
		}
		s := tok[:n]
		if n == 2 && s[0] == '-' && s[1] == '-' {
			return nil, false
		}
		if HasPrefix(s, name) && (len(s) == len(name) || s[len(name)] == '=') {
			return s, true
		}
	}
}

// KernelParam finds the kernel parameter name (NAME or NAME=VALUE, before
// any "--") on the command line and copies its value, truncated to
// len(val), into val.
func KernelParam(name string, val []byte) (n int, ok bool) {
	var tok [paramTokenMax]byte
	s, ok := findParam(name, &tok)
	if !ok || len(s) == len(name) {
		return 0, ok
	}
	return copy(val, s[len(name)+1:]), true
}

// ParamIs reports whether the kernel parameter name is on the command
// line as NAME=val, with exactly that value.
func ParamIs(name, val string) bool {
	var tok [paramTokenMax]byte
	s, ok := findParam(name, &tok)
	return ok && len(s) == len(name)+1+len(val) && HasPrefix(s[len(name)+1:], val)
}

// FlagParam reports whether the boolean kernel parameter name is on: given
// as NAME=1 or as NAME alone. Absent, or with any other value (=0, =10,
// =yes), it is off.
func FlagParam(name string) bool {
	var tok [paramTokenMax]byte
	s, ok := findParam(name, &tok)
	return ok && (len(s) == len(name) || len(s) == len(name)+2 && s[len(name)+1] == '1')
}

// IndexByte is bytes.IndexByte.
func IndexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// HasPrefix is bytes.HasPrefix for a string prefix.
func HasPrefix(b []byte, p string) bool {
	if len(b) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if b[i] != p[i] {
			return false
		}
	}
	return true
}

// isSpace reports a separator, the set abi.Cmdline uses.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// NextToken unquotes the next space-separated token of s (from *pos) into
// dst. Double quotes group, backslash escapes inside quotes.
func NextToken(s []byte, pos *int, dst []byte) (int, bool, string) {
	i := *pos
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) {
		*pos = i
		return 0, false, ""
	}
	n := 0
	inQuote := false
	for ; i < len(s); i++ {
		c := s[i]
		if !inQuote && isSpace(c) {
			break
		}
		if c == '"' {
			inQuote = !inQuote
			continue
		}
		if inQuote && c == '\\' && i+1 < len(s) {
			i++
			c = s[i]
		}
		if n == len(dst) {
			return 0, false, "token too long"
		}
		dst[n] = c
		n++
	}
	if inQuote {
		return 0, false, "unterminated quote"
	}
	*pos = i
	return n, true, ""
}
