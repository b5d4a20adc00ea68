package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// Sentinel errors.
var (
	// ErrNotRunning: the call needs GoBGP and Run has not started it (or has returned).
	ErrNotRunning = errors.New("bgp speaker is not running")
	// ErrClosed: Shutdown has begun; the desired set can no longer change.
	ErrClosed = errors.New("bgp speaker is shut down")
	// ErrUnknownPeer: the address is not a configured peer.
	ErrUnknownPeer = errors.New("unknown bgp peer")
)

// exportPolicyName is the global export policy that keeps the speaker from
// re-advertising routes learned from one Route Server endpoint to another.
const exportPolicyName = "rsagent-export-local-only"

type phase int

const (
	phaseNew phase = iota
	phaseStarting
	phaseReady
	phaseStopped
)

// Speaker is a declarative BGP speaker over an embedded GoBGP server. All
// methods are safe for concurrent use.
type Speaker struct {
	cfg Config
	log *slog.Logger

	// opMu serialises every change to GoBGP's RIB and neighbor table so a Set,
	// a SetPeers and the shutdown drain never interleave half-applied.
	opMu      sync.Mutex
	closing   bool
	desired   map[netip.Prefix]Advertisement
	applied   map[netip.Prefix]appliedPath
	wantPeers map[netip.Addr]PeerConfig
	havePeers map[netip.Addr]PeerConfig
	held      map[netip.Addr]string // peers held administratively down, with why

	mu    sync.Mutex // guards the fields below; never held while calling GoBGP
	phase phase
	srv   *server.BgpServer
	rt    map[netip.Addr]*peerRuntime
	subs  map[*subscription]struct{}

	reasonMu sync.Mutex
	reasons  map[string][]capturedReason // GoBGP neighbor address → pending reasons

	drainErr   error // result of the drain Run did itself; guarded by mu
	shutdownCh chan shutdownRequest
	fatalCh    chan error
	done       chan struct{} // closed when Run returns
	started    chan struct{} // closed once GoBGP runs with our peers added
}

type shutdownRequest struct {
	ctx    context.Context
	result chan error
}

type capturedReason struct{ state, reason string }

const maxCapturedReasons = 16

// retryInterval is how often Run re-applies a desired state that GoBGP
// rejected earlier.
const retryInterval = 5 * time.Second

// New validates cfg and returns a Speaker. It starts nothing.
func New(cfg Config) (*Speaker, error) {
	n, err := cfg.normalized()
	if err != nil {
		return nil, fmt.Errorf("bgp config: %w", err)
	}
	s := &Speaker{
		cfg:        n,
		log:        n.Logger,
		desired:    map[netip.Prefix]Advertisement{},
		applied:    map[netip.Prefix]appliedPath{},
		wantPeers:  map[netip.Addr]PeerConfig{},
		havePeers:  map[netip.Addr]PeerConfig{},
		held:       map[netip.Addr]string{},
		rt:         map[netip.Addr]*peerRuntime{},
		subs:       map[*subscription]struct{}{},
		reasons:    map[string][]capturedReason{},
		shutdownCh: make(chan shutdownRequest),
		fatalCh:    make(chan error, 1),
		done:       make(chan struct{}),
		started:    make(chan struct{}),
	}
	for _, p := range n.Peers {
		s.wantPeers[p.Address] = p
	}
	return s, nil
}

