package vpcsim

import (
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// candidateFromPath reads next hop, AS path and MED from a GoBGP path's
// attributes.
func candidateFromPath(attrs []bgp.PathAttributeInterface) (Candidate, bool) {
	var c Candidate
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			c.NextHop = a.Value
		case *bgp.PathAttributeMpReachNLRI:
			if !c.NextHop.IsValid() {
				c.NextHop = a.Nexthop
			}
		case *bgp.PathAttributeMultiExitDisc:
			c.MED = a.Value
		case *bgp.PathAttributeAsPath:
			for _, seg := range a.Value {
				asns := seg.GetAS()
				c.ASPath = append(c.ASPath, asns...)
				// RFC 4271 §9.1.2.2: an AS_SET counts as one.
				if seg.GetType() == bgp.BGP_ASPATH_ATTR_TYPE_SET || seg.GetType() == bgp.BGP_ASPATH_ATTR_TYPE_CONFED_SET {
					c.ASPathLen++
				} else {
					c.ASPathLen += len(asns)
				}
			}
		}
	}
	c.NextHop = c.NextHop.Unmap()
	return c, c.NextHop.IsValid()
}

// partition is the set of peers whose BFD packets the endpoints drop.
type partition struct {
	mu    sync.Mutex
	peers map[netip.Addr]bool
}

func newPartition() *partition { return &partition{peers: map[netip.Addr]bool{}} }

func (p *partition) set(a netip.Addr, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.peers[a.Unmap()] = true
	} else {
		delete(p.peers, a.Unmap())
	}
}

func (p *partition) has(a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peers[a.Unmap()]
}

// listenPacket is the endpoints' BFD socket factory: loopback only, and
// every socket drops traffic to or from a partitioned peer.
func (p *partition) listenPacket(network, address string) (net.PacketConn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("emulated route server: refusing to bind %s: loopback only", address)
	}
	c, err := net.ListenPacket(network, address)
	if err != nil {
		return nil, err
	}
	u, ok := c.(*net.UDPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("emulated route server: %T is not a UDP socket", c)
	}
	return &partitionedConn{UDPConn: u, part: p}, nil
}

// partitionedConn embeds *net.UDPConn so that x/net/ipv4 can still reach the
// file descriptor for TTL and control messages.
type partitionedConn struct {
	*net.UDPConn
	part *partition
}

func (c *partitionedConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if u, ok := addr.(*net.UDPAddr); ok && c.part.has(u.AddrPort().Addr()) {
		return len(b), nil
	}
	return c.UDPConn.WriteTo(b, addr)
}

func (c *partitionedConn) ReadMsgUDPAddrPort(b, oob []byte) (n, oobn, flags int, addr netip.AddrPort, err error) {
	for {
		n, oobn, flags, addr, err = c.UDPConn.ReadMsgUDPAddrPort(b, oob)
		if err != nil || !c.part.has(addr.Addr()) {
			return n, oobn, flags, addr, err
		}
	}
}
