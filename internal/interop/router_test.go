package interop

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/netns"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

// TestRouterBFDCheckAgainstFRR runs the real `rsagent router` binary in
// its own namespace with a bfd check (100 ms × 3) against two hosts, each an
// FRR bfdd in a namespace of its own, and the EC2 emulator listening inside
// the router's namespace. Host A's path is cut with nft: BFD detects it and
// the routes move to host B within the detection time plus a pass; after
// the cut heals, host A is held for failed_hold and, without preempt, the
// routes stay on B.
func TestRouterBFDCheckAgainstFRR(t *testing.T) {
	netns.Require(t, append(netns.FRRBinaries(), "ip", "nft", "promtool")...)
	for k, v := range vpcsim.OfflineAWSEnv() {
		t.Setenv(k, v)
	}
	routerNS, nsA, nsB := netns.New(t), netns.New(t), netns.New(t)
	routerA, hostA := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	routerB, hostB := netip.MustParseAddr("198.51.100.5"), netip.MustParseAddr("198.51.100.6")
	_, ifA := netns.Link(t, routerNS, nsA, netip.PrefixFrom(routerA, 30), netip.PrefixFrom(hostA, 30))
	_, ifB := netns.Link(t, routerNS, nsB, netip.PrefixFrom(routerB, 30), netip.PrefixFrom(hostB, 30))
	frrA := netns.StartFRR(t, nsA, netns.FRRConfig{RouterID: hostA,
		BFDPeers: []netns.FRRBFDPeer{{Peer: routerA, Local: hostA, Iface: ifA, RxMs: 100, TxMs: 100, Mult: 3}}})
	netns.StartFRR(t, nsB, netns.FRRConfig{RouterID: hostB,
		BFDPeers: []netns.FRRBFDPeer{{Peer: routerB, Local: hostB, Iface: ifB, RxMs: 100, TxMs: 100, Mult: 3}}})

	vpc := vpcsim.NewVPC("vpc-0123456789abcdef0", netip.MustParsePrefix("198.51.100.0/24"))
	tables := []string{vpc.MainTableID(), vpc.AddRouteTable(), vpc.AddRouteTable()}
	eniA, eniB := vpc.AddNetworkInterface(hostA), vpc.AddNetworkInterface(hostB)
	srv := vpcsim.NewServer(vpc, vpcsim.Options{})
	ln, err := routerNS.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// The URL comes from the listener, not srv.URL(): Serve sets that in
	// its goroutine, and an empty endpoint would mean real AWS.
	endpoint := "http://" + ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	dst := netip.MustParsePrefix("203.0.113.0/24")
	cfg := fmt.Sprintf(`
router:
  region: us-east-1
  vpc_id: vpc-0123456789abcdef0
  endpoint: %s
  routes:
    "%s": [%s, %s]
  interval: 1s
  health:
    interval: 500ms
    fall: 2
    failed_hold: 3s
    checks:
      - bfd: {min_tx: 100ms, min_rx: 100ms, multiplier: 3}
http:
  listen: %s
log: {level: debug}
`, endpoint, dst, hostA, hostB, httpListen)
	router := startCommand(t, routerNS, cfg, "router")

	allAt := func(eni string) error {
		for _, id := range tables {
			tbl, _ := vpc.Table(id)
			if r, ok := tbl.Route(dst); !ok || r.NetworkInterface != eni {
				return fmt.Errorf("%s: %s -> %q, want %s", id, dst, r.NetworkInterface, eni)
			}
		}
		return nil
	}
	netns.WaitFor(t, 20*time.Second, "both BFD sessions Up and every table on host A", func() error {
		for _, h := range []netip.Addr{hostA, hostB} {
			if v := router.metric(fmt.Sprintf(`rsagent_bfd_session_up{peer="%s"}`, h)); v != 1 {
				return fmt.Errorf("bfd to %s not up", h)
			}
		}
		return allAt(eniA)
	})
	peers, err := frrA.BFDPeers()
	if err != nil || len(peers) != 1 || peers[0].State != "Up" || peers[0].RemoteTxMs != 100 || peers[0].RemoteMult != 3 {
		t.Fatalf("FRR's view of the session: %+v, %v", peers, err)
	}

	t0 := time.Now()
	nsA.DropAll(t, "eth0")
	var took time.Duration
	netns.WaitFor(t, 10*time.Second, "every table on host B", func() error {
		err := allAt(eniB)
		if err == nil && took == 0 {
			took = time.Since(t0)
		}
		return err
	})
	t.Logf("host A's path cut: every table on host B after %v (BFD detection 300 ms + a pass; WaitFor polls every 50 ms)", took)
	if took > 3*time.Second {
		t.Errorf("failover took %v with BFD 100ms x 3", took)
	}
	st := router.status()
	if st.Router == nil || len(st.Router.Hosts) != 2 {
		t.Fatalf("status: %+v", st.Router)
	}
	for _, h := range st.Router.Hosts {
		if h.Host == hostA && h.Status != "failed" {
			t.Errorf("host A is %s, want failed (last error %q)", h.Status, h.LastError)
		}
	}

	nsA.Undrop(t)
	netns.WaitFor(t, 15*time.Second, "host A's BFD session Up and A eligible again", func() error {
		for _, h := range router.status().Router.Hosts {
			if h.Host == hostA && !h.Eligible {
				return fmt.Errorf("host A is %s", h.Status)
			}
		}
		return nil
	})
	if err := allAt(eniB); err != nil {
		t.Errorf("routes failed back without preempt: %v", err)
	}
	body, err := router.get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`rsagent_router_route_target{destination="%s",host="%s"} 1`, dst, hostB),
		fmt.Sprintf(`rsagent_bfd_session_transitions_total{peer="%s",to="down"} 1`, hostA),
		`rsagent_router_changes_total{action="replace"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
