// Package grafana_test checks deploy/grafana/rsagent.json: it is a sound
// dashboard (unique ids, panels on the grid without overlap, every query on
// the ${datasource} variable), and every metric it queries is documented in
// docs/metrics.md and exists on a running agent's (or router's) /metrics.
//
// To add a panel: copy one of rsagent.json, give it the next free id and a
// gridPos that overlaps no other panel; these tests check the rest.
package grafana_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/loophost"
	"github.com/rsagent/rsagent/internal/netns"
	"github.com/rsagent/rsagent/internal/vpcsim"
	"github.com/rsagent/rsagent/internal/vpcsim/vpcsimtest"
)

type dashboard struct {
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

func load(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("rsagent.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("rsagent.json: %v", err)
	}
	if len(d.Panels) < 10 {
		t.Fatalf("rsagent.json has %d panels", len(d.Panels))
	}
	return d
}

var metricRE = regexp.MustCompile(`\brsagent_[a-z0-9_]+`)

// queried is every metric name the dashboard's queries use, as exposed
// (histograms with their _bucket suffix).
func queried(d dashboard) []string {
	var out []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			out = append(out, metricRE.FindAllString(tg.Expr, -1)...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// documentedName is the name docs/metrics.md lists: a histogram's series
// drop their suffix.
func documentedName(exposed string) string {
	for _, s := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(exposed, s); ok && strings.HasSuffix(base, "_seconds") {
			return base
		}
	}
	return exposed
}

func TestDashboardIsSound(t *testing.T) {
	d := load(t)
	if d.UID == "" {
		t.Error("the dashboard has no uid: re-imports would duplicate it")
	}
	ids := map[int]string{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.Panels {
		if other, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %q: id %d (also %q)", p.Title, p.ID, other)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is off the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("panel %q overlaps %q at (%d,%d)", p.Title, other, x, y)
					x, y = g.X+g.W, g.Y+g.H
				}
				taken[cell{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 || p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: no query, or not on the ${datasource} variable", p.Title)
		}
		for _, tg := range p.Targets {
			if !metricRE.MatchString(tg.Expr) {
				t.Errorf("panel %q: query %q uses no rsagent_ metric", p.Title, tg.Expr)
			}
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") {
				t.Errorf("panel %q: unbalanced query %q", p.Title, tg.Expr)
			}
		}
	}
}

func TestDashboardMetricsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	names := queried(load(t))
	if len(names) < 15 {
		t.Fatalf("the dashboard queries only %d metrics: %v", len(names), names)
	}
	for _, n := range names {
		if !bytes.Contains(doc, []byte("`"+documentedName(n)+"`")) {
			t.Errorf("the dashboard queries %s, which docs/metrics.md does not document", n)
		}
	}
}

// TestDashboardMetricsExistOnARunningAgent runs the rsagent binary against
// the emulated Route Server (BGP + BFD) and EC2 on loopback, makes it do
// what fills every panel — a session, a reconcile copy, a Sync Routes
// request, a failed notification, a stray BFD packet, a BFD failure that
// resets BGP — and reads its /metrics.
func TestDashboardMetricsExistOnARunningAgent(t *testing.T) {
	for k, v := range vpcsim.OfflineAWSEnv() {
		t.Setenv(k, v)
	}
	agentAddr, endpoint := netip.MustParseAddr("127.0.0.80"), netip.MustParseAddr("127.0.0.81")
	vpc := vpcsim.NewVPC("vpc-0123456789abcdef0", netip.MustParsePrefix("10.0.0.0/16"))
	custom := vpc.AddRouteTable()
	eni := vpc.AddNetworkInterface(agentAddr)
	ec2 := vpcsim.NewServer(vpc, vpcsim.Options{})
	if _, err := ec2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ec2.Close() })

	bgpPort := freePort(t, "tcp", endpoint)
	bfdPort := freePort(t, "udp", agentAddr, endpoint)
	rs := vpcsimtest.StartRouteServer(t, vpc, vpcsim.RouteServerConfig{
		Endpoints: []netip.Addr{endpoint}, Port: uint16(bgpPort), BFDPort: bfdPort,
		Peers: []vpcsim.RouteServerPeerConfig{{Address: agentAddr, ASN: 65010, BFD: true}},
	})

	health, err := net.Listen("tcp", netip.AddrPortFrom(agentAddr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { health.Close() })
	go acceptAll(health)
	closed := freePort(t, "tcp", netip.MustParseAddr("127.0.0.1")) // nothing listens: the webhook fails
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "api-key")
	if err := os.WriteFile(keyFile, []byte("dashboard-test-key-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := netip.AddrPortFrom(agentAddr, uint16(freePort(t, "tcp", agentAddr))).String()
	cfg := fmt.Sprintf(`bgp:
  asn: 65010
  local_address: %s
  grpc_listen: ""
  peers:
    - {address: %s, asn: 65000, port: %d, hold_time: 9s, connect_retry: 1s, bfd: {enabled: true}}
bfd: {port: %d}
services:
  - name: dash
    prefixes: [203.0.113.80/32]
    health: {interval: 200ms, fast_interval: 100ms, rise: 1, fall: 1, checks: [{tcp: "%s"}]}
reconcile:
  region: us-east-1
  vpc_id: vpc-0123456789abcdef0
  endpoint: %s
  interval: 1s
  notify: {webhook: "http://127.0.0.1:%d/hook"}
http: {listen: "%s", api_key_file: %s}
log: {level: debug}
`, agentAddr, endpoint, bgpPort, bfdPort, health.Addr(), ec2.URL(), closed, httpAddr, keyFile)
	cfgPath := filepath.Join(dir, "rsagent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startAgent(t, netns.RsagentBinary(t), "run", cfgPath)
	metricsURL := "http://" + httpAddr + "/metrics"

	// The direct-mode panels read an `rsagent router`: one destination on
	// the agent's host, whose ENI has the source/dest check on (a problem
	// the dashboard shows).
	if err := vpc.SetSourceDestCheck(eni, true); err != nil {
		t.Fatal(err)
	}
	routerHTTP := netip.AddrPortFrom(agentAddr, uint16(freePort(t, "tcp", agentAddr))).String()
	routerCfg := fmt.Sprintf(`router:
  region: us-east-1
  vpc_id: vpc-0123456789abcdef0
  endpoint: %s
  interval: 1s
  routes: {"198.51.100.0/24": [%s]}
  health: {interval: 200ms, timeout: 100ms, fall: 1, checks: [{tcp: {port: %d}}]}
http: {listen: "%s"}
`, ec2.URL(), agentAddr, health.Addr().(*net.TCPAddr).Port, routerHTTP)
	routerPath := filepath.Join(dir, "router.yaml")
	if err := os.WriteFile(routerPath, []byte(routerCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	startAgent(t, netns.RsagentBinary(t), "router", routerPath)
	routerURL := "http://" + routerHTTP + "/metrics"

	netns.WaitFor(t, 30*time.Second, "BGP and BFD up and the route copied", func() error {
		m := scrape(metricsURL)
		for _, want := range []string{
			fmt.Sprintf(`rsagent_bgp_session_up{peer="%s"} 1`, endpoint),
			fmt.Sprintf(`rsagent_bfd_session_up{peer="%s"} 1`, endpoint),
			`rsagent_reconcile_changes_total{action="create"} 1`,
			`rsagent_notification_failures_total{sink="webhook"}`,
		} {
			if !strings.Contains(m, want) {
				return fmt.Errorf("no %s yet", want)
			}
		}
		if tb, _ := vpc.Table(custom); len(tb.Routes) < 2 {
			return fmt.Errorf("custom table: %+v", tb.Routes)
		}
		return nil
	})

	// A Sync Routes request with a wrong key (403), and a BFD packet with
	// TTL 64 (dropped: GTSM wants 255).
	req, _ := http.NewRequest(http.MethodPatch, "http://"+httpAddr+"/vpcs/vpc-0123456789abcdef0/route-tables/"+vpc.MainTableID(),
		strings.NewReader(`{"destination-cidr-block": "203.0.113.80/32"}`))
	req.Header.Set("X-API-Key", "not-the-key-not-the-key")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("PATCH with a wrong key: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	c, err := net.Dial("udp", netip.AddrPortFrom(agentAddr, uint16(bfdPort)).String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte("not a BFD packet"))
	c.Close()

	// BFD fails while TCP stays up: the agent resets the BGP session.
	rs.SetPartitioned(agentAddr, true)
	netns.WaitFor(t, 15*time.Second, "a BFD-triggered BGP reset", func() error {
		if m := scrape(metricsURL); !strings.Contains(m, `rsagent_bgp_peer_resets_total{peer="`+endpoint.String()+`",reason="bfd_down"}`) {
			return fmt.Errorf("no reset counted yet")
		}
		return nil
	})
	rs.SetPartitioned(agentAddr, false)

	names := queried(load(t))
	netns.WaitFor(t, 15*time.Second, "every queried metric on /metrics", func() error {
		m, rm := scrape(metricsURL), scrape(routerURL)
		var missing []string
		for _, n := range names {
			in := m
			if strings.HasPrefix(n, "rsagent_router_") {
				in = rm // direct mode's metrics come from `rsagent router`
			}
			if !regexp.MustCompile(`(?m)^` + n + `[{ ]`).MatchString(in) {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("missing %v", missing)
		}
		return nil
	})
	t.Logf("all %d metrics the dashboard queries are exposed: %v", len(names), names)
}

func startAgent(t *testing.T, bin, command, cfg string) {
	t.Helper()
	netns.StartCmd(t, exec.Command(bin, command, "--config", cfg))
}

func scrape(url string) string {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func acceptAll(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// freePort finds a port free on every address for the network.
func freePort(t *testing.T, network string, addrs ...netip.Addr) int {
	t.Helper()
	p, err := loophost.StablePort(network, addrs...)
	if err != nil {
		t.Fatal(err)
	}
	return int(p)
}
