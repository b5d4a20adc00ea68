package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/server"
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

const (
	phaseNew int32 = iota
	phaseRunning
	phaseStopped
)

// opQueue is how many operations may wait for the owner. Before Run it bounds
// the changes a caller can queue (the agent queues one per peer and one Set).
const opQueue = 256

// Speaker is a declarative BGP speaker over an embedded GoBGP server. All
// methods are safe for concurrent use.
//
// One goroutine owns everything: the one running Run (or, when Shutdown comes
// before Run, the one running Shutdown). The public methods send it
// operations and wait for their result, as bfd sessions do; GoBGP's peer
// events reach it through a channel too. Nothing here is guarded by a mutex.
type Speaker struct {
	cfg Config
	log *slog.Logger

	phase   atomic.Int32
	ops     chan op
	events  chan peerEvent
	done    chan struct{} // closed when the owner is gone
	started chan struct{} // closed once GoBGP runs with our peers added
	// received is signalled (coalesced) when a peer sends us an UPDATE.
	received chan struct{}

	// snap is what the owner last published, for the calls that must
	// answer when no owner runs (before Run, after it) without waiting.
	snap atomic.Pointer[snapshot]

	// drainErr is the result of the drain Run did by itself, for a
	// Shutdown that arrives after it.
	drainErr atomic.Pointer[boxedErr]

	// own is the owner's state. Only the owner goroutine touches it.
	own *owner
}

// op is one operation for the owner. fn runs on the owner goroutine; its
// result goes to done (buffered) unless the caller does not wait.
type op struct {
	fn   func(*owner) error
	done chan error
}

// peerEvent is GoBGP's peer event as the watch callback forwards it.
type peerEvent struct {
	ev *apiutil.WatchEventMessage_PeerEvent
	at time.Time
}

// snapshot is the owner's published view.
type snapshot struct {
	peers      []PeerStatus
	advertised []Advertisement
	held       map[netip.Addr]string
}

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
		cfg:      n,
		log:      n.Logger,
		ops:      make(chan op, opQueue),
		events:   make(chan peerEvent, 64),
		done:     make(chan struct{}),
		started:  make(chan struct{}),
		received: make(chan struct{}, 1),
	}
	s.own = newOwner(s)
	s.own.publish()
	return s, nil
}

// ReceivedRoutes is signalled whenever a peer sends us an UPDATE (signals
// coalesce: one pending means "something changed since you last looked").
// Route Server sends every peer the best paths it learned from the others,
// so a change here is how an appliance learns that Route Server moved a
// route — to it, or away from it — without anything of its own changing.
func (s *Speaker) ReceivedRoutes() <-chan struct{} { return s.received }

// Started is closed once Run has started GoBGP and added the peers. It is
// never closed when GoBGP fails to start.
//
// Several speakers in one process (the lab) need it: GoBGP v4.8.0's StartBgp
// still writes package globals (table.SelectionOptions, UseMultiplePaths)
// that every running server reads when it computes best paths, so no session
// may come up anywhere in the process until every server has started.
func (s *Speaker) Started() <-chan struct{} { return s.started }

// do runs fn on the owner and returns its result. Before Run the operation
// is queued and do returns nil at once: it is applied when Run starts.
func (s *Speaker) do(fn func(*owner) error) error {
	o := op{fn: fn, done: make(chan error, 1)}
	switch s.phase.Load() {
	case phaseStopped:
		return ErrClosed
	case phaseNew:
		select {
		case s.ops <- o:
			return nil
		default:
			return errors.New("bgp speaker: too many changes queued before Run")
		}
	}
	select {
	case s.ops <- o:
	case <-s.done:
		return ErrClosed
	}
	select {
	case err := <-o.done:
		return err
	case <-s.done:
		return ErrClosed
	}
}

// query runs fn on a running owner. It returns ErrNotRunning before Run and
// after it.
func (s *Speaker) query(fn func(*owner) error) error {
	if s.phase.Load() != phaseRunning {
		return ErrNotRunning
	}
	err := s.do(fn)
	if errors.Is(err, ErrClosed) {
		return ErrNotRunning
	}
	return err
}

// Run starts GoBGP (and its gRPC API when configured), adds the peers,
// applies the desired advertisements and blocks until ctx ends or Shutdown
// completes. Changes GoBGP rejected are retried every few seconds. When ctx
// ends first Run drains by itself: withdraw everything, wait up to
// DefaultDrainTimeout for the withdrawals to be sent, then close the
// sessions. Run may be called once; it returns an error only when GoBGP
// cannot start or its gRPC listener fails.
func (s *Speaker) Run(ctx context.Context) error {
	if !s.phase.CompareAndSwap(phaseNew, phaseRunning) {
		if s.phase.Load() == phaseStopped {
			return nil
		}
		return errors.New("bgp speaker: Run called twice")
	}
	o := s.own
	defer func() {
		s.phase.Store(phaseStopped)
		o.finish()
		close(s.done)
	}()
	o.runQueued() // changes made before Run: recorded, applied below

	if err := o.start(ctx); err != nil {
		return err
	}
	if err := errors.Join(o.applyPeers(), o.applyAdvertisements()); err != nil {
		s.log.Warn("bgp initial state not fully applied; retrying", "error", err, "retry_interval", retryInterval)
	}
	o.publish()
	s.log.Info("bgp speaker started", "asn", s.cfg.ASN, "router_id", s.cfg.RouterID,
		"local_address", s.cfg.LocalAddress, "grpc_listen", s.cfg.GRPCListen)
	close(s.started)
	return o.loop(ctx)
}

// Shutdown withdraws every advertisement, waits (bounded by ctx) until the
// withdrawals were written to every Established peer, then closes the
// sessions and stops GoBGP. Run returns afterwards. Calling Shutdown before
// Run makes Run return at once.
func (s *Speaker) Shutdown(ctx context.Context) error {
	if s.phase.CompareAndSwap(phaseNew, phaseStopped) {
		// Run will never own the state: this call does, once.
		s.own.runQueued()
		s.own.finish()
		close(s.done)
		return nil
	}
	res := make(chan error, 1)
	err := s.do(func(o *owner) error { o.beginShutdown(ctx, res); return nil })
	if errors.Is(err, ErrClosed) {
		// Run's context ended first and Run drained by itself.
		<-s.done
		return s.drainErr.Load().unwrap()
	}
	select {
	case err := <-res:
		<-s.done
		return err
	case <-ctx.Done():
		return fmt.Errorf("bgp shutdown: %w", ctx.Err())
	}
}

// boxedErr lets an error live in an atomic.Pointer.
type boxedErr struct{ err error }

func (b *boxedErr) unwrap() error {
	if b == nil {
		return nil
	}
	return b.err
}

// stopServer stops GoBGP but gives up after grace: its StopBgp waits for every
// peer goroutine, and a write to a dead peer can block for the hold time.
func (s *Speaker) stopServer(srv *server.BgpServer, grace time.Duration) {
	if !stopWithin(srv, grace) {
		s.log.Warn("gobgp did not stop in time; abandoning it", "grace", grace)
	}
}
