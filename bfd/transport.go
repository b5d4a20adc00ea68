package bfd

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// RFC 5881 §4–5: control packets go to port 3784 from a source port in
// 49152–65535 with TTL/hop limit 255, and a receiver drops anything else.
const (
	DefaultPort   = 3784
	srcPortMin    = 49152
	srcPortMax    = 65535
	gtsmTTL       = 255
	tosNetControl = 0xc0 // CS6, as routing protocols use
	bindAttempts  = 32
)

// ListenPacketFunc creates a UDP socket; tests replace it to create sockets
// inside a network namespace. The returned conn must be a *net.UDPConn (or
// another conn exposing its file descriptor) so TTL options can be set.
type ListenPacketFunc func(network, address string) (net.PacketConn, error)

func defaultListenPacket(network, address string) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(context.Background(), network, address)
}

// received is one datagram with the facts the demultiplexer needs.
type received struct {
	b        []byte
	ttl      int // -1 when the kernel gave no control message
	src, dst netip.Addr
}

// listener is one receiving socket on the BFD port.
type listener struct {
	conn net.PacketConn
	read func(buf []byte) (received, error)
}

func openListener(listen ListenPacketFunc, addr netip.Addr, port int) (*listener, error) {
	network := "udp4"
	if !addr.Unmap().Is4() {
		network = "udp6"
	}
	ap := netip.AddrPortFrom(addr.Unmap(), uint16(port))
	c, err := listen(network, ap.String())
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s: %w", network, ap, err)
	}
	mr, ok := c.(msgReader)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("listen on %s %s: %T cannot read control messages", network, ap, c)
	}
	l := &listener{conn: c}
	if network == "udp4" {
		const flags = ipv4.FlagTTL | ipv4.FlagDst | ipv4.FlagInterface
		if err := ipv4.NewPacketConn(c).SetControlMessage(flags, true); err != nil {
			c.Close()
			return nil, fmt.Errorf("enable IP_RECVTTL on %s: %w", ap, err)
		}
		oob := ipv4.NewControlMessage(flags)
		l.read = func(buf []byte) (received, error) {
			n, oobn, _, src, err := mr.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				return received{}, err
			}
			r := received{b: buf[:n], ttl: -1, src: src.Addr().Unmap()}
			var cm ipv4.ControlMessage
			if oobn > 0 && cm.Parse(oob[:oobn]) == nil {
				r.ttl = cm.TTL
				r.dst, _ = netip.AddrFromSlice(cm.Dst)
				r.dst = r.dst.Unmap()
			}
			return r, nil
		}
	} else {
		const flags = ipv6.FlagHopLimit | ipv6.FlagDst | ipv6.FlagInterface
		if err := ipv6.NewPacketConn(c).SetControlMessage(flags, true); err != nil {
			c.Close()
			return nil, fmt.Errorf("enable IPV6_RECVHOPLIMIT on %s: %w", ap, err)
		}
		oob := ipv6.NewControlMessage(flags)
		l.read = func(buf []byte) (received, error) {
			n, oobn, _, src, err := mr.ReadMsgUDPAddrPort(buf, oob)
			if err != nil {
				return received{}, err
			}
			r := received{b: buf[:n], ttl: -1, src: src.Addr().Unmap()}
			var cm ipv6.ControlMessage
			if oobn > 0 && cm.Parse(oob[:oobn]) == nil {
				r.ttl = cm.HopLimit
				r.dst, _ = netip.AddrFromSlice(cm.Dst)
			}
			return r, nil
		}
	}
	return l, nil
}

// msgReader is implemented by *net.UDPConn and by wrappers that embed it;
// reading through it (rather than ipv4.PacketConn.ReadFrom, which insists
// on the concrete type) keeps the socket factory hook free to wrap conns.
type msgReader interface {
	ReadMsgUDPAddrPort(b, oob []byte) (n, oobn, flags int, addr netip.AddrPort, err error)
}

// openSender creates a session's own socket: bound to the local address (if
// any) and a random source port in 49152–65535, sending with TTL 255.
func openSender(listen ListenPacketFunc, rng *rand.Rand, local, peer netip.Addr) (net.PacketConn, error) {
	network := "udp4"
	if !peer.Unmap().Is4() {
		network = "udp6"
	}
	bindIP := local.Unmap()
	if !bindIP.IsValid() {
		bindIP = netip.IPv4Unspecified()
		if network == "udp6" {
			bindIP = netip.IPv6Unspecified()
		}
	}
	var lastErr error
	for range bindAttempts {
		port := srcPortMin + rng.IntN(srcPortMax-srcPortMin+1)
		ap := netip.AddrPortFrom(bindIP, uint16(port))
		c, err := listen(network, ap.String())
		if err != nil {
			// Most likely the port is taken: try another one.
			lastErr = err
			continue
		}
		if err := setSendTTL(c, network); err != nil {
			c.Close()
			return nil, fmt.Errorf("set TTL 255 on %s: %w", ap, err)
		}
		return c, nil
	}
	return nil, fmt.Errorf("bind a source port in %d-%d on %s after %d attempts: %w", srcPortMin, srcPortMax, bindIP, bindAttempts, lastErr)
}

func setSendTTL(c net.PacketConn, network string) error {
	if network == "udp4" {
		pc := ipv4.NewPacketConn(c)
		if err := pc.SetTTL(gtsmTTL); err != nil {
			return err
		}
		_ = pc.SetTOS(tosNetControl) // best effort: some sandboxes refuse it
		return nil
	}
	pc := ipv6.NewPacketConn(c)
	if err := pc.SetHopLimit(gtsmTTL); err != nil {
		return err
	}
	_ = pc.SetTrafficClass(tosNetControl)
	return nil
}
