package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/loophost"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

const routerTestVPC = "vpc-0123456789abcdef0"

var (
	hostAAddr = netip.MustParseAddr("127.0.0.2")
	hostBAddr = netip.MustParseAddr("127.0.0.3")
	dstOne    = netip.MustParsePrefix("198.51.100.0/24")
	dstTwo    = netip.MustParsePrefix("203.0.113.0/25")
)

// testHost is a host of the spec: a TCP listener on a loopback address
// (closing it is "the host died") and the ENI holding that address in the
// emulated VPC.
type testHost struct {
	addr netip.Addr
	port int
	eni  string
	l    *loophost.Listener
}

func (h *testHost) open(t testing.TB) {
	t.Helper()
	var err error
	if h.l == nil {
		h.l, err = loophost.Open(netip.AddrPortFrom(h.addr, uint16(h.port)))
	} else {
		err = h.l.Reopen()
	}
	if err != nil {
		t.Fatalf("open host %s: %v", h.addr, err)
	}
}

func (h *testHost) close() {
	if h.l != nil {
		h.l.Close()
	}
}

// routerEnv is a router against the EC2 emulator, with hosts on loopback.
type routerEnv struct {
	t        testing.TB
	vpc      *vpcsim.VPC
	srv      *vpcsim.Server
	tables   []string // main first, then the custom tables
	a, b     *testHost
	dir      string
	specFile string
	keyFile  string
	httpAddr string
	r        *Router
}

const routerTestKey = "router-test-key-0123456789"

// newRouterEnv builds a VPC with the main table and two custom ones, and
// two hosts with their ENIs. Nothing runs yet.
func newRouterEnv(t testing.TB) *routerEnv {
	t.Helper()
	for k, v := range vpcsim.OfflineAWSEnv() {
		t.Setenv(k, v)
	}
	e := &routerEnv{t: t, dir: t.TempDir()}
	e.vpc = vpcsim.NewVPC(routerTestVPC, netip.MustParsePrefix("10.0.0.0/16"))
	e.tables = []string{e.vpc.MainTableID(), e.vpc.AddRouteTable(), e.vpc.AddRouteTable()}
	port := sharedPort(t, hostAAddr, hostBAddr)
	e.a = &testHost{addr: hostAAddr, port: port, eni: e.vpc.AddNetworkInterface(hostAAddr)}
	e.b = &testHost{addr: hostBAddr, port: port, eni: e.vpc.AddNetworkInterface(hostBAddr)}
	e.a.open(t)
	e.b.open(t)
	t.Cleanup(e.a.close)
	t.Cleanup(e.b.close)
	e.srv = vpcsim.NewServer(e.vpc, vpcsim.Options{})
	if _, err := e.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.srv.Close() })
	e.specFile = filepath.Join(e.dir, "route-spec.json")
	e.keyFile = filepath.Join(e.dir, "api-key")
	if err := os.WriteFile(e.keyFile, []byte(routerTestKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.httpAddr = fmt.Sprintf("127.0.0.1:%d", freeLoopbackPort(t))
	return e
}

// sharedPort finds a TCP port free on every address that can be closed
// and reopened safely.
func sharedPort(t testing.TB, addrs ...netip.Addr) int {
	t.Helper()
	port, err := loophost.StablePort("tcp", addrs...)
	if err != nil {
		t.Fatal(err)
	}
	return int(port)
}

func (e *routerEnv) writeSpec(spec string) {
	e.t.Helper()
	tmp := e.specFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(spec), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, e.specFile); err != nil { // as editors and config management do
		e.t.Fatal(err)
	}
}

// config is a router config for this env; extra is appended inside the
// router section (indented two spaces).
func (e *routerEnv) config(extra string) string {
	return fmt.Sprintf(`router:
  region: us-east-1
  vpc_id: %s
  endpoint: %s
  route_spec_file: %s
  interval: 1s
  health:
    interval: 100ms
    timeout: 100ms
    fall: 2
    failed_hold: 1s
    checks:
      - tcp: {port: %d}
%shttp:
  listen: %s
  api_key_file: %s
log: {level: debug}
`, routerTestVPC, e.srv.URL(), e.specFile, e.a.port, extra, e.httpAddr, e.keyFile)
}

// start runs a router with cfg until the test ends.
func (e *routerEnv) start(cfg string) *Router {
	e.t.Helper()
	_, m, err := Load([]byte(cfg))
	if err != nil {
		e.t.Fatalf("config: %v\n%s", err, cfg)
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("RSAGENT_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r, err := NewRouter(e.t.Context(), m, Options{Logger: log})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("router Run: %v", err)
		}
	})
	e.r = r
	return r
}

// target returns what dst points at in table: the ENI (or gateway), "" if
// there is no route.
func (e *routerEnv) target(table string, dst netip.Prefix) string {
	t, ok := e.vpc.Table(table)
	if !ok {
		return ""
	}
	r, ok := t.Route(dst)
	if !ok {
		return ""
	}
	if r.GatewayID != "" {
		return r.GatewayID
	}
	return r.NetworkInterface
}

// allAt reports whether every table routes dst to eni.
func (e *routerEnv) allAt(dst netip.Prefix, eni string) error {
	for _, id := range e.tables {
		if got := e.target(id, dst); got != eni {
			return fmt.Errorf("%s: %s -> %q, want %s", id, dst, got, eni)
		}
	}
	return nil
}

// waitAllAt waits, on every change of the VPC, until every table routes
// dst to eni, and returns how long after since that happened.
func (e *routerEnv) waitAllAt(dst netip.Prefix, eni string, since time.Time, timeout time.Duration) time.Duration {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		gen := e.vpc.Generation()
		err := e.allAt(dst, eni)
		if err == nil {
			return time.Since(since)
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("waiting %v for every table to route %s to %s: %v", timeout, dst, eni, err)
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		_, _ = e.vpc.WaitGeneration(ctx, gen)
		cancel()
	}
}

// waitPasses waits until the router has finished n more passes.
func (e *routerEnv) waitPasses(n uint64) {
	e.t.Helper()
	start := e.r.Status().Router.Passes
	waitFor(e.t, 10*time.Second, fmt.Sprintf("%d more passes", n), func() error {
		if got := e.r.Status().Router.Passes; got < start+n {
			return fmt.Errorf("%d passes", got-start)
		}
		return nil
	})
}

// mark lets the pass in flight (if any) finish and returns the request
// log's position after it, for mutationsSince. (Not ResetLog: a request
// whose change is already visible can still be appended after a reset.)
func (e *routerEnv) mark() int {
	e.t.Helper()
	e.waitPasses(1)
	return len(e.srv.Log())
}

// mutationsSince returns the successful route writes logged after mark,
// as "Action table destination".
func (e *routerEnv) mutationsSince(mark int) []string {
	var out []string
	for _, m := range e.srv.Log()[mark:] {
		if !m.Mutating || m.Status != 200 {
			continue
		}
		dst := m.Params.Get("DestinationCidrBlock")
		if dst == "" {
			dst = m.Params.Get("DestinationIpv6CidrBlock")
		}
		out = append(out, strings.Join([]string{m.Action, m.Params.Get("RouteTableId"), dst}, " "))
	}
	return out
}

func (e *routerEnv) hostStatus(h netip.Addr) RouterHostStatus {
	for _, hs := range e.r.Status().Router.Hosts {
		if hs.Host == h {
			return hs
		}
	}
	e.t.Fatalf("host %s not in /status", h)
	return RouterHostStatus{}
}
