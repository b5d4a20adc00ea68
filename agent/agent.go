package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rsagent/rsagent/bfd"
	"github.com/rsagent/rsagent/bgp"
)

// Version is set at build time (-ldflags -X).
var Version = "dev"

// Options are the agent's run-time settings that are not in the config file.
type Options struct {
	Logger *slog.Logger
	// LogLevel, if set, is adjusted when a reload changes log.level.
	LogLevel *slog.LevelVar
	// ShutdownTimeout bounds how long SIGTERM waits for withdrawals to be
	// delivered before the sessions close (default 2s).
	ShutdownTimeout time.Duration
}

// Agent runs the speaker, BFD, health monitors, reconciler and HTTP server of
// one rsagent process, and couples them.
//
// Concurrency (docs/architecture.md): the agent's own state — the model in
// force, the services with their monitors and health states, the set handed
// to BGP, pending drains — belongs to one goroutine, the loop (core.go).
// Health transitions, BFD and BGP events, reloads and drains reach it as
// messages; nothing holds a lock across I/O, and a monitor's callback never
// blocks. Readers (Status, /metrics) use the snapshot the loop publishes and
// the components' own snapshots.
type Agent struct {
	log     *slog.Logger
	opts    Options
	metrics *metrics

	speaker *bgp.Speaker
	bfd     *bfd.Manager
	rec     *reconcilerHandle

	// initial is the model New got; the loop owns the one in force.
	initial *Model
	ops     chan op
	health  *mailbox[healthEvent]
	// snap is the loop's last published view.
	snap atomic.Pointer[snapshot]

	started  time.Time
	ready    atomic.Bool
	loopUp   atomic.Bool
	loopDone chan struct{}
}

// op is one operation run on the loop; fn may not block on the loop itself.
type op struct {
	fn   func(*core)
	done chan struct{}
}

// New builds an agent from a validated model. It starts nothing.
func New(m *Model, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = bgp.DefaultDrainTimeout
	}
	switch {
	case m.RouterOnly:
		return nil, &ConfigError{Problems: []string{"bgp: this config is for direct mode (a router section, no bgp); run it with `rsagent router`"}}
	case m.ReconcileOnly:
		return nil, &ConfigError{Problems: []string{"bgp: this config has only a reconcile section; run it with `rsagent reconcile`, or add bgp and services for `rsagent run`"}}
	case m.Router != nil:
		return nil, &ConfigError{Problems: []string{"router: direct mode runs with `rsagent router`, not inside `rsagent run`; give it a config file of its own"}}
	}
	a := &Agent{
		log:      opts.Logger,
		opts:     opts,
		metrics:  newMetrics(Version),
		initial:  m,
		ops:      make(chan op),
		health:   newMailbox[healthEvent](),
		loopDone: make(chan struct{}),
	}
	sp, err := bgp.New(speakerConfig(m, a.log))
	if err != nil {
		return nil, &ConfigError{Problems: []string{"bgp: " + err.Error()}}
	}
	a.speaker = sp
	a.metrics.reg.MustRegister(newBGPCollector(sp.Peers))
	// BFD listens on the session source only: BFD comes from the Route
	// Server endpoints to our ENI address, and several agents (the lab's HA
	// pair) can then share a host.
	listen := []netip.Addr{m.BGP.LocalAddress}
	if m.BGP.LocalAddressV6.IsValid() {
		listen = append(listen, m.BGP.LocalAddressV6)
	}
	a.bfd = bfd.NewManager(bfd.ManagerConfig{Port: m.BFDPort, ListenAddrs: listen, Logger: a.log.With("component", "bfd")})
	a.metrics.reg.MustRegister(newBFDCollector(a.bfd.Sessions, a.bfd.Drops))
	for _, p := range m.BGP.Peers {
		a.metrics.bgpUp.WithLabelValues(p.Address.String()).Set(0)
	}
	if m.Reconcile != nil {
		rec, err := newReconcilerHandle(m, a.log, a.metrics)
		if err != nil {
			return nil, err
		}
		a.rec = rec
	}
	a.snap.Store(&snapshot{model: m})
	return a, nil
}

func speakerConfig(m *Model, log *slog.Logger) bgp.Config {
	return bgp.Config{
		ASN:            m.BGP.ASN,
		RouterID:       m.BGP.RouterID,
		LocalAddress:   m.BGP.LocalAddress,
		LocalAddressV6: m.BGP.LocalAddressV6,
		ListenPort:     listenPort(m.BGP.ListenPort),
		GRPCListen:     m.BGP.GRPCListen,
		Peers:          peerConfigs(m),
		Logger:         log.With("component", "bgp"),
	}
}

