package health

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/icmp"

	"github.com/rsagent/rsagent/internal/netns"
)

// recordingOpen wraps an opener and remembers which networks opened.
type recordingOpen struct {
	open   icmpOpen
	mu     sync.Mutex
	opened []string
}

func (r *recordingOpen) fn(network, address string) (*icmp.PacketConn, error) {
	c, err := r.open(network, address)
	if err == nil {
		r.mu.Lock()
		r.opened = append(r.opened, network)
		r.mu.Unlock()
	}
	return c, err
}

func checkOnce(t *testing.T, c Checker, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.Check(ctx)
}

// The check pings 127.0.0.1 with whatever this process may open: a ping
// socket where ping_group_range allows it, a raw socket otherwise.
func TestICMPCheckAnswersFromLoopback(t *testing.T) {
	rec := &recordingOpen{open: icmp.ListenPacket}
	c, err := newICMP(netip.MustParseAddr("127.0.0.1"), rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != "icmp 127.0.0.1" {
		t.Errorf("String() = %q", c.String())
	}
	err = checkOnce(t, c, 2*time.Second)
	if err != nil && strings.Contains(err.Error(), "cannot open an ICMP socket") && os.Getenv(netns.RequireEnv) != "1" {
		t.Skipf("skipping: this process may open neither a ping nor a raw socket (%v); set %s=1 to make this a failure", err, netns.RequireEnv)
	}
	if err != nil {
		t.Fatalf("ping 127.0.0.1: %v", err)
	}
	t.Logf("127.0.0.1 answered over %v (ping_group_range %q, euid %d)", rec.opened, readPingGroupRange(), os.Geteuid())
	if len(rec.opened) != 1 {
		t.Errorf("opened %v, want one socket per check", rec.opened)
	}
	t.Run("and ::1 over ICMPv6", func(t *testing.T) {
		c6, err := NewICMP(netip.MustParseAddr("::1"))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkOnce(t, c6, 2*time.Second); err != nil {
			if strings.Contains(err.Error(), "address family not supported") || strings.Contains(err.Error(), "cannot assign") {
				t.Skipf("no IPv6 loopback here: %v", err)
			}
			t.Fatalf("ping ::1: %v", err)
		}
	})
}

func TestICMPCheckFailsWhenTheHostIsUnreachable(t *testing.T) {
	c, err := NewICMP(netip.MustParseAddr("198.51.100.77"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = checkOnce(t, c, 300*time.Millisecond)
	if err == nil {
		t.Fatal("an address nobody holds answered")
	}
	if strings.Contains(err.Error(), "cannot open an ICMP socket") {
		t.Skipf("skipping: no ICMP socket here: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v with a 300ms timeout", d)
	}
	t.Logf("error: %v", err)
}

func TestICMPCheckSaysHowToAllowASocket(t *testing.T) {
	denied := func(network, address string) (*icmp.PacketConn, error) {
		return nil, fmt.Errorf("listen %s: %w", network, syscall.EACCES)
	}
	c, err := newICMP(netip.MustParseAddr("127.0.0.1"), denied)
	if err != nil {
		t.Fatal(err)
	}
	err = checkOnce(t, c, time.Second)
	for _, want := range []string{"ping_group_range", "CAP_NET_RAW", "sysctl -w"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestNewICMPRefusesNonUnicast(t *testing.T) {
	for _, a := range []string{"0.0.0.0", "224.0.0.1", "::"} {
		if _, err := NewICMP(netip.MustParseAddr(a)); err == nil {
			t.Errorf("NewICMP(%s) accepted", a)
		}
	}
}

// With ping_group_range opened to every group (in a namespace of its own,
// so the host's setting is untouched), the check uses an unprivileged ping
// socket rather than a raw one.
func TestICMPCheckUsesAPingSocketWhereAllowed(t *testing.T) {
	netns.Require(t, "ip", "sysctl")
	ns := netns.New(t)
	if out, err := ns.Exec(context.Background(), "sysctl", "-w", "net.ipv4.ping_group_range=0 2147483647"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	rec := &recordingOpen{open: func(network, address string) (c *icmp.PacketConn, err error) {
		if derr := ns.Do(func() error { c, err = icmp.ListenPacket(network, address); return nil }); derr != nil {
			return nil, derr
		}
		return c, err
	}}
	c, err := newICMP(netip.MustParseAddr("127.0.0.1"), rec.fn)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkOnce(t, c, 2*time.Second); err != nil {
		t.Fatalf("ping 127.0.0.1 in %s: %v", ns.Name, err)
	}
	if len(rec.opened) != 1 || rec.opened[0] != "udp4" {
		t.Fatalf("opened %v, want the ping socket (udp4)", rec.opened)
	}
}

// A host that drops echo requests (an nft rule in a namespace of its own)
// fails the check at the timeout, not before and not much after.
func TestICMPCheckTimesOutWhenTheHostDropsPings(t *testing.T) {
	netns.Require(t, "ip", "nft")
	ns := netns.New(t)
	script := "add table inet icmpdrop\n" +
		"add chain inet icmpdrop in { type filter hook input priority 0 ; }\n" +
		"add rule inet icmpdrop in icmp type echo-request drop\n"
	cmdOut, err := ns.Exec(context.Background(), "sh", "-c", "printf '"+script+"' | nft -f -")
	if err != nil {
		t.Fatalf("nft: %v: %s", err, cmdOut)
	}
	open := func(network, address string) (c *icmp.PacketConn, err error) {
		if derr := ns.Do(func() error { c, err = icmp.ListenPacket(network, address); return nil }); derr != nil {
			return nil, derr
		}
		return c, err
	}
	c, err := newICMP(netip.MustParseAddr("127.0.0.1"), open)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = checkOnce(t, c, 300*time.Millisecond)
	d := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "no echo reply") {
		t.Fatalf("check = %v, want no echo reply", err)
	}
	if d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("failed after %v with a 300ms timeout", d)
	}
}
