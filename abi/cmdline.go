package abi

import "strconv"

// Boot command line syntax.
//
// The monitor passes one NUL-terminated string (HVMStartInfo.CmdlinePaddr)
// carrying the program's environment, kernel parameters and arguments:
//
//	GOGC=50 unigo.argv0=hello "MSG=hi there" -- -v "two words" ""
//
// Tokens are separated by spaces, tabs, carriage returns and newlines. Any
// part of a token may be enclosed in double quotes, which keeps whitespace
// in it; inside quotes a backslash takes the next byte literally (\" and
// \\), outside quotes a backslash is an ordinary byte. Before the first
// unquoted "--" token every token must be KEY=VAL, split at its first '=':
// a KEY containing '.' (virtio_mmio.device, unigo.argv0) is a kernel
// parameter, any other KEY is an environment variable. After "--" every
// token, including another "--", is a program argument. A NUL byte ends
// the line.
//
// The guest parses the line before the Go runtime is initialised, so the
// parser allocates nothing: Cmdline is a plain value iterator, decoded
// tokens are written into a buffer the caller provides, and errors are a
// small integer type rather than an interface value. Compose and Parse are
// the host-side (allocating) halves.

// TokenKind classifies a command line token.
type TokenKind uint8

const (
	// TokenEnd means the line is exhausted (or Next returned an error).
	TokenEnd TokenKind = iota
	// TokenEnv is KEY=VAL with a KEY without dots: an environment variable.
	TokenEnv
	// TokenParam is KEY=VAL with a dotted KEY: a kernel parameter.
	TokenParam
	// TokenArg is a program argument (any token after "--").
	TokenArg
)

// CmdlineError is a command line syntax error. It is a plain integer so
// that early boot code can return and compare it without interfaces; it
// implements error for the host.
type CmdlineError uint8

const (
	CmdlineOK CmdlineError = iota
	// ErrCmdlineQuote: a double quote is never closed.
	ErrCmdlineQuote
	// ErrCmdlineNoEquals: a token before "--" is not KEY=VAL.
	ErrCmdlineNoEquals
	// ErrCmdlineEmptyKey: a token before "--" starts with '='.
	ErrCmdlineEmptyKey
	// ErrCmdlineTooLong: the decoded token does not fit the buffer.
	ErrCmdlineTooLong
)

// Error returns a one-line description.
func (e CmdlineError) Error() string {
	switch e {
	case CmdlineOK:
		return "no error"
	case ErrCmdlineQuote:
		return "command line: unterminated double quote"
	case ErrCmdlineNoEquals:
		return "command line: token before -- is not KEY=VAL"
	case ErrCmdlineEmptyKey:
		return "command line: empty KEY in KEY=VAL"
	case ErrCmdlineTooLong:
		return "command line: token longer than the buffer"
	}
	return "command line: unknown error"
}

// Cmdline iterates over the tokens of a command line. The zero value is an
// empty line. It holds the input slice, never copies it.
type Cmdline struct {
	s    []byte
	pos  int
	args bool // past the "--" separator
}

// NewCmdline returns an iterator over s. A NUL byte in s ends the line, so
// s may be the whole buffer a C string lives in.
func NewCmdline(s []byte) Cmdline {
	for i, c := range s {
		if c == 0 {
			s = s[:i]
			break
		}
	}
	return Cmdline{s: s}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// Next decodes the next token into dst and classifies it. n is the number of
// bytes of dst the token used; key and val are subslices of dst[:n] (key is
// nil for TokenArg), so a caller that wants to keep every token passes
// dst[n:] to the following call. At the end of the line Next returns
// TokenEnd with a zero error. On an error kind is TokenEnd and the
// iterator does not advance past the bad token, so every later call
// returns the same error.
func (c *Cmdline) Next(dst []byte) (kind TokenKind, key, val []byte, n int, err CmdlineError) {
	s := c.s
	i := c.pos
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) {
		c.pos = i
		return TokenEnd, nil, nil, 0, CmdlineOK
	}
	start := i
	quoted := false // any part of the token was quoted
	eq := -1        // index in dst of the first '='
	inq := false
	for ; i < len(s); i++ {
		b := s[i]
		if !inq {
			if isSpace(b) {
				break
			}
			if b == '"' {
				inq, quoted = true, true
				continue
			}
		} else {
			if b == '"' {
				inq = false
				continue
			}
			if b == '\\' && i+1 < len(s) {
				i++
				b = s[i]
			}
		}
		if n == len(dst) {
			c.pos = start
			return TokenEnd, nil, nil, 0, ErrCmdlineTooLong
		}
		if b == '=' && eq < 0 {
			eq = n
		}
		dst[n] = b
		n++
	}
	if inq {
		c.pos = start
		return TokenEnd, nil, nil, 0, ErrCmdlineQuote
	}
	tok := dst[:n]
	if c.args {
		c.pos = i
		return TokenArg, nil, tok, n, CmdlineOK
	}
	if !quoted && n == 2 && tok[0] == '-' && tok[1] == '-' {
		c.args = true
		c.pos = i
		return c.Next(dst)
	}
	if eq < 0 {
		c.pos = start
		return TokenEnd, nil, nil, 0, ErrCmdlineNoEquals
	}
	if eq == 0 {
		c.pos = start
		return TokenEnd, nil, nil, 0, ErrCmdlineEmptyKey
	}
	c.pos = i
	kind = TokenEnv
	for _, b := range tok[:eq] {
		if b == '.' {
			kind = TokenParam
			break
		}
	}
	return kind, tok[:eq], tok[eq+1:], n, CmdlineOK
}

