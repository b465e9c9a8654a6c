package netstack

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"time"
)

// DHCPv4 messages (RFC 2131 section 2, options RFC 2132): the BOOTP
// fields and options the client builds and reads. Written here rather than
// taken from a DHCP library so that an application's module graph carries
// none (a library brings its own dependencies, and their tests', along).

// BOOTP operations, flags and the options used.
const (
	dhcpBootRequest   = 1
	dhcpBootReply     = 2
	dhcpFlagBroadcast = 0x8000

	dhcpOptPad           = 0
	dhcpOptSubnetMask    = 1
	dhcpOptRouter        = 3
	dhcpOptDNS           = 6
	dhcpOptHostName      = 12
	dhcpOptRequestedIP   = 50
	dhcpOptLeaseTime     = 51
	dhcpOptMessageType   = 53
	dhcpOptServerID      = 54
	dhcpOptParamRequest  = 55
	dhcpOptRenewalTime   = 58
	dhcpOptRebindingTime = 59
	dhcpOptEnd           = 255

	// dhcpHeaderLen is the fixed BOOTP part before the magic cookie;
	// dhcpMinLen is BOOTP's minimum message size, which some servers and
	// relays insist on.
	dhcpHeaderLen = 236
	dhcpMinLen    = 300
)

// dhcpType is a message's type (option 53).
type dhcpType byte

const (
	dhcpDiscover dhcpType = 1
	dhcpOffer    dhcpType = 2
	dhcpRequest  dhcpType = 3
	dhcpAck      dhcpType = 5
	dhcpNak      dhcpType = 6
)

var dhcpMagicCookie = [4]byte{99, 130, 83, 99}

// dhcpParams is the parameter request list the client sends.
var dhcpParams = []byte{dhcpOptSubnetMask, dhcpOptRouter, dhcpOptDNS, dhcpOptHostName,
	dhcpOptLeaseTime, dhcpOptRenewalTime, dhcpOptRebindingTime}

// dhcpMsg is one DHCPv4 message. Invalid addresses marshal as 0.0.0.0.
type dhcpMsg struct {
	op     byte
	xid    uint32
	flags  uint16
	ciaddr netip.Addr // client's address, when renewing
	yiaddr netip.Addr // the address offered
	chaddr net.HardwareAddr
	opts   map[byte][]byte
}

func newDHCPMsg(t dhcpType, mac net.HardwareAddr, xid uint32) *dhcpMsg {
	return &dhcpMsg{op: dhcpBootRequest, xid: xid, chaddr: mac,
		opts: map[byte][]byte{dhcpOptMessageType: {byte(t)}, dhcpOptParamRequest: dhcpParams}}
}

// newDHCPDiscover asks every server for an offer, to be broadcast back.
func newDHCPDiscover(mac net.HardwareAddr) *dhcpMsg {
	m := newDHCPMsg(dhcpDiscover, mac, rand.Uint32())
	m.flags = dhcpFlagBroadcast
	return m
}

// newDHCPRequest takes up an offer (RFC 2131 4.3.2, SELECTING), with
// the offer's transaction ID.
func newDHCPRequest(mac net.HardwareAddr, offer *dhcpMsg) *dhcpMsg {
	m := newDHCPMsg(dhcpRequest, mac, offer.xid)
	m.flags = dhcpFlagBroadcast
	m.setAddr(dhcpOptRequestedIP, offer.yiaddr)
	if id, ok := offer.opts[dhcpOptServerID]; ok {
		m.opts[dhcpOptServerID] = id
	}
	return m
}

// newDHCPRenew asks to extend the lease an ACK gave (RENEWING and
// REBINDING): ciaddr set, no requested address or server identifier, and
// unicast replies.
func newDHCPRenew(mac net.HardwareAddr, ack *dhcpMsg) *dhcpMsg {
	m := newDHCPMsg(dhcpRequest, mac, rand.Uint32())
	m.ciaddr = ack.yiaddr
	return m
}

func (m *dhcpMsg) setAddr(code byte, a netip.Addr) {
	b := a.As4()
	m.opts[code] = b[:]
}

func (m *dhcpMsg) setDuration(code byte, d time.Duration) {
	m.opts[code] = binary.BigEndian.AppendUint32(nil, uint32(d/time.Second))
}

