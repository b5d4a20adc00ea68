// Package loophost is a pretend service on a loopback address for the lab,
// tests and benchmarks: a TCP listener that accepts and drops connections,
// which is closed ("the service died") and reopened on the same port, and
// StablePort, which finds ports that can be given up and taken back safely.
// Production code does not import it.
package loophost

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Listener is a TCP service on one address and port that can be closed and
// reopened.
type Listener struct {
	addr netip.AddrPort

	mu sync.Mutex
	l  net.Listener
	wg sync.WaitGroup
}

// Open listens on addr (a fixed port: use StablePort) and accepts and drops
// every connection until Close.
func Open(addr netip.AddrPort) (*Listener, error) {
	h := &Listener{addr: addr}
	if err := h.Reopen(); err != nil {
		return nil, err
	}
	return h, nil
}

// Addr is the listener's address.
func (h *Listener) Addr() netip.AddrPort { return h.addr }

// Reopen listens again after Close; it does nothing while open.
func (h *Listener) Reopen() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.l != nil {
		return nil
	}
	l, err := net.Listen("tcp", h.addr.String())
	if err != nil {
		return fmt.Errorf("open listener %s: %w", h.addr, err)
	}
	h.l = l
	h.wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	return nil
}

// Close stops listening: connections are refused until Reopen.
func (h *Listener) Close() {
	h.mu.Lock()
	l := h.l
	h.l = nil
	h.mu.Unlock()
	if l != nil {
		l.Close()
		h.wg.Wait()
	}
}

// ephemeralRange is the kernel's range for ports it picks itself
// (outgoing connections, port 0 binds).
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999 // Linux's default
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) == 2 {
		l, err1 := strconv.Atoi(f[0])
		h, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil && l <= h {
			return l, h
		}
	}
	return lo, hi
}

// StablePort finds a port free for network ("tcp" or "udp") on every one of
// addrs, outside the kernel's ephemeral range. A port from the ephemeral
// range that is given up (closed to simulate a failure, or probed and
// closed before a daemon binds it) can meanwhile be handed to an outgoing
// connection — one in 25 lab runs failed with "bind: address already in
// use" — while a port outside it is only ever taken by an explicit bind.
func StablePort(network string, addrs ...netip.Addr) (uint16, error) {
	lo, hi := ephemeralRange()
	// Above 1023 (no privilege needed), below the range if there is room,
	// else above it.
	from, to := 10000, lo-1
	if to-from < 1000 {
		from, to = hi+1, 65535
	}
	if to < from {
		return 0, fmt.Errorf("no ports outside the ephemeral range %d-%d", lo, hi)
	}
	for range 200 {
		port := uint16(from + rand.IntN(to-from+1))
		if free(network, port, addrs) {
			return port, nil
		}
	}
	return 0, fmt.Errorf("no %s port free on all of %v in %d-%d", network, addrs, from, to)
}

func free(network string, port uint16, addrs []netip.Addr) bool {
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a, port).String()
		switch network {
		case "tcp":
			l, err := net.Listen("tcp", ap)
			if err != nil {
				return false
			}
			closers = append(closers, l.Close)
		default:
			c, err := net.ListenPacket("udp", ap)
			if err != nil {
				return false
			}
			closers = append(closers, c.Close)
		}
	}
	return true
}
