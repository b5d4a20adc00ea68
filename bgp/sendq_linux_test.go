package bgp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/netns"
)

func addrPorts(c net.Conn) (local, remote netip.AddrPort) {
	return c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort()
}

func TestUnackedBytesFindsTheConnection(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	defer peer.Close()
	if _, err := c.Write(make([]byte, 4000)); err != nil {
		t.Fatal(err)
	}
	local, remote := addrPorts(c)
	// The peer's kernel acknowledges without the peer reading: ack ≠ read.
	netns.WaitFor(t, 5*time.Second, "the write acknowledged", func() error {
		n, err := unackedBytes(local, remote)
		if err != nil {
			return err
		}
		if n != 0 {
			return fmt.Errorf("%d bytes unacknowledged", n)
		}
		return nil
	})
	// The same ports the other way round are the peer's socket, not ours.
	if _, err := unackedBytes(remote, local); err != nil {
		t.Fatalf("the accepted side's socket: %v", err)
	}
	if _, err := unackedBytes(local, netip.AddrPortFrom(remote.Addr(), remote.Port()+1)); !errors.Is(err, errSocketGone) {
		t.Fatalf("a 4-tuple nobody uses: %v, want errSocketGone", err)
	}
}

// TestUnackedBytesSeesAHeldPath proves the point of the check: with the path
// to the peer dropped, a write succeeds (the kernel buffers it) but stays
// unacknowledged until the path heals.
func TestUnackedBytesSeesAHeldPath(t *testing.T) {
	netns.Require(t, "ip", "nft")
	a, b := netns.New(t), netns.New(t)
	aAddr, bAddr := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	aIf, _ := netns.Link(t, a, b, netip.PrefixFrom(aAddr, 30), netip.PrefixFrom(bAddr, 30))
	ln, err := b.Listen("tcp4", bAddr.String()+":1179")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			<-t.Context().Done()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	c, err := a.DialContext(ctx, "tcp4", bAddr.String()+":1179")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local, remote := addrPorts(c)
	unacked := func() (n uint32) {
		t.Helper()
		err := a.Do(func() (err error) { n, err = unackedBytes(local, remote); return err })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	a.DropAll(t, aIf)
	if _, err := c.Write(make([]byte, 100)); err != nil {
		t.Fatalf("write with the path held: %v", err)
	}
	if n := unacked(); n != 100 {
		t.Fatalf("%d bytes unacknowledged with the path held, want 100", n)
	}
	a.Undrop(t)
	netns.WaitFor(t, 10*time.Second, "the write acknowledged after the heal", func() error {
		if n := unacked(); n != 0 {
			return fmt.Errorf("%d bytes unacknowledged", n)
		}
		return nil
	})
}
