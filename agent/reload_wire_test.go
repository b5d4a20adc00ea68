package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/internal/loophost"
	"github.com/rsagent/rsagent/internal/vpcsim"
	"github.com/rsagent/rsagent/internal/vpcsim/vpcsimtest"
)

// The reload matrix runs a real agent (GoBGP sessions, BFD over UDP, health
// monitors) against the emulated Route Server on 127.0.40.0/24, and applies
// one kind of change per step. Every step checks that the change was applied
// whole (or refused whole, with nothing changed) and that no session it did
// not touch was reset.

var (
	reloadAgentAddr = netip.MustParseAddr("127.0.40.10")
	reloadEndpoints = []netip.Addr{
		netip.MustParseAddr("127.0.40.230"), netip.MustParseAddr("127.0.40.231"), netip.MustParseAddr("127.0.40.232"),
	}
)

// reloadParams fill reloadTemplate; each step edits a copy.
type reloadParams struct {
	BGPPort, BFDPort, VoicePort int
	Peers                       []reloadPeer
	VoiceInterval, VoiceCheck   string
	VideoMED                    int
	Video                       bool
	ASN                         int
	LogLevel                    string
}

type reloadPeer struct {
	Addr     netip.Addr
	Hold     string
	BFD      bool
	BFDMinTx string
}

const reloadTemplate = `
log: {level: {{.LogLevel}}}
bgp:
  asn: {{.ASN}}
  local_address: 127.0.40.10
  grpc_listen: ""
  peers:
{{- range .Peers}}
    - {address: {{.Addr}}, asn: 65000, port: {{$.BGPPort}}, hold_time: {{.Hold}}{{if .BFD}}, bfd: {enabled: true, min_tx: {{.BFDMinTx}}, min_rx: 100ms}{{end}}}
{{- end}}
bfd: {port: {{.BFDPort}}}
services:
  - name: voice
    prefixes: [203.0.113.10/32]
    health: {interval: {{.VoiceInterval}}, fast_interval: 100ms, timeout: 100ms, rise: 2, fall: 2, checks: [{tcp: "{{.VoiceCheck}}"}]}
{{- if .Video}}
  - name: video
    prefixes: [203.0.113.11/32]
    med: {{.VideoMED}}
    health: {interval: 200ms, fast_interval: 100ms, timeout: 100ms, rise: 1, fall: 1}
{{- end}}
`

func (p reloadParams) model(t *testing.T) *Model {
	t.Helper()
	var b strings.Builder
	if err := template.Must(template.New("cfg").Parse(reloadTemplate)).Execute(&b, p); err != nil {
		t.Fatal(err)
	}
	_, m, err := Load([]byte(b.String()))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, b.String())
	}
	return m
}

type reloadEnv struct {
	t   *testing.T
	rs  *vpcsim.RouteServer
	a   *Agent
	p   reloadParams
	eps map[string]netip.Addr // endpoint id → address
}

