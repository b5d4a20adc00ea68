package bgp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/config/oc"
	"github.com/osrg/gobgp/v4/pkg/server"
	"google.golang.org/grpc"
)

// owner is the speaker's state. Exactly one goroutine touches it at a time:
// Run's, or Shutdown's when Shutdown comes before Run (see Speaker).
type owner struct {
	s   *Speaker
	srv *server.BgpServer // nil before GoBGP runs and after it stopped

	closing   bool
	desired   map[netip.Prefix]Advertisement
	applied   map[netip.Prefix]appliedPath
	wantPeers map[netip.Addr]PeerConfig
	havePeers map[netip.Addr]PeerConfig
	held      map[netip.Addr]string // peers held administratively down, with why
	rt        map[netip.Addr]*peerRuntime
	subs      map[*subscription]struct{}
	tracker   tracker
	stop      *shutdown // set once the shutdown sequence has begun
	finished  bool      // the shutdown sequence is complete; the loop ends
}

func newOwner(s *Speaker) *owner {
	o := &owner{
		s:         s,
		desired:   map[netip.Prefix]Advertisement{},
		applied:   map[netip.Prefix]appliedPath{},
		wantPeers: map[netip.Addr]PeerConfig{},
		havePeers: map[netip.Addr]PeerConfig{},
		held:      map[netip.Addr]string{},
		rt:        map[netip.Addr]*peerRuntime{},
		subs:      map[*subscription]struct{}{},
	}
	for _, p := range s.cfg.Peers {
		o.wantPeers[p.Address] = p
		o.rt[p.Address] = newPeerRuntime(p.ASN)
	}
	return o
}

// runQueued runs the operations queued so far without waiting for more.
func (o *owner) runQueued() {
	for {
		select {
		case op := <-o.s.ops:
			err := op.fn(o)
			o.publish()
			op.done <- err
		default:
			return
		}
	}
}

// finish ends ownership: subscriptions close, the snapshot shows every peer
// idle, and operations still queued are answered with ErrClosed.
func (o *owner) finish() {
	for sub := range o.subs {
		close(sub.ch)
	}
	clear(o.subs)
	for _, rt := range o.rt {
		if rt.state != StateIdle {
			rt.state, rt.since = StateIdle, time.Now()
		}
	}
	o.srv = nil
	o.publish()
	for {
		select {
		case op := <-o.s.ops:
			op.done <- ErrClosed
		default:
			return
		}
	}
}

// publish stores the view that Peers, Advertised and Held answer with when
// no owner runs, and that Held and Advertised always answer with.
func (o *owner) publish() {
	snap := &snapshot{held: make(map[netip.Addr]string, len(o.held))}
	for a, r := range o.held {
		snap.held[a] = r
	}
	for _, a := range o.applied {
		snap.advertised = append(snap.advertised, a.adv)
	}
	slices.SortFunc(snap.advertised, func(a, b Advertisement) int { return comparePrefix(a.Prefix, b.Prefix) })
	snap.peers = o.peerStatuses(nil)
	o.s.snap.Store(snap)
}

// start starts GoBGP, its peer watch and the export policy.
func (o *owner) start(ctx context.Context) error {
	s := o.s
	var grpcOpts []grpc.ServerOption
	if s.cfg.GRPCListen != "" {
		// GoBGP listens in a goroutine and only logs a failure; probing
		// first turns the common case (port taken) into an error from Run.
		l, err := net.Listen("tcp", s.cfg.GRPCListen)
		if err != nil {
			return fmt.Errorf("listen for gobgp grpc api on %s: %w", s.cfg.GRPCListen, err)
		}
		l.Close()
		if !isLoopbackHostPort(s.cfg.GRPCListen) {
			s.log.Warn("the GoBGP gRPC API is unauthenticated and can change routing; it listens beyond loopback",
				"grpc_listen", s.cfg.GRPCListen)
		}
	}
	v3 := newV3Service(s.log)
	if s.cfg.GRPCListen != "" {
		grpcOpts = append(grpcOpts, grpc.UnknownServiceHandler(v3.handle))
	}
	logger, level := gobgpLogger(s.log)
	// An empty GrpcListenAddress disables GoBGP's gRPC server, so nothing
	// listens unless configured. GoBGP's own BFD stays off: no peer is
	// given a BfdConfig, so its BFD server never binds.
	// NewBgpServer (with gRPC, grpc.EnableTracing) and StartBgp write
	// package globals; speakers of one process (the lab) start one at a time.
	startMu.Lock()
	defer startMu.Unlock()
	srv := server.NewBgpServer(server.GrpcListenAddress(s.cfg.GRPCListen), server.GrpcOption(grpcOpts),
		server.LoggerOption(logger, level))
	v3.setServer(srv)
	go srv.Serve()

	global := &api.Global{
		Asn:        s.cfg.ASN,
		RouterId:   s.cfg.RouterID.String(),
		ListenPort: s.cfg.ListenPort,
		Families:   UnicastFamilies(),
	}
	if s.cfg.ListenPort > 0 {
		global.ListenAddresses = []string{s.cfg.LocalAddress.String()}
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		s.stopServer(srv, time.Second)
		return fmt.Errorf("start gobgp (asn %d, router id %s): %w", s.cfg.ASN, s.cfg.RouterID, err)
	}
	if err := installExportPolicy(ctx, srv); err != nil {
		s.stopServer(srv, time.Second)
		return err
	}
	// The watch outlives ctx: the shutdown sequence still needs events.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	go func() {
		<-s.done
		stopWatch()
	}()
	err := srv.WatchEvent(watchCtx, server.WatchEventMessageCallbacks{
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, at time.Time) {
			select {
			case s.events <- peerEvent{ev: ev, at: at}:
			case <-s.done:
			}
		},
		OnPathUpdate: func([]*apiutil.Path, time.Time) {
			select {
			case s.received <- struct{}{}:
			default: // one pending signal says it all
			}
		},
	}, server.WatchPeer(), server.WatchUpdate(false, "", ""))
	if err != nil {
		s.stopServer(srv, time.Second)
		return fmt.Errorf("watch gobgp peer events: %w", err)
	}
	o.srv = srv
	return nil
}

