package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/rsagent/rsagent/internal/loophost"
)

const (
	rsASN    = 65000
	localASN = 4200000001 // a 4-byte ASN, as Route Server allows
)

var speakerAddr = netip.MustParseAddr("127.0.0.1")

// freePort finds a free TCP port on host. GoBGP needs fixed ports in its
// peer config, so the listener is closed again; the small reuse race is
// acceptable on loopback.
func freePort(t testing.TB, host string) uint16 {
	t.Helper()
	p, err := loophost.StablePort("tcp", netip.MustParseAddr(host))
	if err != nil {
		t.Fatalf("find free port on %s: %v", host, err)
	}
	return p
}

// eventually polls cond every 20 ms until it returns nil or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s: %v", what, timeout, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("RSAGENT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	_ = t
	return slog.New(slog.DiscardHandler)
}

// routeServer is a plain GoBGP playing the VPC Route Server endpoint: it
// listens, never initiates, and accepts our speaker as a passive peer.
type routeServer struct {
	t          testing.TB
	asn        uint32
	speakerASN uint32
	addr       netip.Addr
	port       uint16
	srv        *server.BgpServer

	mu     sync.Mutex
	events []rsEvent // peer and received-UPDATE events, in GoBGP's order
}

type rsEvent struct {
	peerState string       // set for peer events
	withdrawn netip.Prefix // set for received withdrawals
	announced netip.Prefix // set for received announcements
}

func newRouteServer(t testing.TB, addr string, speakerASN uint32) *routeServer {
	t.Helper()
	return newRouteServerAS(t, addr, rsASN, speakerASN)
}

func newRouteServerAS(t testing.TB, addr string, asn, speakerASN uint32) *routeServer {
	t.Helper()
	rs := &routeServer{t: t, asn: asn, addr: netip.MustParseAddr(addr), port: freePort(t, addr)}
	rs.srv = newTestGoBGP(t)
	ctx := context.Background()
	err := rs.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: addr, ListenPort: int32(rs.port), ListenAddresses: []string{addr},
	}})
	if err != nil {
		t.Fatalf("start route server: %v", err)
	}
	t.Cleanup(rs.stop)
	rs.speakerASN = speakerASN
	if err := rs.srv.AddPeer(ctx, rs.speakerPeer()); err != nil {
		t.Fatalf("add passive peer to route server: %v", err)
	}
	return rs
}

func (rs *routeServer) speakerPeer() *api.AddPeerRequest {
	return &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: speakerAddr.String(), PeerAsn: rs.speakerASN},
		Transport: &api.Transport{PassiveMode: true, LocalAddress: rs.addr.String()},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3}},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
		},
	}}
}

// readmit re-creates the route server's neighbor for our speaker, so it
// accepts a new connection at once instead of after GoBGP's fixed 5 s idle
// hold (as the emulated Route Server does).
func (rs *routeServer) readmit() {
	rs.t.Helper()
	ctx := context.Background()
	if err := rs.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: speakerAddr.String()}); err != nil {
		rs.t.Fatalf("route server: delete our speaker: %v", err)
	}
	if err := rs.srv.AddPeer(ctx, rs.speakerPeer()); err != nil {
		rs.t.Fatalf("route server: re-add our speaker: %v", err)
	}
}

// stop stops the route server once its sessions are down.
func (rs *routeServer) stop() { stopAfterSessions(rs.srv) }

// newTestGoBGP is a plain GoBGP server for the far side of a test, serving.
func newTestGoBGP(t testing.TB) *server.BgpServer {
	logger, level := gobgpLogger(testLogger(t))
	srv := server.NewBgpServer(server.LoggerOption(logger, level))
	go srv.Serve()
	return srv
}

// stopAfterSessions closes srv's sessions, then stops it.
func stopAfterSessions(srv *server.BgpServer) {
	StopGoBGP(srv, "test route server stopping", 5*time.Second)
}

// watchUpdates records peer state changes and received UPDATEs in one
// ordered log.
func (rs *routeServer) watchUpdates() {
	rs.t.Helper()
	wctx, cancel := context.WithCancel(context.Background())
	rs.t.Cleanup(cancel)
	err := rs.srv.WatchEvent(wctx, server.WatchEventMessageCallbacks{
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
			if ev.Type != apiutil.PEER_EVENT_STATE {
				return
			}
			rs.mu.Lock()
			defer rs.mu.Unlock()
			rs.events = append(rs.events, rsEvent{peerState: fsmStateName(ev.Peer.State.SessionState)})
		},
		OnPathUpdate: func(paths []*apiutil.Path, _ time.Time) {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			for _, p := range paths {
				pfx, err := pathPrefix(p)
				if err != nil {
					continue
				}
				if p.Withdrawal {
					rs.events = append(rs.events, rsEvent{withdrawn: pfx})
				} else {
					rs.events = append(rs.events, rsEvent{announced: pfx})
				}
			}
		},
	}, server.WatchPeer(), server.WatchUpdate(false, "", ""))
	if err != nil {
		rs.t.Fatalf("watch route server events: %v", err)
	}
}

