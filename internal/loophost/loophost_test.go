package loophost

import (
	"net"
	"net/netip"
	"testing"
)

func TestStablePortIsOutsideTheEphemeralRangeAndReopens(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}
	lo, hi := ephemeralRange()
	port, err := StablePort("tcp", addrs...)
	if err != nil {
		t.Fatal(err)
	}
	if int(port) >= lo && int(port) <= hi || port < 1024 {
		t.Fatalf("port %d is inside the ephemeral range %d-%d or privileged", port, lo, hi)
	}
	h, err := Open(netip.AddrPortFrom(addrs[0], port))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	dial := func() error {
		c, err := net.Dial("tcp", h.Addr().String())
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(); err != nil {
		t.Fatalf("dial an open listener: %v", err)
	}
	h.Close()
	if err := dial(); err == nil {
		t.Fatal("a closed listener accepted a connection")
	}
	if err := h.Reopen(); err != nil {
		t.Fatalf("reopen on the same port: %v", err)
	}
	if err := dial(); err != nil {
		t.Fatalf("dial the reopened listener: %v", err)
	}
	if _, err := StablePort("udp", addrs...); err != nil {
		t.Errorf("udp: %v", err)
	}
}