// Run starts GoBGP (and its gRPC API when configured), adds the peers,
// applies the desired advertisements and blocks until ctx ends or Shutdown
// completes. Changes GoBGP rejected are retried every few seconds. When ctx
// ends first Run drains by itself: withdraw everything, wait up to
// DefaultDrainTimeout for the withdrawals to be sent, then close the
// sessions. Run may be called once; it returns an error only when GoBGP
// cannot start or its gRPC listener fails.
func (s *Speaker) Run(ctx context.Context) error {
	s.mu.Lock()
	switch s.phase {
	case phaseStopped:
		s.mu.Unlock()
		return nil
	case phaseStarting, phaseReady:
		s.mu.Unlock()
		return errors.New("bgp speaker: Run called twice")
	}
	s.phase = phaseStarting
	s.mu.Unlock()
	defer close(s.done)
	defer s.markStopped()

	srv, err := s.start()
	if err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	if err := srv.WatchEvent(watchCtx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, s.onWatchEvent); err != nil {
		s.stopServer(srv, time.Second)
		return fmt.Errorf("watch gobgp peer events: %w", err)
	}

	s.opMu.Lock()
	s.mu.Lock()
	s.srv = srv
	s.phase = phaseReady
	s.mu.Unlock()
	err = errors.Join(s.applyPeersLocked(srv), s.applyAdvertisementsLocked(srv))
	s.opMu.Unlock()
	if err != nil {
		s.log.Warn("bgp initial state not fully applied; retrying", "error", err, "retry_interval", retryInterval)
	}
	s.log.Info("bgp speaker started", "asn", s.cfg.ASN, "router_id", s.cfg.RouterID,
		"local_address", s.cfg.LocalAddress, "grpc_listen", s.cfg.GRPCListen)
	close(s.started)

	// Level-triggered: a Set or SetPeers that failed half-way is retried
	// until GoBGP holds the desired state, even if no further call comes.
	retry := time.NewTicker(retryInterval)
	defer retry.Stop()
	for {
		select {
		case <-retry.C:
			s.retryPending(srv)
		case req := <-s.shutdownCh:
			req.result <- s.drain(req.ctx, srv)
			return nil
		case err := <-s.fatalCh:
			s.stopServer(srv, time.Second)
			return err
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultDrainTimeout)
			defer cancel()
			if err := s.drain(dctx, srv); err != nil {
				s.log.Warn("bgp drain incomplete", "error", err)
				s.mu.Lock()
				s.drainErr = err
				s.mu.Unlock()
			}
			return nil
		}
	}
}

// startMu orders the StartBgp calls of all speakers in this process.
var startMu sync.Mutex

// Started is closed once Run has started GoBGP and added the peers. It is
// never closed when GoBGP fails to start.
//
// Several speakers in one process (the lab) need it: GoBGP v3.37's StartBgp
// writes package globals (table.SelectionOptions) that every running server
// reads when it computes best paths, so no session may come up anywhere in
// the process until every server has started.
func (s *Speaker) Started() <-chan struct{} { return s.started }

func (s *Speaker) retryPending(srv *server.BgpServer) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closing {
		return
	}
	if err := errors.Join(s.applyPeersLocked(srv), s.applyAdvertisementsLocked(srv)); err != nil {
		s.log.Warn("bgp retry of pending changes failed", "error", err)
	}
}

func (s *Speaker) start() (*server.BgpServer, error) {
	if s.cfg.GRPCListen != "" {
		// GoBGP listens in a goroutine and reports failure through
		// logger.Fatal; probing first turns the common case (port taken)
		// into an ordinary error.
		l, err := net.Listen("tcp", s.cfg.GRPCListen)
		if err != nil {
			return nil, fmt.Errorf("listen for gobgp grpc api on %s: %w", s.cfg.GRPCListen, err)
		}
		l.Close()
	}
	logger := &gobgpLogger{
		log:           s.log,
		onStateChange: s.captureReason,
		onFatal: func(msg string) {
			select {
			case s.fatalCh <- fmt.Errorf("gobgp: %s", msg):
			default:
			}
		},
	}
	// An empty GrpcListenAddress disables GoBGP's gRPC server (checked in
	// v3.37.0 NewBgpServer), so nothing listens unless configured.
	srv := server.NewBgpServer(server.GrpcListenAddress(s.cfg.GRPCListen), server.LoggerOption(logger))
	go srv.Serve()

	global := &api.Global{
		Asn:        s.cfg.ASN,
		RouterId:   s.cfg.RouterID.String(),
		ListenPort: s.cfg.ListenPort,
	}
	if s.cfg.ListenPort > 0 {
		global.ListenAddresses = []string{s.cfg.LocalAddress.String()}
	}
	ctx := context.Background()
	// StartBgp writes GoBGP package globals; speakers of one process (the
	// lab) start one at a time.
	startMu.Lock()
	err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: global})
	startMu.Unlock()
	if err != nil {
		s.stopServer(srv, time.Second)
		return nil, fmt.Errorf("start gobgp (asn %d, router id %s): %w", s.cfg.ASN, s.cfg.RouterID, err)
	}
	if err := installExportPolicy(ctx, srv); err != nil {
		s.stopServer(srv, time.Second)
		return nil, err
	}
	return srv, nil
}

