package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rsagent/rsagent/agent/health"
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
	// sent before the sessions close (default 2s).
	ShutdownTimeout time.Duration
}

// Agent runs the speaker, BFD, health monitors, reconciler and HTTP server of
// one rsagent process, and couples them.
type Agent struct {
	log     *slog.Logger
	opts    Options
	metrics *metrics
	started time.Time

	speaker *bgp.Speaker
	bfd     *bfd.Manager

	mu       sync.Mutex
	model    *Model
	monitors map[string]*monitorHandle
	states   map[string]health.State
	adverts  []advertised
	// lastReset is the last BFD-caused BGP reset per peer, for /status.
	lastReset map[netip.Addr]string

	run      atomic.Pointer[runState] // set while Run is running
	ready    atomic.Bool
	rec      *reconcilerHandle
	stopping atomic.Bool
}

type runState struct {
	ctx context.Context
	wg  *sync.WaitGroup
}

type monitorHandle struct {
	mon    *health.Monitor
	model  ServiceModel
	cancel context.CancelFunc
}

// New builds an agent from a validated model. It starts nothing.
func New(m *Model, opts Options) (*Agent, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 2 * time.Second
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
		log:       opts.Logger,
		opts:      opts,
		metrics:   newMetrics(Version),
		model:     m,
		monitors:  map[string]*monitorHandle{},
		states:    map[string]health.State{},
		lastReset: map[netip.Addr]string{},
	}
	for _, s := range m.Services {
		if _, err := healthSpec(s); err != nil {
			return nil, err
		}
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

// Run runs everything until ctx ends, then shuts down in order: withdraw
// every prefix and wait (bounded) until the withdrawals were sent, close the
// BGP sessions, then BFD AdminDown. Route Server's PersistRoutes would
// otherwise keep our routes for minutes after a session merely dropped.
func (a *Agent) Run(ctx context.Context) error {
	a.started = time.Now()
	m := a.modelSnapshot()
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
	var monitors sync.WaitGroup
	a.run.Store(&runState{ctx: gctx, wg: &monitors})

	bgpEvents, unsubBGP := a.speaker.Subscribe()
	defer unsubBGP()
	bfdEvents, unsubBFD := a.bfd.Subscribe()
	defer unsubBFD()

	// BFD sessions (and bfd.strict holds) and the first advertisement set
	// are in place before the speaker makes its first connection.
	a.mu.Lock()
	err := a.startLocked()
	a.mu.Unlock()
	if err != nil {
		return err
	}
	g.Go(func() error { return a.speaker.Run(gctx) })
	g.Go(func() error { return a.bfd.Run(gctx) })
	g.Go(func() error { a.watchBGP(gctx, bgpEvents); return nil })
	g.Go(func() error { a.watchBFD(gctx, bfdEvents); return nil })
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
	a.stopping.Store(true)
	a.shutdown(ctx)
	stopComponents()
	monitors.Wait()
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// BGPStarted is closed once the BGP speaker runs with its peers added; see
// bgp.Speaker.Started for why the lab waits for it.
func (a *Agent) BGPStarted() <-chan struct{} { return a.speaker.Started() }

func (a *Agent) modelSnapshot() *Model {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.model
}

// startLocked adds the BFD sessions and starts the health monitors. a.mu
// must be held.
func (a *Agent) startLocked() error {
	for _, p := range a.model.BGP.Peers {
		if p.BFD != nil {
			if err := a.addBFDLocked(p); err != nil {
				return err
			}
		}
	}
	for _, s := range a.model.Services {
		if err := a.startMonitorLocked(s, false); err != nil {
			return err
		}
	}
	a.applyAdvertsLocked()
	return nil
}

func (a *Agent) shutdown(ctx context.Context) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	if err := a.speaker.Shutdown(sctx); err != nil {
		a.log.Warn("shutdown: withdrawals may not all have been sent", "error", err, "waited", time.Since(start).Round(time.Millisecond))
		return
	}
	a.log.Info("shutdown: withdrawals sent, sessions closed", "took", time.Since(start).Round(time.Millisecond))
}

// startMonitorLocked starts a health monitor for s, drained if asked. a.mu
// must be held.
func (a *Agent) startMonitorLocked(s ServiceModel, drained bool) error {
	rs := a.run.Load()
	spec, err := healthSpec(s)
	if err != nil {
		return err
	}
	mon := health.NewMonitor(spec, health.WithLogger(a.log.With("component", "health")), health.WithTransitions(a.onHealth))
	if drained {
		mon.SetDrained(true)
	}
	ctx, cancel := context.WithCancel(rs.ctx)
	h := &monitorHandle{mon: mon, model: s, cancel: cancel}
	a.monitors[s.Name] = h
	a.states[s.Name] = health.StateInit
	a.metrics.serviceHealthy.WithLabelValues(s.Name).Set(0)
	a.setServiceStateMetric(s.Name, health.StateInit)
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		if err := mon.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("health monitor stopped", "service", s.Name, "error", err)
		}
	}()
	return nil
}