// marshal encodes m: the BOOTP header, the cookie, the message type and
// then the other options in code order, the end option, padding to
// dhcpMinLen.
func (m *dhcpMsg) marshal() []byte {
	b := make([]byte, dhcpHeaderLen, dhcpMinLen)
	b[0] = m.op
	b[1] = 1 // Ethernet
	b[2] = byte(min(len(m.chaddr), 16))
	binary.BigEndian.PutUint32(b[4:], m.xid)
	binary.BigEndian.PutUint16(b[10:], m.flags)
	putAddr4(b[12:], m.ciaddr)
	putAddr4(b[16:], m.yiaddr)
	copy(b[28:44], m.chaddr)
	b = append(b, dhcpMagicCookie[:]...)
	codes := make([]byte, 0, len(m.opts))
	for c := range m.opts {
		if c != dhcpOptMessageType {
			codes = append(codes, c)
		}
	}
	slices.Sort(codes)
	if _, ok := m.opts[dhcpOptMessageType]; ok {
		codes = append([]byte{dhcpOptMessageType}, codes...)
	}
	for _, c := range codes {
		// Values longer than 255 bytes go in several instances (RFC 3396).
		v := m.opts[c]
		for first := true; first || len(v) > 0; first = false {
			n := min(len(v), 255)
			b = append(b, c, byte(n))
			b = append(b, v[:n]...)
			v = v[n:]
		}
	}
	b = append(b, dhcpOptEnd)
	for len(b) < dhcpMinLen {
		b = append(b, dhcpOptPad)
	}
	return b
}

func putAddr4(b []byte, a netip.Addr) {
	if a.Is4() {
		a4 := a.As4()
		copy(b, a4[:])
	}
}

var errDHCPMalformed = errors.New("malformed DHCP message")

// parseDHCP decodes a message. Options after a missing end option are
// accepted; repeated options are concatenated (RFC 3396); the sname and
// file fields are not searched for options (no option overload).
func parseDHCP(b []byte) (*dhcpMsg, error) {
	if len(b) < dhcpHeaderLen+len(dhcpMagicCookie) || [4]byte(b[dhcpHeaderLen:]) != dhcpMagicCookie || b[2] > 16 {
		return nil, errDHCPMalformed
	}
	m := &dhcpMsg{
		op:     b[0],
		xid:    binary.BigEndian.Uint32(b[4:]),
		flags:  binary.BigEndian.Uint16(b[10:]),
		ciaddr: netip.AddrFrom4([4]byte(b[12:16])),
		yiaddr: netip.AddrFrom4([4]byte(b[16:20])),
		chaddr: net.HardwareAddr(slices.Clone(b[28 : 28+int(b[2])])),
		opts:   map[byte][]byte{},
	}
	for o := b[dhcpHeaderLen+len(dhcpMagicCookie):]; len(o) > 0; {
		switch c := o[0]; c {
		case dhcpOptPad:
			o = o[1:]
		case dhcpOptEnd:
			return m, nil
		default:
			if len(o) < 2 || len(o) < 2+int(o[1]) {
				return nil, errDHCPMalformed
			}
			m.opts[c] = append(m.opts[c], o[2:2+int(o[1])]...)
			o = o[2+int(o[1]):]
		}
	}
	return m, nil
}

// msgType is the message type option, 0 without one.
func (m *dhcpMsg) msgType() dhcpType {
	if v := m.opts[dhcpOptMessageType]; len(v) == 1 {
		return dhcpType(v[0])
	}
	return 0
}

// addr is the first address of an address option (a list for routers and
// name servers), invalid if absent or malformed.
func (m *dhcpMsg) addr(code byte) netip.Addr {
	if v := m.opts[code]; len(v) >= 4 && len(v)%4 == 0 {
		return netip.AddrFrom4([4]byte(v))
	}
	return netip.Addr{}
}

// duration is a time option in seconds, def if absent or malformed.
func (m *dhcpMsg) duration(code byte, def time.Duration) time.Duration {
	if v := m.opts[code]; len(v) == 4 {
		return time.Duration(binary.BigEndian.Uint32(v)) * time.Second
	}
	return def
}

// prefixLen is the subnet mask option as a prefix length; ok is false
// without a valid (contiguous) mask.
func (m *dhcpMsg) prefixLen() (int, bool) {
	v := m.opts[dhcpOptSubnetMask]
	if len(v) != 4 {
		return 0, false
	}
	ones, bits := net.IPMask(v).Size()
	return ones, bits == 32 && ones > 0
}

func (m *dhcpMsg) broadcast() bool { return m.flags&dhcpFlagBroadcast != 0 }
