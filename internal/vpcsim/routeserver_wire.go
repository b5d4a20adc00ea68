package vpcsim

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// candidateFromPath reads next hop, AS path and MED from a GoBGP path.
func candidateFromPath(p *api.Path) (Candidate, bool) {
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		return Candidate{}, false
	}
	var c Candidate
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			c.NextHop, _ = netip.AddrFromSlice(a.Value)
		case *bgp.PathAttributeMpReachNLRI:
			if !c.NextHop.IsValid() {
				c.NextHop, _ = netip.AddrFromSlice(a.Nexthop)
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

// rsLogger adapts GoBGP's logger to slog; GoBGP's info chatter goes to
// debug, and Fatal is logged instead of exiting the process.
type rsLogger struct{ log *slog.Logger }

var _ gobgplog.Logger = (*rsLogger)(nil)

func (l *rsLogger) Panic(msg string, f gobgplog.Fields) {
	l.emit(slog.LevelError, msg, f)
	panic(msg)
}
func (l *rsLogger) Fatal(msg string, f gobgplog.Fields) { l.emit(slog.LevelError, msg, f) }
func (l *rsLogger) Error(msg string, f gobgplog.Fields) { l.emit(slog.LevelWarn, msg, f) }
func (l *rsLogger) Warn(msg string, f gobgplog.Fields)  { l.emit(slog.LevelWarn, msg, f) }
func (l *rsLogger) Info(msg string, f gobgplog.Fields)  { l.emit(slog.LevelDebug, msg, f) }
func (l *rsLogger) Debug(msg string, f gobgplog.Fields) { l.emit(slog.LevelDebug, msg, f) }

// SetLevel is ignored: the slog handler decides.
func (l *rsLogger) SetLevel(gobgplog.LogLevel) {}

func (l *rsLogger) GetLevel() gobgplog.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}

func (l *rsLogger) emit(level slog.Level, msg string, f gobgplog.Fields) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	args := make([]any, 0, 2*len(keys))
	for _, k := range keys {
		args = append(args, strings.ToLower(k), f[k])
	}
	l.log.Log(context.Background(), level, msg, args...)
}