func newReloadEnv(t *testing.T) *reloadEnv {
	for k, v := range vpcsim.OfflineAWSEnv() {
		t.Setenv(k, v)
	}
	bgpPort, err := loophost.StablePort("tcp", reloadEndpoints...)
	if err != nil {
		t.Fatal(err)
	}
	bfdPort, err := loophost.StablePort("udp", append([]netip.Addr{reloadAgentAddr}, reloadEndpoints...)...)
	if err != nil {
		t.Fatal(err)
	}
	voice, err := net.Listen("tcp", reloadAgentAddr.String()+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { voice.Close() })
	go acceptAndClose(voice)

	vpc := vpcsim.NewVPC("vpc-0123456789abcdef0", netip.MustParsePrefix("10.0.0.0/16"))
	vpc.AddNetworkInterface(reloadAgentAddr)
	rs := vpcsimtest.StartRouteServer(t, vpc, vpcsim.RouteServerConfig{
		Endpoints: reloadEndpoints, Port: bgpPort, BFDPort: int(bfdPort),
		BFDMinTx: 100 * time.Millisecond, BFDMinRx: 100 * time.Millisecond, BFDMultiplier: 3,
		Peers:  []vpcsim.RouteServerPeerConfig{{Address: reloadAgentAddr, ASN: 65010, BFD: true}},
		Logger: slog.New(slog.DiscardHandler), HoldPeers: true,
	})

	e := &reloadEnv{t: t, rs: rs, eps: map[string]netip.Addr{}, p: reloadParams{
		BGPPort: int(bgpPort), BFDPort: int(bfdPort), ASN: 65010, LogLevel: "info",
		Peers: []reloadPeer{
			{Addr: reloadEndpoints[0], Hold: "90s", BFD: true, BFDMinTx: "100ms"},
			{Addr: reloadEndpoints[1], Hold: "90s", BFD: true, BFDMinTx: "100ms"},
		},
		VoiceInterval: "300ms", VoiceCheck: voice.Addr().String(), Video: true,
	}}
	for i, id := range rs.EndpointIDs() {
		e.eps[id] = reloadEndpoints[i]
	}
	e.a = runAgent(t, "agent", e.p.model(t))
	if err := rs.AdmitPeers(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.waitSessions(reloadEndpoints[0], reloadEndpoints[1])
	e.waitRoutes(map[netip.Addr]map[string]uint32{
		reloadEndpoints[0]: {"203.0.113.10/32": 0, "203.0.113.11/32": 0},
		reloadEndpoints[1]: {"203.0.113.10/32": 0, "203.0.113.11/32": 0},
	})
	return e
}

func acceptAndClose(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

// sessions is what a step must not disturb: per peer, BGP sessions
// established so far and BFD state transitions.
type sessions map[netip.Addr][2]uint64

func (e *reloadEnv) sessions() sessions {
	out := sessions{}
	for _, p := range e.a.speaker.Peers() {
		v := out[p.Address]
		v[0] = p.EstablishedCount
		out[p.Address] = v
	}
	for _, s := range e.a.bfd.Sessions() {
		v := out[s.Peer]
		v[1] = s.Transitions
		out[s.Peer] = v
	}
	return out
}

// untouched fails when a peer other than those named was reset.
func (e *reloadEnv) untouched(before sessions, touched ...netip.Addr) {
	e.t.Helper()
	after := e.sessions()
	for addr, b := range before {
		if slices.Contains(touched, addr) {
			continue
		}
		if a, ok := after[addr]; ok && a != b {
			e.t.Errorf("untouched peer %s was disturbed: BGP sessions %d → %d, BFD transitions %d → %d", addr, b[0], a[0], b[1], a[1])
		}
	}
}

func (e *reloadEnv) waitSessions(addrs ...netip.Addr) {
	e.t.Helper()
	waitFor(e.t, 15*time.Second, fmt.Sprintf("BGP and BFD up to %v", addrs), func() error {
		up := map[netip.Addr]bool{}
		for _, p := range e.a.speaker.Peers() {
			up[p.Address] = p.State == "established"
		}
		bfdUp := map[netip.Addr]bool{}
		for _, s := range e.a.bfd.Sessions() {
			bfdUp[s.Peer] = s.State.String() == "up"
		}
		for _, a := range addrs {
			if !up[a] || !bfdUp[a] {
				return fmt.Errorf("%s: bgp up %v, bfd up %v", a, up[a], bfdUp[a])
			}
		}
		return nil
	})
}

// waitRoutes waits until each endpoint has exactly the given prefixes from
// us, with those MEDs.
func (e *reloadEnv) waitRoutes(want map[netip.Addr]map[string]uint32) {
	e.t.Helper()
	waitFor(e.t, 10*time.Second, fmt.Sprintf("routes %v at the endpoints", want), func() error {
		got := map[netip.Addr]map[string]uint32{}
		for _, r := range e.rs.RIB() {
			ep := e.eps[r.EndpointID]
			if got[ep] == nil {
				got[ep] = map[string]uint32{}
			}
			got[ep][r.Prefix.String()] = r.MED
		}
		for ep, routes := range want {
			if fmt.Sprint(got[ep]) != fmt.Sprint(routes) {
				return fmt.Errorf("endpoint %s has %v", ep, got[ep])
			}
		}
		return nil
	})
}

func (e *reloadEnv) reload(p reloadParams) error {
	e.t.Helper()
	err := e.a.Reload(p.model(e.t))
	if err == nil {
		e.p = p
	}
	return err
}

func (e *reloadEnv) service(name string) (health.Status, bool) {
	mon, ok := e.a.snap.Load().monitors[name]
	if !ok {
		return health.Status{}, false
	}
	return mon.Status(), true
}

func (e *reloadEnv) transitions(service string) float64 {
	var total float64
	for _, st := range allStates {
		total += testutil.ToFloat64(e.a.metrics.serviceTransitions.WithLabelValues(service, st.String()))
	}
	return total
}

func TestReloadMatrix(t *testing.T) {
	e := newReloadEnv(t)
	eps := reloadEndpoints
	both := func(routes map[string]uint32) map[netip.Addr]map[string]uint32 {
		return map[netip.Addr]map[string]uint32{eps[0]: routes, eps[1]: routes}
	}
	healthy := map[string]uint32{"203.0.113.10/32": 0, "203.0.113.11/32": 0}
	waitFor(t, 10*time.Second, "voice up", func() error {
		if st, _ := e.service("voice"); st.State != health.StateUp {
			return fmt.Errorf("voice %s", st.State)
		}
		return nil
	})

	t.Run("a change of check timing keeps a healthy service up", func(t *testing.T) {
		before, trans := e.sessions(), e.transitions("voice")
		p := e.p
		p.VoiceInterval = "1s"
		if err := e.reload(p); err != nil {
			t.Fatal(err)
		}
		if st, _ := e.service("voice"); st.State != health.StateUp || st.Counters.Passes == 0 {
			t.Errorf("voice after a timing change: %s %+v, want still up with its counters", st.State, st.Counters)
		}
		if got := e.a.snap.Load().model.Services[0].Health.Interval; got != time.Second {
			t.Errorf("interval in force %s, want 1s", got)
		}
		time.Sleep(1500 * time.Millisecond) // rounds at the new interval; nothing may change
		if n := e.transitions("voice"); n != trans {
			t.Errorf("voice changed state %v times after a timing-only reload", n-trans)
		}
		e.waitRoutes(both(healthy))
		e.untouched(before)
	})

	t.Run("a new peer comes up and the others keep their sessions", func(t *testing.T) {
		before := e.sessions()
		p := e.p
		p.Peers = append(slices.Clone(p.Peers), reloadPeer{Addr: eps[2], Hold: "90s", BFD: true, BFDMinTx: "100ms"})
		if err := e.reload(p); err != nil {
			t.Fatal(err)
		}
		e.waitSessions(eps...)
		e.waitRoutes(map[netip.Addr]map[string]uint32{eps[0]: healthy, eps[1]: healthy, eps[2]: healthy})
		e.untouched(before, eps[2])
	})

	t.Run("BFD timers change through a Poll, without a flap", func(t *testing.T) {
		before := e.sessions()
		p := e.p
		p.Peers = slices.Clone(p.Peers)
		p.Peers[0].BFDMinTx = "200ms"
		if err := e.reload(p); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the new BFD interval negotiated", func() error {
			for _, s := range e.a.bfd.Sessions() {
				if s.Peer == eps[0] && (s.TxInterval != 200*time.Millisecond || s.PollActive) {
					return fmt.Errorf("tx %s, poll %v", s.TxInterval, s.PollActive)
				}
			}
			return nil
		})
		e.untouched(before) // eps[0] included: a Poll is not a flap
	})

	t.Run("a hold time change takes effect on the next session, without a reset", func(t *testing.T) {
		before := e.sessions()
		p := e.p
		p.Peers = slices.Clone(p.Peers)
		p.Peers[1].Hold = "30s"
		if err := e.reload(p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // a reset would show within this
		e.untouched(before)
	})

	t.Run("a MED change is announced without a session reset", func(t *testing.T) {
		before := e.sessions()
		p := e.p
		p.VideoMED = 100
		if err := e.reload(p); err != nil {
			t.Fatal(err)
		}
		e.waitRoutes(map[netip.Addr]map[string]uint32{
			eps[0]: {"203.0.113.10/32": 0, "203.0.113.11/32": 100}, eps[1]: {"203.0.113.10/32": 0, "203.0.113.11/32": 100},
		})
		e.untouched(before)
	})

	t.Run("refused whole: a restart-only change beside valid ones changes nothing", func(t *testing.T) {
		before, model := e.sessions(), e.a.snap.Load().model
		p := e.p
		p.ASN = 65011
		p.Video = false                 // would withdraw video
		p.Peers = slices.Clone(p.Peers) // would remove a peer
		p.Peers = p.Peers[:2]
		err := e.reload(p)
		if err == nil || !strings.Contains(err.Error(), "bgp.asn") || !IsConfigError(err) {
			t.Fatalf("want a refusal naming bgp.asn, got %v", err)
		}
		if e.a.snap.Load().model != model {
			t.Error("the model in force changed after a refused reload")
		}
		if _, ok := e.service("video"); !ok {
			t.Error("video was removed by a refused reload")
		}
		time.Sleep(300 * time.Millisecond)
		e.waitRoutes(map[netip.Addr]map[string]uint32{
			eps[0]: {"203.0.113.10/32": 0, "203.0.113.11/32": 100}, eps[2]: {"203.0.113.10/32": 0, "203.0.113.11/32": 100},
		})
		e.untouched(before)
	})

	t.Run("a new check re-evaluates the service; its drain stays", func(t *testing.T) {
		before, trans := e.sessions(), e.transitions("voice")
		if _, err := e.a.Drain(context.Background(), "voice", true); err != nil {
			t.Fatal(err)
		}
		p := e.p
		l, err := net.Listen("tcp", reloadAgentAddr.String()+":0")
		if err != nil {
			t.Fatal(err)
		}
		e.t.Cleanup(func() { l.Close() }) // voice is checked against it from now on
		go acceptAndClose(l)
		p.VoiceCheck = l.Addr().String()
		if err := e.reload(p); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "voice re-evaluated and still drained", func() error {
			st, _ := e.service("voice")
			if st.State != health.StateDisabled || !st.Drained || len(st.Checks) != 1 || !strings.Contains(st.Checks[0].Check, l.Addr().String()) {
				return fmt.Errorf("voice %s drained %v checks %+v", st.State, st.Drained, st.Checks)
			}
			return nil
		})
		if e.transitions("voice") == trans {
			t.Error("voice was not re-evaluated")
		}
		if _, err := e.a.Drain(context.Background(), "voice", false); err != nil {
			t.Fatal(err)
		}
		e.waitRoutes(map[netip.Addr]map[string]uint32{eps[0]: {"203.0.113.10/32": 0, "203.0.113.11/32": 100}})
		e.untouched(before)
	})

	t.Run("a removed service is withdrawn and a removed peer closed; the rest untouched", func(t *testing.T) {
		before := e.sessions()
		p := e.p
		p.Video = false
		p.Peers = slices.Clone(p.Peers[:2])
		if err := e.reload(p); err != nil {
			t.Fatal(err)
		}
		e.waitRoutes(map[netip.Addr]map[string]uint32{eps[0]: {"203.0.113.10/32": 0}, eps[1]: {"203.0.113.10/32": 0}, eps[2]: nil})
		if _, ok := e.service("video"); ok {
			t.Error("video still has a monitor")
		}
		if e.a.metrics.prefixAdvertised.DeleteLabelValues("video", "203.0.113.11/32") {
			t.Error("rsagent_prefix_advertised still has a series for the removed service's prefix")
		}
		for _, s := range e.a.bfd.Sessions() {
			if s.Peer == eps[2] {
				t.Errorf("the removed peer's BFD session is still there: %+v", s)
			}
		}
		e.untouched(before, eps[2])
	})

	t.Run("BFD turned off on a peer removes its session and keeps BGP up", func(t *testing.T) {
		before := e.sessions()
		p := e.p
		p.Peers = slices.Clone(p.Peers)
		p.Peers[1].BFD = false
		if err := e.reload(p); err != nil {
			t.Fatal(err)
		}
		for _, s := range e.a.bfd.Sessions() {
			if s.Peer == eps[1] {
				t.Errorf("BFD session to %s still there", eps[1])
			}
		}
		time.Sleep(500 * time.Millisecond) // a reset would show within this
		after := e.sessions()
		if after[eps[1]][0] != before[eps[1]][0] {
			t.Errorf("turning BFD off reset the BGP session to %s", eps[1])
		}
		e.untouched(before, eps[1])
	})

	t.Run("the log level changes live", func(t *testing.T) {
		p := e.p
		p.LogLevel = "debug"
		if err := e.reload(p); err != nil {
			t.Fatal(err)
		}
		if got := e.a.snap.Load().model.Log.Level; got != "debug" {
			t.Errorf("log.level in force %q", got)
		}
	})
}
