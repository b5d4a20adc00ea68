package agent

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/loophost"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

// freeLoopbackPort is a port outside the ephemeral range: a probed port
// from inside it can be handed to an outgoing connection before the daemon
// binds it.
func freeLoopbackPort(t testing.TB) int {
	t.Helper()
	p, err := loophost.StablePort("tcp", netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return int(p)
}

// TestAgentRunsTheReconcilerAndTheSyncRoutesAPI runs a whole agent with a
// reconcile section against the EC2 emulator on loopback: the real SDK on
// the wire, static credentials, never AWS.
func TestAgentRunsTheReconcilerAndTheSyncRoutesAPI(t *testing.T) {
	for k, v := range vpcsim.OfflineAWSEnv() {
		t.Setenv(k, v)
	}

	vpc := vpcsim.NewVPC("vpc-0123456789abcdef0", netip.MustParsePrefix("10.0.0.0/16"))
	custom := vpc.AddRouteTable()
	// eniA holds the agent's bgp.local_address: its routes are the agent's
	// own; eniB is another appliance's, whose reconciler is not running.
	eniA := vpc.AddNetworkInterface(netip.MustParseAddr("127.0.0.1"))
	eniB := vpc.AddNetworkInterface(netip.MustParseAddr("10.0.2.10"))
	dst := netip.MustParsePrefix("203.0.113.10/32")
	put := func(eni, ip string) {
		if err := vpc.PutRoute(vpc.MainTableID(), vpcsim.Route{Destination: dst, NetworkInterface: eni,
			IPAddress: ip, Origin: vpcsim.OriginAdvertisement, State: "active"}); err != nil {
			t.Fatal(err)
		}
	}
	put(eniA, "127.0.0.1")
	srv := vpcsim.NewServer(vpc, vpcsim.Options{})
	url, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte("0123456789abcdef-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	maint := filepath.Join(dir, "maintenance")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	cfg := fmt.Sprintf(`
bgp:
  asn: 65010
  local_address: 127.0.0.1
  grpc_listen: ""
  peers:
    - {address: 127.0.0.2, asn: 65000, port: %d}
bfd: {port: %d}
services:
  - name: voice
    prefixes: [203.0.113.10/32]
    maintenance_file: %s
    health: {interval: 200ms, rise: 1, fall: 1}
reconcile:
  region: us-east-1
  vpc_id: vpc-0123456789abcdef0
  endpoint: %s
  interval: 1h
  defer_others: 1s
http:
  listen: %s
  api_key_file: %s
`, freeLoopbackPort(t), freeLoopbackPort(t), maint, url, httpAddr, keyFile)
	a := startAgent(t, "agent", cfg)

	customENI := func() string {
		tbl, _ := vpc.Table(custom)
		r, _ := tbl.Route(dst)
		return r.NetworkInterface
	}
	waitFor(t, 10*time.Second, "the first pass to copy the route", func() error {
		if got := customENI(); got != eniA {
			return fmt.Errorf("custom table has %q", got)
		}
		return nil
	})

	if st := a.Status(); st.Reconcile == nil || len(st.Reconcile.NetworkInterfaceIDs) != 1 || st.Reconcile.NetworkInterfaceIDs[0] != eniA {
		t.Errorf("the agent did not find its own ENI %s by bgp.local_address: %+v", eniA, st.Reconcile)
	}

	// Route Server fails over to the other appliance; the interval is 1h,
	// so only a trigger (our own advertisement changing: the service goes
	// into maintenance) starts a pass now. The route is the other
	// appliance's: left to it for defer_others, then copied, since it makes
	// no progress.
	put(eniB, "10.0.2.10")
	triggered := time.Now()
	if err := os.WriteFile(maint, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the triggered pass to leave the route to its owner", func() error {
		if m := get(t, "http://"+httpAddr+"/metrics"); !strings.Contains(m, "rsagent_reconcile_deferred_routes 1") {
			return errors.New("rsagent_reconcile_deferred_routes is not 1")
		}
		if got := customENI(); got != eniA {
			return fmt.Errorf("custom table has %q before defer_others", got)
		}
		return nil
	})
	waitFor(t, 10*time.Second, "the pass to copy the failover after defer_others", func() error {
		if got := customENI(); got != eniB {
			return fmt.Errorf("custom table has %q", got)
		}
		return nil
	})
	if d := time.Since(triggered); d < time.Second {
		t.Errorf("the other appliance's route was copied %s after the trigger, before defer_others (1s)", d)
	}

	// The Sync Routes API is mounted on the agent's HTTP server.
	patch := func(key, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPatch, "http://"+httpAddr+"/vpcs/vpc-0123456789abcdef0/route-tables/"+vpc.MainTableID(), strings.NewReader(body))
		req.Header.Set("X-API-Key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	before := len(srv.Mutations())
	if code, body := patch("wrong-key-wrong-key", `{"destination-cidr-block": "203.0.113.10/32"}`); code != http.StatusForbidden {
		t.Errorf("wrong key: %d %s", code, body)
	}
	if code, body := patch("0123456789abcdef-key", `{"destination-cidr-block": "203.0.113.10/32", "extra": 1}`); code != http.StatusBadRequest {
		t.Errorf("extra property: %d %s", code, body)
	}
	if n := len(srv.Mutations()); n != before {
		t.Errorf("refused requests wrote %d routes", n-before)
	}
	metrics := get(t, "http://"+httpAddr+"/metrics")
	for _, want := range []string{`rsagent_reconcile_runs_total{result="changed"}`, `rsagent_ec2_requests_total{code="ok",operation="DescribeRouteTables"}`,
		`rsagent_reconcile_changes_total{action="create"} 1`, `rsagent_ec2_requests_total{code="ok",operation="DescribeNetworkInterfaces"} 1`,
		"rsagent_ec2_mutating_rate_per_second 5", "rsagent_reconcile_deferred_routes 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if st := a.Status(); st.Reconcile == nil || st.Reconcile.Passes < 2 {
		t.Errorf("status does not show the reconciler: %+v", st.Reconcile)
	}
}

func get(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %v for %s: %v", timeout, what, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
