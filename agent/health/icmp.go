package health

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pingGroupRange is the sysctl that allows unprivileged ping sockets.
const pingGroupRange = "/proc/sys/net/ipv4/ping_group_range"

// icmpOpen opens an ICMP socket: network is "udp4"/"udp6" for an
// unprivileged ping socket or "ip4:icmp"/"ip6:ipv6-icmp" for a raw one.
type icmpOpen func(network, address string) (*icmp.PacketConn, error)

// icmpCheck passes when addr answers one ICMP echo request.
type icmpCheck struct {
	addr netip.Addr
	open icmpOpen
}

// NewICMP returns a check that sends one ICMP (or ICMPv6) echo request to
// addr and passes when the matching reply arrives within the timeout. It
// uses an unprivileged ping socket where net.ipv4.ping_group_range lets
// this process's group open one (the sysctl covers IPv6 too), and a raw
// socket otherwise, which needs CAP_NET_RAW. When neither can be opened
// the check fails with an error that says how to allow one.
func NewICMP(addr netip.Addr) (Checker, error) {
	return newICMP(addr, icmp.ListenPacket)
}

func newICMP(addr netip.Addr, open icmpOpen) (Checker, error) {
	if !addr.IsValid() || addr.IsUnspecified() || addr.IsMulticast() {
		return nil, fmt.Errorf("icmp check: %q is not a unicast address", addr)
	}
	if addr.Zone() != "" {
		return nil, fmt.Errorf("icmp check %s: zones are not supported", addr)
	}
	return &icmpCheck{addr: addr.Unmap(), open: open}, nil
}

func (c *icmpCheck) String() string { return "icmp " + c.addr.String() }

// socket opens a ping socket, or a raw one if ping sockets are refused.
// raw reports which one it is.
func (c *icmpCheck) socket() (conn *icmp.PacketConn, raw bool, err error) {
	dgram, rawNet, any := "udp4", "ip4:icmp", "0.0.0.0"
	if c.addr.Is6() {
		dgram, rawNet, any = "udp6", "ip6:ipv6-icmp", "::"
	}
	conn, perr := c.open(dgram, any)
	if perr == nil {
		return conn, false, nil
	}
	conn, rerr := c.open(rawNet, any)
	if rerr == nil {
		return conn, true, nil
	}
	if isPermission(perr) && isPermission(rerr) {
		return nil, false, fmt.Errorf("cannot open an ICMP socket: unprivileged ping sockets are not allowed for group %d "+
			"(net.ipv4.ping_group_range is %q; allow it with sysctl -w net.ipv4.ping_group_range=\"0 2147483647\") "+
			"and a raw socket needs CAP_NET_RAW (root, or AmbientCapabilities=CAP_NET_RAW in the systemd unit): %w",
			os.Getegid(), readPingGroupRange(), rerr)
	}
	return nil, false, fmt.Errorf("open an ICMP socket: ping socket: %v; raw socket: %w", perr, rerr)
}

func isPermission(err error) bool {
	return errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, os.ErrPermission)
}

func readPingGroupRange() string {
	b, err := os.ReadFile(pingGroupRange)
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

func (c *icmpCheck) Check(ctx context.Context) error {
	conn, raw, err := c.socket()
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}

	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return fmt.Errorf("random echo payload: %w", err)
	}
	// On a ping socket the kernel sets the identifier and only delivers
	// replies to our echo; on a raw socket every ICMP packet arrives, so
	// identifier, sequence, source and payload must all match.
	id := int(binary.BigEndian.Uint16(rnd[:2]))
	seq := int(binary.BigEndian.Uint16(rnd[2:4]))
	payload := append([]byte("rsagent "), rnd[4:]...)
	var typ, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1
	if c.addr.Is6() {
		typ, replyType, proto = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: payload}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return fmt.Errorf("build echo request: %w", err)
	}
	var dst net.Addr = &net.IPAddr{IP: c.addr.AsSlice()}
	if !raw {
		dst = &net.UDPAddr{IP: c.addr.AsSlice()}
	}
	if _, err := conn.WriteTo(b, dst); err != nil {
		return fmt.Errorf("send echo request to %s: %w", c.addr, err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			// The socket deadline is the context's, and may fire a moment
			// before the context itself reports it.
			if cerr := ctx.Err(); cerr != nil || errors.Is(err, os.ErrDeadlineExceeded) {
				if cerr == nil {
					cerr = context.DeadlineExceeded
				}
				return fmt.Errorf("no echo reply from %s: %w", c.addr, cerr)
			}
			return fmt.Errorf("read echo reply from %s: %w", c.addr, err)
		}
		if src, ok := addrOf(from); !ok || src != c.addr {
			continue
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != replyType {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok || echo.Seq != seq || !bytes.Equal(echo.Data, payload) || raw && echo.ID != id {
			continue
		}
		return nil
	}
}

func addrOf(a net.Addr) (netip.Addr, bool) {
	var ip net.IP
	switch v := a.(type) {
	case *net.IPAddr:
		ip = v.IP
	case *net.UDPAddr:
		ip = v.IP
	default:
		return netip.Addr{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	return addr.Unmap(), ok
}
