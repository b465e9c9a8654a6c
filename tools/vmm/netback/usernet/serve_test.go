package usernet

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"

	"github.com/unigo-os/unigo/tools/vmm/netback"
	"github.com/unigo-os/unigo/tools/vmm/netback/seqpacket"
)

// devicePair is a non-blocking SOCK_SEQPACKET socketpair: the device's
// end and the end Serve gets, as the launcher and unigo-net share.
func devicePair(t *testing.T) (dev, sw *os.File) {
	dev, sw, err := seqpacket.Pair("dev", "sw")
	require.NoError(t, err)
	t.Cleanup(func() { dev.Close(); sw.Close() })
	return dev, sw
}

// arpForGateway is the guest asking who has the gateway's address.
func arpForGateway() []byte {
	a := header.ARP(make([]byte, header.ARPSize))
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPRequest)
	copy(a.HardwareAddressSender(), netback.UserGuestMAC)
	copy(a.ProtocolAddressSender(), fzGuest.AsSlice())
	copy(a.ProtocolAddressTarget(), fzGateway.AsSlice())
	return fzEth(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, header.ARPProtocolNumber, a)
}

// TestServe: a User made by New serves the socket Serve is given: the
// gateway answers the device's ARP there; one device at a time; the
// device's end closing ends Serve without error; New's User has no
// in-process device.
func TestServe(t *testing.T) {
	u, err := New(nil, netback.UserPolicy{})
	require.NoError(t, err)
	defer u.Close()
	_, err = u.ReadFrame(make([]byte, 2048))
	assert.ErrorIs(t, err, errNoDevice)
	assert.ErrorIs(t, u.WriteFrame(arpForGateway()), errNoDevice)

	dev, sw := devicePair(t)
	served := make(chan error, 1)
	go func() { served <- u.Serve(sw) }()
	_, err = dev.Write(arpForGateway())
	require.NoError(t, err)
	require.NoError(t, dev.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 2048)
	n, err := dev.Read(buf)
	require.NoError(t, err)
	eth := header.Ethernet(buf[:n])
	require.Equal(t, header.ARPProtocolNumber, eth.Type())
	reply := header.ARP(buf[header.EthernetMinimumSize:n])
	assert.Equal(t, header.ARPReply, reply.Op())
	assert.Equal(t, tcpip.LinkAddress(fzGWMAC), tcpip.LinkAddress(reply.HardwareAddressSender()))

	_, other := devicePair(t)
	assert.ErrorContains(t, u.Serve(other), "already attached")

	dev.Close()
	select {
	case err := <-served:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not end at the device's EOF")
	}
}

// TestServeClose: Close ends a Serve whose device is still there.
func TestServeClose(t *testing.T) {
	u, err := New(nil, netback.UserPolicy{})
	require.NoError(t, err)
	_, sw := devicePair(t)
	served := make(chan error, 1)
	go func() { served <- u.Serve(sw) }()
	time.Sleep(50 * time.Millisecond)
	u.Close()
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end Serve")
	}
}

// TestServeRestrict: under restrict the port drops the device's DNS to
// the gateway (the gateway would ask the host's resolver); unrestricted,
// the gateway answers it.
func TestServeRestrict(t *testing.T) {
	q := new(dns.Msg)
	q.SetQuestion("gateway.unigo.internal.", dns.TypeA)
	wire, err := q.Pack()
	require.NoError(t, err)
	query := fzUDP(fzGWMAC, fzGuest, fzGateway, 5353, 53, wire)
	for _, restrict := range []bool{false, true} {
		u, err := New(nil, netback.UserPolicy{Restrict: restrict})
		require.NoError(t, err)
		dev, sw := devicePair(t)
		go u.Serve(sw)
		// The gateway learns the device's MAC from its first frame.
		for _, f := range [][]byte{arpForGateway(), query} {
			_, err = dev.Write(f)
			require.NoError(t, err)
		}
		answered := false
		buf := make([]byte, 4096)
		require.NoError(t, dev.SetReadDeadline(time.Now().Add(2*time.Second)))
		for {
			n, err := dev.Read(buf)
			if err != nil {
				break
			}
			f := buf[:n]
			if header.Ethernet(f).Type() == header.IPv4ProtocolNumber {
				ip := header.IPv4(f[header.EthernetMinimumSize:])
				if ip.Protocol() == uint8(header.UDPProtocolNumber) && header.UDP(ip.Payload()).SourcePort() == 53 {
					answered = true
					break
				}
			}
		}
		assert.Equal(t, !restrict, answered, "restrict %v", restrict)
		u.Close()
	}
}