// installExportPolicy lets only locally originated paths out. Route Server
// sends us the other appliances' routes; re-advertising them to the other
// endpoint with our next hop would pull their traffic through us.
func installExportPolicy(ctx context.Context, srv *server.BgpServer) error {
	p := &api.Policy{
		Name: exportPolicyName,
		Statements: []*api.Statement{{
			Name:       exportPolicyName + "-local",
			Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
			Actions:    &api.Actions{RouteAction: api.RouteAction_ACCEPT},
		}},
	}
	if err := srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: p}); err != nil {
		return fmt.Errorf("add gobgp export policy: %w", err)
	}
	err := srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name:          "global",
		Direction:     api.PolicyDirection_EXPORT,
		Policies:      []*api.Policy{{Name: exportPolicyName}},
		DefaultAction: api.RouteAction_REJECT,
	}})
	if err != nil {
		return fmt.Errorf("assign gobgp export policy: %w", err)
	}
	return nil
}

// Shutdown withdraws every advertisement, waits (bounded by ctx) until the
// withdrawals were written to every Established peer, then closes the
// sessions and stops GoBGP. Run returns afterwards. Calling Shutdown before
// Run makes Run return at once.
func (s *Speaker) Shutdown(ctx context.Context) error {
	s.opMu.Lock()
	s.mu.Lock()
	ph := s.phase
	if ph == phaseNew {
		s.phase = phaseStopped
		s.closing = true
		s.closeSubsLocked()
	}
	s.mu.Unlock()
	s.opMu.Unlock()
	if ph == phaseNew || ph == phaseStopped {
		return nil
	}
	req := shutdownRequest{ctx: ctx, result: make(chan error, 1)}
	select {
	case s.shutdownCh <- req:
	case <-s.done:
		// Run's context ended first and Run drained by itself.
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.drainErr
	case <-ctx.Done():
		return fmt.Errorf("bgp shutdown: %w", ctx.Err())
	}
	select {
	case err := <-req.result:
		<-s.done
		return err
	case <-ctx.Done():
		return fmt.Errorf("bgp shutdown: %w", ctx.Err())
	}
}

// drain runs the shutdown sequence on the Run goroutine.
func (s *Speaker) drain(ctx context.Context, srv *server.BgpServer) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.closing = true
	werr := s.withdrawAllLocked(ctx, srv)
	s.mu.Lock()
	s.srv = nil
	s.mu.Unlock()
	// Closing sessions is never skipped: both steps get their own short grace
	// even when ctx has expired.
	s.closeSessionsLocked(srv, 500*time.Millisecond)
	s.stopServer(srv, time.Second)
	s.log.Info("bgp speaker stopped")
	return werr
}

// stopServer stops GoBGP but gives up after grace: its StopBgp waits for every
// peer goroutine, and a write to a dead peer can block for the hold time.
// GoBGP's Serve loop has no exit in v3, so its goroutine outlives this call.
func (s *Speaker) stopServer(srv *server.BgpServer, grace time.Duration) {
	stopped := make(chan struct{})
	go func() {
		srv.Stop()
		close(stopped)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		s.log.Warn("gobgp did not stop in time; abandoning it", "grace", grace)
	}
}

func (s *Speaker) markStopped() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.phase = phaseStopped
	s.srv = nil
	s.closeSubsLocked()
}

// server returns the running GoBGP server, or nil before Run is ready and
// after shutdown.
func (s *Speaker) server() *server.BgpServer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}
