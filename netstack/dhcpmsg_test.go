package netstack

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDHCPDiscoverWire checks a DISCOVER byte by byte where RFC 2131 fixes
// the layout: BOOTP request over Ethernet, the broadcast flag, the MAC in
// chaddr, the cookie, the message type first, the end option and BOOTP's
// 300-byte minimum.
func TestDHCPDiscoverWire(t *testing.T) {
	mac := net.HardwareAddr(testClientMAC)
	m := newDHCPDiscover(mac)
	b := m.marshal()
	require.Len(t, b, dhcpMinLen)
	assert.Equal(t, []byte{dhcpBootRequest, 1, 6, 0}, b[:4])
	assert.Equal(t, []byte{0x80, 0}, b[10:12], "broadcast flag")
	assert.Equal(t, []byte(mac), b[28:34])
	assert.Equal(t, dhcpMagicCookie[:], b[236:240])
	assert.Equal(t, []byte{dhcpOptMessageType, 1, byte(dhcpDiscover)}, b[240:243])
	assert.Equal(t, []byte{dhcpOptParamRequest, byte(len(dhcpParams))}, b[243:245])
	end := 245 + len(dhcpParams)
	assert.Equal(t, byte(dhcpOptEnd), b[end])
	assert.Equal(t, make([]byte, dhcpMinLen-end-1), b[end+1:], "padding")
}

// TestDHCPRoundTrip: what marshal writes, parseDHCP reads back, including
// an option longer than 255 bytes (split and joined, RFC 3396).
func TestDHCPRoundTrip(t *testing.T) {
	offer := &dhcpMsg{op: dhcpBootReply, xid: 0x12345678, yiaddr: netip.MustParseAddr("10.0.2.15"),
		chaddr: net.HardwareAddr(testClientMAC), opts: map[byte][]byte{dhcpOptMessageType: {byte(dhcpOffer)}}}
	offer.setAddr(dhcpOptServerID, netip.MustParseAddr("10.0.2.2"))
	offer.setDuration(dhcpOptLeaseTime, 90*time.Second)
	offer.opts[dhcpOptDNS] = []byte{10, 0, 2, 3, 8, 8, 8, 8}
	offer.opts[200] = bytes.Repeat([]byte{7}, 300)
	got, err := parseDHCP(offer.marshal())
	require.NoError(t, err)
	assert.Equal(t, offer.xid, got.xid)
	assert.Equal(t, dhcpOffer, got.msgType())
	assert.Equal(t, offer.yiaddr, got.yiaddr)
	assert.Equal(t, offer.chaddr, got.chaddr)
	assert.Equal(t, netip.MustParseAddr("10.0.2.3"), got.addr(dhcpOptDNS), "the first of a list")
	assert.Equal(t, 90*time.Second, got.duration(dhcpOptLeaseTime, 0))
	assert.Equal(t, offer.opts[200], got.opts[200])

	req := newDHCPRequest(net.HardwareAddr(testClientMAC), got)
	assert.Equal(t, offer.xid, req.xid, "the offer's transaction")
	assert.True(t, req.broadcast())
	assert.Equal(t, netip.MustParseAddr("10.0.2.15"), req.addr(dhcpOptRequestedIP))
	assert.Equal(t, netip.MustParseAddr("10.0.2.2"), req.addr(dhcpOptServerID))
	renew := newDHCPRenew(net.HardwareAddr(testClientMAC), got)
	assert.Equal(t, netip.MustParseAddr("10.0.2.15"), renew.ciaddr)
	assert.False(t, renew.broadcast())
	assert.NotContains(t, renew.opts, byte(dhcpOptServerID))
}

func TestParseDHCPRejects(t *testing.T) {
	good := newDHCPDiscover(net.HardwareAddr(testClientMAC)).marshal()
	for name, b := range map[string][]byte{
		"short":        good[:239],
		"no cookie":    append(append([]byte{}, good[:236]...), 1, 2, 3, 4),
		"hlen":         append([]byte{1, 1, 17}, good[3:]...),
		"option cut":   append(append([]byte{}, good[:240]...), dhcpOptHostName, 10, 'a'),
		"length alone": append(append([]byte{}, good[:240]...), dhcpOptHostName),
	} {
		_, err := parseDHCP(b)
		assert.ErrorIs(t, err, errDHCPMalformed, name)
	}
	m, err := parseDHCP(good[:240])
	require.NoError(t, err, "no options at all")
	assert.Equal(t, dhcpType(0), m.msgType())
}
