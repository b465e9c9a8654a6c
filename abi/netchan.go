package abi

// The netstack channel ABI: what package netstack (ordinary Go code, not
// kernel context) and the kernel's socket layer exchange. The netstack
// calls the private system calls below with syscall.Syscall6; the
// kernel's side is kernel/socket/netchan.go. Everything here is plain
// data, so the netstack may share it without pulling kernel code into its
// own.
//
// Protocol. The netstack calls SysNetAttach once; it returns a
// descriptor that polls readable while some socket is dirty. read(2) on
// it fills whole NetEvent records, one per dirty socket, and clears what
// they report. For each event the netstack:
//   - NetEvCreate: makes an endpoint for (Domain, Type, Proto);
//   - NetEvRequest: performs Req (NetReqBind/Listen/Connect with Addr and
//     Arg) and answers with SysNetReply(id, errno, local address); for a
//     stream connect, errno EINPROGRESS means "started", and the outcome
//     follows with SysNetState;
//   - NetEvTx: pulls queued bytes or datagrams with SysNetTx and sends
//     them;
//   - NetEvRxSpace: the receive buffer has room: push more with SysNetRx;
//   - NetEvAccept: a listener's accept queue has room: SysNetAccept more;
//   - NetEvShutdown: Shut has NetShutRd/NetShutWr (send FIN after the
//     queued bytes);
//   - NetEvOpts: apply Opts;
//   - NetEvClose: the program closed the socket: flush queued bytes,
//     close the endpoint, wait until the peer has acknowledged everything
//     including the FIN (giving up once the peer has taken nothing for
//     ExitLinger), then SysNetRelease(id);
//     the id is dead after. exit_group waits for every release (see
//     netFlushAtExit), so what a program wrote before it exited reaches
//     the peer, as it would from a Linux process.
//
// Events coalesce: a socket is reported once however often it was marked
// dirty since the last read, with the union of its bits.
const (
	SysNetAttach  = 0x1100 // () -> fd
	SysNetReply   = 0x1101 // (id, errno, *addr, addrlen) -> 0
	SysNetState   = 0x1102 // (id, NetSt*, errno, *local, *remote, addrlen) -> 0
	SysNetRx      = 0x1103 // (id, buf, n, *from, fromlen) -> bytes taken
	SysNetTx      = 0x1104 // (id, buf, n, *to, *tolen) -> bytes given
	SysNetAccept  = 0x1105 // (listener id, *local, *remote, addrlen) -> new id
	SysNetRelease = 0x1106 // (id) -> 0
)

// ExitLinger is how long (ns) the netstack keeps a closed stream socket
// whose peer acknowledges nothing before it releases it anyway: a peer
// that stopped reading delays exit_group by that much, one that reads
// slowly for as long as it keeps reading (up to the kernel's
// exitFlushMax).
const ExitLinger = 2e9

// NetEvent bits.
const (
	NetEvCreate   = 1 << iota // new socket
	NetEvRequest              // Req waits for SysNetReply
	NetEvTx                   // bytes or datagrams to send
	NetEvRxSpace              // room to receive again
	NetEvAccept               // accept queue has room again
	NetEvShutdown             // see Shut
	NetEvClose                // the program closed the socket
	NetEvOpts                 // options changed; see Opts
)

// Requests.
const (
	NetReqBind    = 1
	NetReqListen  = 2
	NetReqConnect = 3
)

// SysNetState kinds.
const (
	NetStConnected = 1 // a started connect succeeded; addresses given
	NetStEOF       = 2 // the peer sent FIN: reads return 0 once drained
	NetStError     = 3 // the connection failed or was reset (errno given)
	NetStAddrs     = 4 // update the local (and remote) address only
)

// Shutdown bits in NetEvent.Shut.
const (
	NetShutRd = 1
	NetShutWr = 2
)

// SockOpts are a socket's options as the program set them.
type SockOpts struct {
	ReuseAddr  int32
	ReusePort  int32
	KeepAlive  int32
	NoDelay    int32
	KeepIdle   int32 // seconds
	KeepIntvl  int32 // seconds
	KeepCnt    int32
	RcvBuf     int32
	SndBuf     int32
	LingerOn   int32
	LingerSec  int32
	V6Only     int32
	Broadcast  int32
	UserTimeo  int32 // TCP_USER_TIMEOUT, ms
	TTL        int32
	TOS        int32
	RcvTimeoNS int64
	SndTimeoNS int64
	PMTUDisc   int32 // IP_MTU_DISCOVER + 1 (0: not set, Linux's default IP_PMTUDISC_WANT)
	PMTUDisc6  int32 // IPV6_MTU_DISCOVER + 1 (0: not set)
}

// NetEvent is one record read from the channel.
type NetEvent struct {
	ID      uint64
	Pend    uint32 // NetEv* bits
	Req     uint32 // NetReq* when Pend has NetEvRequest
	Domain  uint16
	Type    uint16
	Proto   uint16
	_       uint16
	Shut    uint32 // NetShut* bits (cumulative)
	Arg     int64  // listen backlog
	AddrLen uint32
	Addr    [112]byte // bind/connect address (struct sockaddr)
	_       uint32
	Opts    SockOpts
}