func (rs *routeServer) eventLog() []rsEvent {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]rsEvent(nil), rs.events...)
}

// peerConfig is how our speaker is configured to reach this route server.
func (rs *routeServer) peerConfig() PeerConfig {
	return PeerConfig{Address: rs.addr, ASN: rs.asn, Port: rs.port, HoldTime: 9 * time.Second, ConnectRetry: time.Second}
}

// neighbor returns the route server's view of our speaker.
func (rs *routeServer) neighbor() *api.Peer {
	var out *api.Peer
	_ = rs.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: speakerAddr.String()}, func(p *api.Peer) { out = p })
	return out
}

// updatesReceived is the route server's count of UPDATEs from our speaker.
func (rs *routeServer) updatesReceived() uint64 {
	return rs.neighbor().GetState().GetMessages().GetReceived().GetUpdate()
}

func (rs *routeServer) state() string {
	if p := rs.neighbor(); p != nil {
		return sessionStateName(p.GetState().GetSessionState())
	}
	return ""
}

// seenRoute is a route as the route server received it.
type seenRoute struct {
	nextHop netip.Addr
	med     uint32
	asPath  []uint32
}

// routes returns the route server's RIB for one family, learned from our speaker.
func (rs *routeServer) routes(v6 bool) map[netip.Prefix]seenRoute {
	family := bgp.RF_IPv4_UC
	if v6 {
		family = bgp.RF_IPv6_UC
	}
	out := map[netip.Prefix]seenRoute{}
	err := rs.srv.ListPath(apiutil.ListPathRequest{
		TableType: api.TableType_TABLE_TYPE_ADJ_IN, Name: speakerAddr.String(), Family: family,
	}, func(_ bgp.NLRI, paths []*apiutil.Path) {
		for _, p := range paths {
			pfx, err := pathPrefix(p)
			if err != nil {
				rs.t.Errorf("route server path: %v", err)
				continue
			}
			out[pfx] = describePath(p.Attrs)
		}
	})
	if err != nil {
		rs.t.Fatalf("list route server paths: %v", err)
	}
	return out
}

// announce makes the route server send prefix to its peers (as Route
// Server would send another appliance's route).
func (rs *routeServer) announce(prefix string) {
	rs.t.Helper()
	pfx := netip.MustParsePrefix(prefix)
	path, err := nativePath(Advertisement{Prefix: pfx, NextHop: rs.addr}, rs.asn, time.Now())
	if err != nil {
		rs.t.Fatal(err)
	}
	if _, err := rs.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{path}}); err != nil {
		rs.t.Fatalf("route server announce %s: %v", prefix, err)
	}
}

func pathPrefix(p *apiutil.Path) (netip.Prefix, error) {
	n, ok := p.Nlri.(*bgp.IPAddrPrefix)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("nlri %T is not an IP prefix", p.Nlri)
	}
	return n.Prefix, nil
}

func describePath(attrs []bgp.PathAttributeInterface) seenRoute {
	var r seenRoute
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			r.nextHop = a.Value.Unmap()
		case *bgp.PathAttributeMpReachNLRI:
			r.nextHop = a.Nexthop
		case *bgp.PathAttributeMultiExitDisc:
			r.med = a.Value
		case *bgp.PathAttributeAsPath:
			for _, seg := range a.Value {
				r.asPath = append(r.asPath, seg.GetAS()...)
			}
		}
	}
	return r
}

// runSpeaker starts s.Run and registers a cleanup that shuts it down and
// checks that Run returned.
func runSpeaker(t testing.TB, s *Speaker) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("shutdown: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after Shutdown")
		}
	})
	return done
}

func newTestSpeaker(t testing.TB, mutate func(*Config), peers ...PeerConfig) *Speaker {
	t.Helper()
	cfg := Config{
		ASN:          localASN,
		LocalAddress: speakerAddr,
		Peers:        peers,
		Logger:       testLogger(t),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func peerStatus(s *Speaker, addr netip.Addr) PeerStatus {
	for _, p := range s.Peers() {
		if p.Address == addr {
			return p
		}
	}
	return PeerStatus{}
}

func waitEstablished(t testing.TB, s *Speaker, addr netip.Addr) PeerStatus {
	t.Helper()
	var st PeerStatus
	eventually(t, 10*time.Second, "session to "+addr.String()+" established", func() error {
		st = peerStatus(s, addr)
		if st.State != StateEstablished {
			return fmt.Errorf("state %q", st.State)
		}
		// GoBGP can say Established a moment before its event reaches the
		// speaker; until then the session's start is GoBGP's whole second.
		if st.EstablishedCount == 0 {
			return errors.New("established, but the speaker has not had the event yet")
		}
		return nil
	})
	return st
}

func (e rsEvent) String() string {
	switch {
	case e.peerState != "":
		return "peer:" + e.peerState
	case e.withdrawn.IsValid():
		return "withdraw:" + e.withdrawn.String()
	default:
		return "announce:" + e.announced.String()
	}
}