// UnicastFamilies is api.Global.Families for IPv4 and IPv6 unicast, the
// only families rsagent carries. Without it GoBGP v4 builds a RIB (2,048
// shards each, twice) for every family it knows: about 8 MB of heap.
func UnicastFamilies() []uint32 {
	return []uint32{
		uint32(oc.AfiSafiTypeToIntMap[oc.AFI_SAFI_TYPE_IPV4_UNICAST]),
		uint32(oc.AfiSafiTypeToIntMap[oc.AFI_SAFI_TYPE_IPV6_UNICAST]),
	}
}

// startMu orders the StartBgp calls of all speakers in this process: GoBGP
// v4.8.0's StartBgp still writes package globals (see Started). A
// production agent has one speaker, so it costs nothing there.
var startMu sync.Mutex

// installExportPolicy lets only locally originated paths out. Route Server
// sends us the other appliances' routes; re-advertising them to the other
// endpoint with our next hop would pull their traffic through us.
func installExportPolicy(ctx context.Context, srv *server.BgpServer) error {
	p := &api.Policy{
		Name: exportPolicyName,
		Statements: []*api.Statement{{
			Name:       exportPolicyName + "-local",
			Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
		}},
	}
	if err := srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: p}); err != nil {
		return fmt.Errorf("add gobgp export policy: %w", err)
	}
	err := srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name:          "global",
		Direction:     api.PolicyDirection_POLICY_DIRECTION_EXPORT,
		Policies:      []*api.Policy{{Name: exportPolicyName}},
		DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
	}})
	if err != nil {
		return fmt.Errorf("assign gobgp export policy: %w", err)
	}
	return nil
}

// exportPolicyName is the global export policy that keeps the speaker from
// re-advertising routes learned from one Route Server endpoint to another.
const exportPolicyName = "rsagent-export-local-only"

// pollInterval is how often the owner reads GoBGP's counters while someone
// waits for UPDATEs to leave or for sessions to close.
const pollInterval = 10 * time.Millisecond

// loop is the owner's main loop; it returns when the shutdown sequence is
// complete.
func (o *owner) loop(ctx context.Context) error {
	s := o.s
	retry := time.NewTicker(retryInterval)
	defer retry.Stop()
	poll := time.NewTicker(pollInterval)
	defer poll.Stop()
	ctxDone := ctx.Done()
	for !o.finished {
		var pollC <-chan time.Time
		if o.tracker.busy() || o.stop != nil {
			pollC = poll.C
		}
		select {
		case op := <-s.ops:
			// Publish before answering, so a caller reads its own change.
			err := op.fn(o)
			o.publish()
			op.done <- err
			continue
		case ev := <-s.events:
			o.onPeerEvent(ev)
		case <-retry.C:
			o.retryPending()
		case <-pollC:
			o.tracker.poll(o)
			o.stepShutdown()
		case <-ctxDone:
			ctxDone = nil
			if o.stop == nil {
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultDrainTimeout)
				defer cancel()
				o.beginShutdown(dctx, nil)
			}
		}
		o.publish()
	}
	return nil
}

func (o *owner) retryPending() {
	if o.closing || o.srv == nil {
		return
	}
	o.foldCounters(o.listPeers(false))
	if err := errors.Join(o.applyPeers(), o.applyAdvertisements()); err != nil {
		o.s.log.Warn("bgp retry of pending changes failed", "error", err)
	}
}

// isLoopbackHostPort reports whether a host:port listens on loopback only.
func isLoopbackHostPort(hp string) bool {
	host, _, err := net.SplitHostPort(hp)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