// needsQuote reports whether s cannot appear bare in a command line.
func needsQuote(s string) bool {
	if s == "" || s == "--" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) || s[i] == '"' {
			return true
		}
	}
	return false
}

// QuoteArg returns s as a single command line token: s itself when it is
// safe bare, otherwise s in double quotes with '"' and '\' escaped. (NUL
// cannot be represented; Compose rejects it.)
func QuoteArg(s string) string {
	if !needsQuote(s) {
		return s
	}
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(append(b, '"'))
}

// composeError is a host-side Compose error naming the offending entry.
type composeError struct{ what, entry string }

func (e *composeError) Error() string {
	return "command line: " + e.what + ": " + strconv.Quote(e.entry)
}

// Compose builds a command line that parses back to exactly env, kparams
// and args. env entries must be KEY=VAL with a non-empty KEY without dots;
// kparams entries KEY=VAL with a dotted KEY; no string may contain NUL.
func Compose(env, kparams, args []string) (string, error) {
	var b []byte
	add := func(tok string) {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, tok...)
	}
	addKV := func(kv string, param bool) error {
		if hasNUL(kv) {
			return &composeError{"NUL byte", kv}
		}
		i := indexByte(kv, '=')
		if i <= 0 {
			return &composeError{"not KEY=VAL", kv}
		}
		if (indexByte(kv[:i], '.') >= 0) != param {
			if param {
				return &composeError{"kernel parameter KEY without a dot", kv}
			}
			return &composeError{"environment KEY with a dot", kv}
		}
		key := kv[:i]
		if needsQuote(key) {
			// The whole token is quoted; splitting at the first '=' of
			// the decoded text still gives this key.
			add(QuoteArg(kv))
		} else {
			add(key + "=" + quoteVal(kv[i+1:]))
		}
		return nil
	}
	for _, e := range env {
		if err := addKV(e, false); err != nil {
			return "", err
		}
	}
	for _, p := range kparams {
		if err := addKV(p, true); err != nil {
			return "", err
		}
	}
	if len(args) > 0 {
		add("--")
		for _, a := range args {
			if hasNUL(a) {
				return "", &composeError{"NUL byte", a}
			}
			add(QuoteArg(a))
		}
	}
	return string(b), nil
}

// quoteVal quotes a value; unlike a whole token, an empty value is fine
// bare (KEY=) and "--" needs no quotes.
func quoteVal(v string) string {
	if v == "" || v == "--" {
		return v
	}
	return QuoteArg(v)
}

func hasNUL(s string) bool { return indexByte(s, 0) >= 0 }

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// Parse splits a whole command line into environment entries, kernel
// parameters (both as "KEY=VAL") and program arguments. It allocates and is
// for the host and for the guest after the runtime is up.
func Parse(s string) (env, kparams, args []string, err error) {
	c := NewCmdline([]byte(s))
	buf := make([]byte, len(s))
	for {
		kind, key, val, _, e := c.Next(buf)
		if e != CmdlineOK {
			return nil, nil, nil, e
		}
		switch kind {
		case TokenEnd:
			return env, kparams, args, nil
		case TokenEnv:
			env = append(env, string(key)+"="+string(val))
		case TokenParam:
			kparams = append(kparams, string(key)+"="+string(val))
		case TokenArg:
			args = append(args, string(val))
		}
	}
}

// MaxCPUs is the most CPUs the guest kernel starts (kernel/smp.go
// maxCPUs); the launcher refuses more.
const MaxCPUs = 64

// What the guest kernel keeps of its command line (kernel/boot.go,
// kernel/start.go); beyond these it would drop tokens silently, so the
// launcher refuses such a line (CheckLimits).
const (
	CmdlineMaxBytes = 4095
	CmdlineMaxArgs  = 254 // program arguments, after argv[0]
	CmdlineMaxEnv   = 255
)

// CheckLimits reports a composed command line with nenv environment
// variables and nargs program arguments that the guest cannot keep whole.
func CheckLimits(cmdline string, nenv, nargs int) error {
	over := func(what string, n, max int) error {
		return limitError(what + " " + strconv.Itoa(n) + ", the guest keeps at most " + strconv.Itoa(max))
	}
	switch {
	case len(cmdline) > CmdlineMaxBytes:
		return over("guest command line: bytes", len(cmdline), CmdlineMaxBytes)
	case nargs > CmdlineMaxArgs:
		return over("guest command line: arguments", nargs, CmdlineMaxArgs)
	case nenv > CmdlineMaxEnv:
		return over("guest command line: environment variables", nenv, CmdlineMaxEnv)
	}
	return nil
}

type limitError string

func (e limitError) Error() string { return string(e) }
