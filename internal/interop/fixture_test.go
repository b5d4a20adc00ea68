package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rsagent/rsagent/agent"
	"github.com/rsagent/rsagent/internal/netns"
)

// Addresses of the emulated subnet: the appliance and one Route Server
// endpoint. They exist only inside the namespaces a test creates.
var (
	agentAddr = netip.MustParseAddr("198.51.100.10")
	peerAddr  = netip.MustParseAddr("198.51.100.230")
)

const (
	agentASN    = 65010
	peerASN     = 65000
	httpListen  = "127.0.0.1:9179"
	grpcPort    = "50051"
	apiKey      = "interop-test-key-0123456789"
	voicePrefix = "203.0.113.10/32"
)

// agentProc is the rsagent binary running inside a namespace.
type agentProc struct {
	t       testing.TB
	ns      *netns.NS
	bin     string
	dir     string
	cfgPath string
	proc    *netns.Proc
	http    *http.Client
}

func startAgent(t testing.TB, ns *netns.NS, cfg string) *agentProc {
	t.Helper()
	return startCommand(t, ns, cfg, "run")
}

// startCommand runs `rsagent COMMAND -c CONFIG` (run, router) in ns and
// waits for its HTTP endpoint.
func startCommand(t testing.TB, ns *netns.NS, cfg, command string) *agentProc {
	t.Helper()
	a := &agentProc{t: t, ns: ns, bin: netns.RsagentBinary(t), dir: t.TempDir(), http: ns.HTTPClient()}
	a.cfgPath = filepath.Join(a.dir, "rsagent.yaml")
	if err := os.WriteFile(filepath.Join(a.dir, "api-key"), []byte(apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a.writeConfig(cfg)
	if out, err := exec.Command(a.bin, "config", "check", "-c", a.cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	a.proc = ns.Start(t, a.bin, command, "-c", a.cfgPath)
	netns.WaitFor(t, 10*time.Second, "rsagent's HTTP endpoint", func() error {
		if a.proc.Exited() {
			t.Fatalf("rsagent exited: %v\n%s", a.proc.Wait(0), a.proc.Log())
		}
		_, err := a.get("/healthz")
		return err
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rsagent log:\n%s", a.proc.Log())
		}
	})
	return a
}

// writeConfig writes cfg with {{DIR}} replaced by the agent's directory.
func (a *agentProc) writeConfig(cfg string) {
	a.t.Helper()
	cfg = strings.ReplaceAll(cfg, "{{DIR}}", a.dir)
	if err := os.WriteFile(a.cfgPath, []byte(cfg), 0o644); err != nil {
		a.t.Fatal(err)
	}
}

func (a *agentProc) get(path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpListen+path, nil)
	resp, err := a.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

func (a *agentProc) status() agent.Status {
	a.t.Helper()
	body, err := a.get("/status")
	if err != nil {
		a.t.Fatalf("status: %v", err)
	}
	var st agent.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		a.t.Fatalf("decode status: %v", err)
	}
	return st
}

// metric returns the value of one sample of /metrics, e.g.
// metric(`rsagent_bgp_session_up{peer="198.51.100.230"}`); 0 if absent.
func (a *agentProc) metric(sample string) float64 {
	a.t.Helper()
	body, err := a.get("/metrics")
	if err != nil {
		a.t.Fatalf("metrics: %v", err)
	}
	return sampleValue(body, sample)
}

func sampleValue(body, sample string) float64 {
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, sample+" ") {
			v, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, sample)), 64)
			return v
		}
	}
	return 0
}

// cli runs `rsagent ARGS -c CONFIG` inside the agent's namespace.
func (a *agentProc) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := a.ns.Exec(ctx, a.bin, append(args, "-c", a.cfgPath)...)
	return string(out), err
}

func (a *agentProc) signal(sig syscall.Signal) {
	a.t.Helper()
	if err := a.proc.Signal(sig); err != nil {
		a.t.Fatalf("signal %v: %v", sig, err)
	}
}

// healthTarget is a TCP listener inside the agent's namespace that a tcp
// health check probes; Stop and Start flip the service's health.
type healthTarget struct {
	t    testing.TB
	ns   *netns.NS
	addr string
	mu   sync.Mutex
	ln   net.Listener
}

func newHealthTarget(t testing.TB, ns *netns.NS, addr string) *healthTarget {
	h := &healthTarget{t: t, ns: ns, addr: addr}
	h.Start()
	t.Cleanup(h.Stop)
	return h
}

func (h *healthTarget) Start() {
	h.t.Helper()
	ln, err := h.ns.Listen("tcp", h.addr)
	if err != nil {
		h.t.Fatalf("health target %s: %v", h.addr, err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	h.mu.Lock()
	h.ln = ln
	h.mu.Unlock()
}

func (h *healthTarget) Stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ln != nil {
		h.ln.Close()
		h.ln = nil
	}
}

// routePeer is what the tests need from FRR or BIRD.
type routePeer interface {
	Established() error
	Routes() (map[netip.Prefix]netns.Route, error)
	Log() string
}

type frrPeer struct{ *netns.FRR }

func (f frrPeer) Established() error {
	st, err := f.NeighborState(agentAddr)
	if err == nil && st != "Established" {
		err = fmt.Errorf("FRR neighbor %s is %s", agentAddr, st)
	}
	return err
}

type birdPeer struct{ *netns.BIRD }

func (b birdPeer) Established() error {
	st, err := b.ProtocolState(netns.BIRDProtocolName(agentAddr))
	if err == nil && st != "Established" {
		err = fmt.Errorf("BIRD protocol is %s", st)
	}
	return err
}

// waitRoute polls the peer until cond holds for prefix's route (nil route
// = absent) and returns how long that took.
func waitRoute(t testing.TB, p routePeer, prefix string, timeout time.Duration, what string, cond func(r *netns.Route) error) time.Duration {
	t.Helper()
	pfx := netip.MustParsePrefix(prefix)
	start := time.Now()
	netns.WaitFor(t, timeout, what, func() error {
		routes, err := p.Routes()
		if err != nil {
			return err
		}
		if r, ok := routes[pfx]; ok {
			return cond(&r)
		}
		return cond(nil)
	})
	return time.Since(start)
}

func present(r *netns.Route) error {
	if r == nil {
		return fmt.Errorf("not there")
	}
	return nil
}

func absent(r *netns.Route) error {
	if r != nil {
		return fmt.Errorf("still there: %+v", *r)
	}
	return nil
}

func pathLen(n int) func(r *netns.Route) error {
	return func(r *netns.Route) error {
		if r == nil {
			return fmt.Errorf("not there")
		}
		if len(r.ASPath) != n {
			return fmt.Errorf("AS path %v, want length %d", r.ASPath, n)
		}
		return nil
	}
}

// linkAgentAndPeer creates the agent's and the peer's namespaces on one /24.
func linkAgentAndPeer(t testing.TB) (agentNS, peerNS *netns.NS, agentIf, peerIf string) {
	agentNS, peerNS = netns.New(t), netns.New(t)
	agentIf, peerIf = netns.Link(t, agentNS, peerNS,
		netip.PrefixFrom(agentAddr, 24), netip.PrefixFrom(peerAddr, 24))
	return
}
