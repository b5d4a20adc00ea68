package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/loophost"
	"github.com/rsagent/rsagent/internal/vpcsim"
	"github.com/rsagent/rsagent/internal/vpcsim/vpcsimtest"
)

// TestOwnerCopiesAtOnceWhenRouteServerMovesTheRouteToIt isolates the
// owner-first trigger at production timings: the reconciler's interval is an
// hour, so only the UPDATE Route Server sends when it moves a best path can
// start the pass that copies the route the moment it points at us.
//
// Two agents (as an HA pair, in one process) peer with the emulated Route
// Server: B announces the prefix plainly and is chosen, A announces it with
// a prepend and runs the reconciler (defer_others: never, so B's route is
// left alone). B's maintenance file then withdraws it; Route Server moves the
// route to A and sends A the withdrawal of B's path.
//
// The members have different ASNs. With one ASN for both, Route Server's
// GoBGP does not send B's path to A (the path holds A's own AS: sender-side
// loop detection; A would drop it anyway), no UPDATE arrives, and the copy
// waits for the interval: docs/reconcile.md says so and recommends an ASN
// per member.
func TestOwnerCopiesAtOnceWhenRouteServerMovesTheRouteToIt(t *testing.T) {
	if testing.Short() {
		t.Skip("wire test")
	}
	for k, v := range vpcsim.OfflineAWSEnv() {
		t.Setenv(k, v)
	}
	addrA, addrB := netip.MustParseAddr("127.0.41.10"), netip.MustParseAddr("127.0.41.11")
	endpoint := netip.MustParseAddr("127.0.41.230")
	dst := netip.MustParsePrefix("203.0.113.20/32")
	bgpPort, err := loophost.StablePort("tcp", endpoint)
	if err != nil {
		t.Fatal(err)
	}
	bfdPort, err := loophost.StablePort("udp", addrA, addrB, endpoint)
	if err != nil {
		t.Fatal(err)
	}

	vpc := vpcsim.NewVPC("vpc-0123456789abcdef0", netip.MustParsePrefix("10.0.0.0/16"))
	eniA := vpc.AddNetworkInterface(addrA)
	eniB := vpc.AddNetworkInterface(addrB)
	custom := vpc.AddRouteTable()
	rs := vpcsimtest.StartRouteServer(t, vpc, vpcsim.RouteServerConfig{
		Endpoints: []netip.Addr{endpoint}, Port: bgpPort, BFDPort: int(bfdPort),
		Peers:  []vpcsim.RouteServerPeerConfig{{Address: addrA, ASN: 65010}, {Address: addrB, ASN: 65011}},
		Logger: slog.New(slog.DiscardHandler), HoldPeers: true,
	})
	srv := vpcsim.NewServer(vpc, vpcsim.Options{})
	ec2URL, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	// A starts withdrawn (maintenance), so that Route Server cannot choose
	// it while B's session is still coming up.
	maintA, maintB := filepath.Join(t.TempDir(), "maintenance-a"), filepath.Join(t.TempDir(), "maintenance-b")
	if err := os.WriteFile(maintA, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	agentConfig := func(local netip.Addr, prepend int, extra string) string {
		asn := 65010 // A
		if local == addrB {
			asn = 65011
		}
		return fmt.Sprintf(`
http: {listen: ""}
bgp:
  asn: %d
  local_address: %s
  grpc_listen: ""
  peers:
    - {address: %s, asn: 65000, port: %d, hold_time: 9s, connect_retry: 1s}
bfd: {port: %d}
services:
  - name: svc
    prefixes: [%s]
    as_path_prepend: %d
    health: {interval: 200ms, rise: 1, fall: 1}
%s`, asn, local, endpoint, bgpPort, bfdPort, dst, prepend, extra)
	}
	startAgent(t, "A", agentConfig(addrA, 2, fmt.Sprintf(`    maintenance_file: %s
reconcile:
  region: us-east-1
  vpc_id: vpc-0123456789abcdef0
  endpoint: %s
  interval: 1h
  defer_others: never
`, maintA, ec2URL)))
	// startAgent returns once its GoBGP server started: one starts at a
	// time (v4.8.0 writes package globals).
	startAgent(t, "B", agentConfig(addrB, 0, "    maintenance_file: "+maintB+"\n"))
	if err := rs.AdmitPeers(context.Background()); err != nil {
		t.Fatal(err)
	}

	via := func(table string) string {
		tb, _ := vpc.Table(table)
		r, _ := tb.Route(dst)
		return r.NetworkInterface
	}
	waitFor(t, 15*time.Second, "Route Server installing B's path", func() error {
		if got := via(vpc.MainTableID()); got != eniB {
			return fmt.Errorf("main table via %q", got)
		}
		return nil
	})
	if err := os.Remove(maintA); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "A's path in Route Server's RIB beside B's", func() error {
		if got := via(vpc.MainTableID()); got != eniB {
			return fmt.Errorf("main table via %q", got)
		}
		if n := len(rs.RIB()); n != 2 {
			return fmt.Errorf("%d paths in the RIB", n)
		}
		return nil
	})
	// Let the passes that A's own start-up triggered (and their follow-ups
	// at 0.3 s and 1 s) end, so that only a new trigger can start one.
	time.Sleep(1500 * time.Millisecond)
	if got := via(custom); got != "" {
		t.Fatalf("A copied B's route (via %s; A is %s, B %s) although defer_others is never", got, eniA, eniB)
	}

	if err := os.WriteFile(maintB, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "Route Server moving the route to A", func() error {
		if got := via(vpc.MainTableID()); got != eniA {
			return fmt.Errorf("main table via %q", got)
		}
		return nil
	})
	moved := time.Now()
	waitFor(t, 5*time.Second, "A copying its route into the custom table", func() error {
		if got := via(custom); got != eniA {
			return fmt.Errorf("custom table via %q", got)
		}
		return nil
	})
	t.Logf("the custom table followed %v after the main table (reconcile.interval 1h)", time.Since(moved).Round(time.Millisecond))
}

// startAgent runs an agent from config until the test ends, and returns
// once its BGP speaker has started.
func startAgent(t *testing.T, name, config string) *Agent {
	t.Helper()
	_, m, err := Load([]byte(config))
	if err != nil {
		t.Fatalf("agent %s config: %v\n%s", name, err, config)
	}
	return runAgent(t, name, m)
}

// runAgent runs an agent from m until the test ends (its Run must then
// return nil), and returns once its BGP speaker has started. It logs
// warnings to the test's output.
func runAgent(t *testing.T, name string, m *Model) *Agent {
	t.Helper()
	a, err := New(m, Options{Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("agent", name)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent %s: %v", name, err)
		}
	})
	select {
	case <-a.BGPStarted():
	case err := <-done:
		done <- err
		t.Fatalf("agent %s ended before its BGP speaker started: %v", name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("agent %s: BGP speaker not started within 10 s", name)
	}
	return a
}