func (a *Agent) stopMonitorLocked(name string) {
	h, ok := a.monitors[name]
	if !ok {
		return
	}
	h.cancel()
	delete(a.monitors, name)
	delete(a.states, name)
	a.metrics.serviceHealthy.DeleteLabelValues(name)
	a.metrics.serviceState.DeletePartialMatch(map[string]string{"service": name})
}

func healthSpec(s ServiceModel) (health.Spec, error) {
	spec := health.Spec{
		Name: s.Name, Interval: s.Health.Interval.D(), FastInterval: s.Health.FastInterval.D(),
		Timeout: s.Health.Timeout.D(), Rise: s.Health.Rise, Fall: s.Health.Fall, MaintenanceFile: s.MaintenanceFile,
	}
	for i, c := range s.Health.Checks {
		var ck health.Checker
		var err error
		switch {
		case c.TCP != "":
			ck, err = health.NewTCP(c.TCP)
		case c.HTTP != nil:
			ck, err = health.NewHTTP(c.HTTP.URL, c.HTTP.Status, c.HTTP.Body)
		case c.Exec != nil:
			ck, err = health.NewExec(c.Exec)
		case c.File != "":
			ck, err = health.NewFile(c.File)
		}
		if err != nil {
			return spec, &ConfigError{Problems: []string{fmt.Sprintf("services[%s].health.checks[%d]: %v", s.Name, i, err)}}
		}
		spec.Checks = append(spec.Checks, ck)
	}
	return spec, nil
}

var allStates = []health.State{health.StateInit, health.StateRising, health.StateUp, health.StateFalling, health.StateDown, health.StateDisabled}

func (a *Agent) setServiceStateMetric(service string, st health.State) {
	for _, s := range allStates {
		v := 0.0
		if s == st {
			v = 1
		}
		a.metrics.serviceState.WithLabelValues(service, s.String()).Set(v)
	}
}

// onHealth runs on a monitor's goroutine for every state change. The new
// advertisement set is handed to BGP before anything else reacts to the
// change, so that a withdrawal is on its way first.
func (a *Agent) onHealth(t health.Transition) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.monitors[t.Service]; !ok {
		return // a monitor being replaced by a reload
	}
	a.states[t.Service] = t.To
	a.applyAdvertsLocked()
	healthy := 0.0
	if t.To.Healthy() {
		healthy = 1
	}
	a.metrics.serviceHealthy.WithLabelValues(t.Service).Set(healthy)
	a.setServiceStateMetric(t.Service, t.To)
	a.metrics.serviceTransitions.WithLabelValues(t.Service, t.To.String()).Inc()
}

// applyAdvertsLocked recomputes the desired set and hands it to BGP.
func (a *Agent) applyAdvertsLocked() {
	m := a.model
	next := desiredAdverts(m.Services, a.states, m.BGP.LocalAddress, m.BGP.LocalAddressV6)
	if err := a.speaker.Set(bgpAdverts(next)); err != nil {
		a.log.Error("bgp: could not apply advertisements", "error", err)
		return
	}
	changed := !slices.Equal(next, a.adverts)
	for _, s := range m.Services {
		for _, p := range s.Prefixes {
			v := 0.0
			if slices.ContainsFunc(next, func(x advertised) bool { return x.Prefix == p }) {
				v = 1
			}
			a.metrics.prefixAdvertised.WithLabelValues(s.Name, p.String()).Set(v)
		}
	}
	a.adverts = next
	if changed && a.rec != nil {
		a.rec.trigger()
	}
}

func (a *Agent) watchBGP(ctx context.Context, events <-chan bgp.PeerEvent) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			peer := ev.Peer.String()
			up := 0.0
			if ev.To == bgp.StateEstablished {
				up = 1
			}
			a.metrics.bgpUp.WithLabelValues(peer).Set(up)
			a.metrics.bgpTransitions.WithLabelValues(peer, ev.To).Inc()
			// The speaker logs the change; a session coming or going may
			// change what Route Server installed.
			if (ev.To == bgp.StateEstablished || ev.From == bgp.StateEstablished) && a.rec != nil {
				a.rec.trigger()
			}
		}
	}
}

// watchBFD couples BFD to BGP: a session that was Up and went Down resets its
// BGP peer at once (the peer withdraws our routes). A BFD session that never
// came Up does not hold BGP down (FRR #4133) unless bfd.strict is set. A
// neighbour that signals AdminDown is not a failure (RFC 5882 §3.2).
func (a *Agent) watchBFD(ctx context.Context, events <-chan bfd.StateChange) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			a.metrics.bfdTransitions.WithLabelValues(ev.Peer.String(), ev.To.String()).Inc()
			a.onBFD(ev)
		}
	}
}

