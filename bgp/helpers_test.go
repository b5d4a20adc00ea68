package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"
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
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("find free port on %s: %v", host, err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
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
	t    testing.TB
	asn  uint32
	addr netip.Addr
	port uint16
	srv  *server.BgpServer

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
	rs.srv = server.NewBgpServer(server.LoggerOption(&gobgpLogger{log: testLogger(t)}))
	go rs.srv.Serve()
	ctx := context.Background()
	err := rs.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: addr, ListenPort: int32(rs.port), ListenAddresses: []string{addr},
	}})
	if err != nil {
		t.Fatalf("start route server: %v", err)
	}
	t.Cleanup(rs.stop)
	err = rs.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: speakerAddr.String(), PeerAsn: speakerASN},
		Transport: &api.Transport{PassiveMode: true, LocalAddress: addr},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3}},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
		},
	}})
	if err != nil {
		t.Fatalf("add passive peer to route server: %v", err)
	}
	return rs
}

// stop stops the route server once its sessions are down.
func (rs *routeServer) stop() { stopAfterSessions(rs.srv) }

// stopAfterSessions waits (bounded) until srv has seen its sessions end,
// then stops it. GoBGP v3.37's StopBgp clears the global config that a
// session's receive goroutine reads for every UPDATE; only the server's own
// handling of the session-down event orders that read before the clear, so
// stopping earlier is a data race inside GoBGP under -race.
func stopAfterSessions(srv *server.BgpServer) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waitSessionsDown(ctx, srv)
	srv.Stop()
}

// watchUpdates records peer state changes and received UPDATEs in one
// ordered log. Only for tests without reconnects: GoBGP v3.37's table watch
// reads a path's peer info while a new session's FSM rewrites it (a data race
// inside GoBGP).
func (rs *routeServer) watchUpdates() {
	rs.t.Helper()
	wctx, cancel := context.WithCancel(context.Background())
	rs.t.Cleanup(cancel)
	err := rs.srv.WatchEvent(wctx, &api.WatchEventRequest{
		Peer:  &api.WatchEventRequest_Peer{},
		Table: &api.WatchEventRequest_Table{Filters: []*api.WatchEventRequest_Table_Filter{{Type: api.WatchEventRequest_Table_Filter_ADJIN}}},
	}, rs.record)
	if err != nil {
		rs.t.Fatalf("watch route server events: %v", err)
	}
}

func (rs *routeServer) record(r *api.WatchEventResponse) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if p := r.GetPeer(); p != nil {
		rs.events = append(rs.events, rsEvent{peerState: sessionStateName(p.GetPeer().GetState().GetSessionState())})
	}
	for _, p := range r.GetTable().GetPaths() {
		pfx, err := pathPrefix(p)
		if err != nil {
			continue
		}
		if p.GetIsWithdraw() {
			rs.events = append(rs.events, rsEvent{withdrawn: pfx})
		} else {
			rs.events = append(rs.events, rsEvent{announced: pfx})
		}
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
	family := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if v6 {
		family.Afi = api.Family_AFI_IP6
	}
	out := map[netip.Prefix]seenRoute{}
	err := rs.srv.ListPath(context.Background(), &api.ListPathRequest{
		TableType: api.TableType_ADJ_IN, Name: speakerAddr.String(), Family: family,
	}, func(d *api.Destination) {
		for _, p := range d.GetPaths() {
			pfx, err := pathPrefix(p)
			if err != nil {
				rs.t.Errorf("route server path: %v", err)
				continue
			}
			out[pfx] = describePath(rs.t, p)
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
	path, err := apiPath(Advertisement{Prefix: pfx, NextHop: rs.addr}, rs.asn)
	if err != nil {
		rs.t.Fatal(err)
	}
	if _, err := rs.srv.AddPath(context.Background(), &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path}); err != nil {
		rs.t.Fatalf("route server announce %s: %v", prefix, err)
	}
}

func pathPrefix(p *api.Path) (netip.Prefix, error) {
	var n api.IPAddressPrefix
	if err := p.GetNlri().UnmarshalTo(&n); err != nil {
		return netip.Prefix{}, fmt.Errorf("decode nlri: %w", err)
	}
	return netip.ParsePrefix(n.Prefix + "/" + strconv.Itoa(int(n.PrefixLen)))
}

func describePath(t testing.TB, p *api.Path) seenRoute {
	t.Helper()
	attrs, err := apiutil.GetNativePathAttributes(p)
	if err != nil {
		t.Fatalf("decode path attributes: %v", err)
	}
	var r seenRoute
	for _, a := range attrs {
		switch a := a.(type) {
		case *bgp.PathAttributeNextHop:
			r.nextHop, _ = netip.AddrFromSlice(a.Value)
			r.nextHop = r.nextHop.Unmap()
		case *bgp.PathAttributeMpReachNLRI:
			r.nextHop, _ = netip.AddrFromSlice(a.Nexthop)
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