// listenPort maps bgp.listen_port (0 = off) to bgp.Config's (-1 = off).
func listenPort(p uint16) int32 {
	if p == 0 {
		return -1
	}
	return int32(p)
}

func peerConfigs(m *Model) []bgp.PeerConfig {
	out := make([]bgp.PeerConfig, 0, len(m.BGP.Peers))
	for _, p := range m.BGP.Peers {
		out = append(out, bgp.PeerConfig{Address: p.Address, ASN: p.ASN, Port: p.Port, HoldTime: p.HoldTime, ConnectRetry: p.ConnectRetry})
	}
	return out
}

func bfdSessionConfig(m *Model, p PeerModel) bfd.SessionConfig {
	return bfd.SessionConfig{
		Peer: p.Address, Local: m.BGP.LocalAddress,
		DesiredMinTx: p.BFD.MinTx, RequiredMinRx: p.BFD.MinRx, DetectMult: p.BFD.Multiplier, Passive: p.BFD.Passive,
		Auth: m.BFDAuth,
	}
}

// ErrNotRunning: the agent's loop is not running (before Run, or after it).
var ErrNotRunning = errors.New("the agent is not running")

// Run runs everything until ctx ends, then shuts down in order: withdraw
// every prefix and wait (bounded) until the peers acknowledged the
// withdrawals, close the BGP sessions, then BFD AdminDown. Route Server's
// PersistRoutes would otherwise keep our routes for minutes after a session
// merely dropped. It returns an error when the withdrawals could not be
// confirmed delivered.
func (a *Agent) Run(ctx context.Context) error {
	a.started = time.Now()
	m := a.initial
	// Bind first: a port in use is a start error, before anything runs.
	var srv *httpServer
	if m.HTTP.Listen != "" {
		var err error
		if srv, err = a.newHTTPServer(m); err != nil {
			return err
		}
	}
	// Components run on a context that outlives ctx, so that the shutdown
	// sequence below can still use them.
	compCtx, stopComponents := context.WithCancel(context.WithoutCancel(ctx))
	defer stopComponents()
	g, gctx := errgroup.WithContext(compCtx)

	bgpEvents, unsubBGP := a.speaker.Subscribe()
	defer unsubBGP()
	bfdEvents, unsubBFD := a.bfd.Subscribe()
	defer unsubBFD()

	// BFD sessions (and bfd.strict holds), the monitors and the first
	// advertisement set are in place before the speaker makes its first
	// connection; the loop takes the state over afterwards.
	c := newCore(a, gctx, g, m)
	if err := c.start(); err != nil {
		return err
	}
	a.loopUp.Store(true)
	g.Go(func() error { return a.loop(gctx, c, bgpEvents, bfdEvents) })
	g.Go(func() error { return a.speaker.Run(gctx) })
	g.Go(func() error { return a.bfd.Run(gctx) })
	if a.rec != nil {
		g.Go(func() error { return a.rec.run(gctx) })
	}
	if srv != nil {
		g.Go(func() error { return srv.run(gctx) })
	}
	a.ready.Store(true)
	a.log.Info("rsagent running", "version", Version, "peers", len(m.BGP.Peers), "services", len(m.Services))

	select {
	case <-ctx.Done():
	case <-gctx.Done():
	}
	a.ready.Store(false)
	// From here on the loop ignores health and BFD: the shutdown withdraws
	// everything whatever they say.
	_ = a.do(context.WithoutCancel(ctx), func(c *core) { c.stopping = true })
	shutdownErr := a.shutdown(ctx)
	stopComponents()
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return errors.Join(err, shutdownErr)
}

// BGPStarted is closed once the BGP speaker runs with its peers added; see
// bgp.Speaker.Started for why the lab waits for it.
func (a *Agent) BGPStarted() <-chan struct{} { return a.speaker.Started() }

func (a *Agent) shutdown(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	if err := a.speaker.Shutdown(sctx); err != nil {
		a.log.Error("shutdown: withdrawals not confirmed delivered", "error", err, "waited", time.Since(start).Round(time.Millisecond))
		return fmt.Errorf("shutdown: %w", err)
	}
	a.log.Info("shutdown: withdrawals delivered, sessions closed", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// do runs fn on the loop and waits until it has run, or ctx ends. It
// returns ErrNotRunning when the loop does not run.
func (a *Agent) do(ctx context.Context, fn func(*core)) error {
	if !a.loopUp.Load() {
		return ErrNotRunning
	}
	o := op{fn: fn, done: make(chan struct{})}
	select {
	case a.ops <- o:
	case <-a.loopDone:
		return ErrNotRunning
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-o.done:
		return nil
	case <-a.loopDone:
		return ErrNotRunning
	}
}