// onBFD applies one BFD state change to BGP.
func (a *Agent) onBFD(ev bfd.StateChange) {
	if a.stopping.Load() {
		return
	}
	strict := a.strict()
	if ev.To == bfd.StateUp {
		if strict {
			// Releasing connects at once.
			if err := a.speaker.HoldDown(ev.Peer, false, ""); err != nil {
				a.log.Warn("bfd up: could not release the BGP session", "peer", ev.Peer, "error", err)
			}
			return
		}
		// The path is back: if BGP is down, connect now rather than after
		// GoBGP's idle hold and connect-retry timers.
		if err := a.speaker.Reconnect(ev.Peer, "bfd up"); err != nil {
			a.log.Warn("bfd up: could not reconnect the BGP session", "peer", ev.Peer, "error", err)
		}
		return
	}
	if ev.From != bfd.StateUp {
		return
	}
	if ev.RemoteDiag == bfd.DiagAdministrativelyDown {
		a.log.Info("bfd: peer signalled admin down; keeping the BGP session", "peer", ev.Peer)
		return
	}
	reason := "bfd down: " + ev.LocalDiag.String()
	var err error
	label := "bfd_down"
	if strict {
		label = "bfd_strict"
		err = a.speaker.HoldDown(ev.Peer, true, reason)
	} else {
		err = a.speaker.ResetPeer(ev.Peer, reason, ev.At)
	}
	if err != nil {
		a.log.Warn("bfd down: could not reset the BGP session", "peer", ev.Peer, "error", err)
		return
	}
	a.metrics.bgpResets.WithLabelValues(ev.Peer.String(), label).Inc()
	a.mu.Lock()
	a.lastReset[ev.Peer] = fmt.Sprintf("%s at %s", reason, ev.At.UTC().Format(time.RFC3339Nano))
	a.mu.Unlock()
}

func (a *Agent) strict() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.model.BFDStrict
}

// addBFDLocked starts BFD to a peer; under bfd.strict the BGP session is
// held down until that BFD session is Up. a.mu must be held.
func (a *Agent) addBFDLocked(p PeerModel) error {
	if a.model.BFDStrict {
		if err := a.speaker.HoldDown(p.Address, true, "bfd.strict: waiting for BFD Up"); err != nil {
			return fmt.Errorf("bfd.strict: hold %s: %w", p.Address, err)
		}
	}
	if err := a.bfd.AddSession(bfdSessionConfig(a.model, p)); err != nil {
		return fmt.Errorf("bfd session to %s: %w", p.Address, err)
	}
	return nil
}

// Drain withdraws one service (or all with name "") without touching the
// sessions, and returns once the withdrawal has been sent to every peer that
// had our routes, or ctx ends. An operator script can therefore run
// `rsagent drain voice && ip addr del …` without blackholing traffic, the
// ExaBGP trap of removing the address before the withdrawal left.
func (a *Agent) Drain(ctx context.Context, name string, drained bool) ([]string, error) {
	a.mu.Lock()
	var hs []*monitorHandle
	for n, h := range a.monitors {
		if name == "" || n == name {
			hs = append(hs, h)
		}
	}
	a.mu.Unlock()
	if len(hs) == 0 {
		return nil, fmt.Errorf("no service named %q", name)
	}
	mark := a.speaker.UpdatesMark()
	a.mu.Lock()
	announced := a.adverts
	a.mu.Unlock()
	var names []string
	for _, h := range hs {
		h.mon.SetDrained(drained)
		names = append(names, h.model.Name)
	}
	slices.Sort(names)
	if !drained {
		return names, nil
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if a.allDisabled(names) {
			break
		}
		select {
		case <-ctx.Done():
			return names, fmt.Errorf("drain %v: monitors not yet disabled: %w", names, ctx.Err())
		case <-tick.C:
		}
	}
	a.mu.Lock()
	withdrawn := 0
	for _, ad := range announced {
		if !slices.ContainsFunc(a.adverts, func(x advertised) bool { return x.Prefix == ad.Prefix }) {
			withdrawn++
		}
	}
	a.mu.Unlock()
	if withdrawn == 0 {
		return names, nil // nothing was announced for these services
	}
	if err := a.speaker.WaitUpdatesSent(ctx, mark, uint64(withdrawn)); err != nil {
		return names, fmt.Errorf("drain %v: %w", names, err)
	}
	return names, nil
}

func (a *Agent) allDisabled(names []string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, n := range names {
		if a.states[n] != health.StateDisabled {
			return false
		}
	}
	return true
}
