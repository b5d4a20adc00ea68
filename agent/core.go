package agent

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/bfd"
	"github.com/rsagent/rsagent/bgp"
)

// core is the agent's state. Only the loop goroutine touches it (and Run,
// before the loop starts).
type core struct {
	a     *Agent
	ctx   context.Context // parent of the monitors' contexts
	group *errgroup.Group // the monitors run in it

	model    *Model
	services map[string]*serviceRun
	// adverts is the set BGP accepted last; setErr is why the newest one was
	// refused (nil when BGP has the set the health states ask for).
	adverts []advertised
	setErr  error
	// lastReset is the last BFD-caused BGP reset per peer, for /status.
	lastReset map[netip.Addr]string
	drains    []*drainWait
	// stopping: shutdown has begun; health and BFD no longer change BGP.
	stopping bool
}

// serviceRun is one service with its running monitor.
type serviceRun struct {
	model  ServiceModel
	mon    *health.Monitor
	cancel context.CancelFunc
	state  health.State
}

// healthEvent is a monitor's transition, tagged with the run it belongs to
// so that a transition from a monitor a reload replaced is ignored.
type healthEvent struct {
	run *serviceRun
	t   health.Transition
}

// snapshot is what the loop publishes for readers.
type snapshot struct {
	model     *Model
	monitors  map[string]*health.Monitor
	adverts   []advertised
	lastReset map[netip.Addr]string
}

func newCore(a *Agent, ctx context.Context, g *errgroup.Group, m *Model) *core {
	return &core{a: a, ctx: ctx, group: g, model: m, services: map[string]*serviceRun{}, lastReset: map[netip.Addr]string{}}
}

// start puts the first model in place: BFD sessions (and bfd.strict holds),
// the monitors, and the first advertisement set, queued in the speaker
// before it runs.
func (c *core) start() error {
	for _, p := range c.model.BGP.Peers {
		if p.BFD == nil {
			continue
		}
		if c.model.BFDStrict {
			if err := c.a.speaker.HoldDown(p.Address, true, strictHoldReason); err != nil {
				return fmt.Errorf("bfd.strict: hold %s: %w", p.Address, err)
			}
		}
		if err := c.a.bfd.AddSession(bfdSessionConfig(c.model, p)); err != nil {
			return fmt.Errorf("bfd session to %s: %w", p.Address, err)
		}
	}
	for _, s := range c.model.Services {
		c.startService(c.newServiceRun(s, false))
	}
	c.applyAdverts()
	c.publish()
	return nil
}

const strictHoldReason = "bfd.strict: waiting for BFD Up"

// loop runs until ctx ends: every change to the agent's state happens here.
func (a *Agent) loop(ctx context.Context, c *core, bgpEvents <-chan bgp.PeerEvent, bfdEvents <-chan bfd.StateChange) error {
	defer close(a.loopDone)
	for {
		select {
		case <-ctx.Done():
			return nil
		case o := <-a.ops:
			// Published before the caller hears back, so that what it
			// reads next (Status, the model a Reload plans against) is
			// what it just did.
			o.fn(c)
			c.publish()
			close(o.done)
			continue
		case <-a.health.signal:
			for _, ev := range a.health.take() {
				c.onHealth(ev)
			}
		case ev, ok := <-bgpEvents:
			if !ok {
				bgpEvents = nil
				continue
			}
			c.onBGP(ev)
		case ev, ok := <-bfdEvents:
			if !ok {
				bfdEvents = nil
				continue
			}
			c.onBFD(ev)
		case <-a.speaker.ReceivedRoutes():
			// Route Server moved a best path: perhaps onto our ENI, so our
			// reconciler (the owner, which others defer to) looks now rather
			// than at its next interval.
			if a.rec != nil {
				a.rec.trigger()
			}
			continue
		}
		c.publish()
	}
}

func (c *core) publish() {
	s := &snapshot{model: c.model, monitors: make(map[string]*health.Monitor, len(c.services)),
		adverts: c.adverts, lastReset: maps.Clone(c.lastReset)}
	for n, r := range c.services {
		s.monitors[n] = r.mon
	}
	c.a.snap.Store(s)
}

// newServiceRun builds a service's monitor; nothing runs until startService.
func (c *core) newServiceRun(s ServiceModel, drained bool) *serviceRun {
	r := &serviceRun{model: s, state: health.StateInit}
	mb := c.a.health
	r.mon = health.NewMonitor(s.Health, health.WithLogger(c.a.log.With("component", "health")),
		health.WithTransitions(func(t health.Transition) { mb.put(healthEvent{run: r, t: t}) }))
	if drained {
		r.mon.SetDrained(true)
	}
	return r
}

// startService runs r's monitor in the agent's errgroup.
func (c *core) startService(r *serviceRun) {
	name := r.model.Name
	c.services[name] = r
	ctx, cancel := context.WithCancel(c.ctx)
	r.cancel = cancel
	m := c.a.metrics
	m.serviceHealthy.WithLabelValues(name).Set(0)
	c.a.setServiceStateMetric(name, health.StateInit)
	c.group.Go(func() error {
		if err := r.mon.Run(ctx); err != nil {
			return fmt.Errorf("health monitor %s: %w", name, err)
		}
		return nil
	})
}

func (c *core) stopService(name string) {
	r, ok := c.services[name]
	if !ok {
		return
	}
	r.cancel()
	delete(c.services, name)
	c.a.metrics.serviceHealthy.DeleteLabelValues(name)
	c.a.metrics.serviceState.DeletePartialMatch(map[string]string{"service": name})
}

func (c *core) states() map[string]health.State {
	out := make(map[string]health.State, len(c.services))
	for n, r := range c.services {
		out[n] = r.state
	}
	return out
}

// onHealth applies a transition. The new advertisement set is handed to BGP
// before anything else reacts to the change, so that a withdrawal is on its
// way first.
func (c *core) onHealth(ev healthEvent) {
	t := ev.t
	if c.services[t.Service] != ev.run {
		return // from a monitor a reload replaced or removed
	}
	ev.run.state = t.To
	if !c.stopping {
		c.applyAdverts()
	}
	healthy := 0.0
	if t.To.Healthy() {
		healthy = 1
	}
	m := c.a.metrics
	m.serviceHealthy.WithLabelValues(t.Service).Set(healthy)
	c.a.setServiceStateMetric(t.Service, t.To)
	m.serviceTransitions.WithLabelValues(t.Service, t.To.String()).Inc()
	c.checkDrains()
}

// applyAdverts recomputes the desired set and hands it to BGP.
func (c *core) applyAdverts() {
	m := c.model
	next := desiredAdverts(m.Services, c.states(), m.BGP.LocalAddress, m.BGP.LocalAddressV6)
	if err := c.a.speaker.Set(bgpAdverts(next)); err != nil {
		c.setErr = err
		c.a.log.Error("bgp: could not apply advertisements", "error", err)
		return
	}
	c.setErr = nil
	changed := !slices.Equal(next, c.adverts)
	for _, s := range m.Services {
		for _, p := range s.Prefixes {
			v := 0.0
			if slices.ContainsFunc(next, func(x advertised) bool { return x.Prefix == p }) {
				v = 1
			}
			c.a.metrics.prefixAdvertised.WithLabelValues(s.Name, p.String()).Set(v)
		}
	}
	c.adverts = next
	if changed && c.a.rec != nil {
		c.a.rec.trigger()
	}
}

func (c *core) onBGP(ev bgp.PeerEvent) {
	m := c.a.metrics
	peer := ev.Peer.String()
	up := 0.0
	if ev.To == bgp.StateEstablished {
		up = 1
	}
	m.bgpUp.WithLabelValues(peer).Set(up)
	m.bgpTransitions.WithLabelValues(peer, ev.To).Inc()
	// The speaker logs the change; a session coming or going may change
	// what Route Server installed.
	if (ev.To == bgp.StateEstablished || ev.From == bgp.StateEstablished) && c.a.rec != nil {
		c.a.rec.trigger()
	}
}

// onBFD couples BFD to BGP: a session that was Up and went Down resets its
// BGP peer at once (the peer withdraws our routes). A BFD session that never
// came Up does not hold BGP down (FRR #4133) unless bfd.strict is set. A
// neighbour that signals AdminDown is not a failure (RFC 5882 §3.2).
func (c *core) onBFD(ev bfd.StateChange) {
	a := c.a
	a.metrics.bfdTransitions.WithLabelValues(ev.Peer.String(), ev.To.String()).Inc()
	if c.stopping || !slices.ContainsFunc(c.model.BGP.Peers, func(p PeerModel) bool { return p.Address == ev.Peer }) {
		return
	}
	strict := c.model.BFDStrict
	if ev.To == bfd.StateUp {
		if strict {
			// Releasing connects at once.
			if err := a.speaker.HoldDown(ev.Peer, false, ""); err != nil {
				a.log.Warn("bfd up: could not release the BGP session", "peer", ev.Peer, "error", err)
			}
			return
		}
		// The path is back: if BGP is down and idle, dial now rather than
		// after GoBGP's idle hold.
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
	c.lastReset[ev.Peer] = fmt.Sprintf("%s at %s", reason, ev.At.UTC().Format(time.RFC3339Nano))
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

// mailbox is an unbounded queue with a wake-up signal: put never blocks,
// which is what a monitor's transition callback requires.
type mailbox[T any] struct {
	mu     sync.Mutex
	items  []T
	signal chan struct{}
}

func newMailbox[T any]() *mailbox[T] { return &mailbox[T]{signal: make(chan struct{}, 1)} }

func (m *mailbox[T]) put(v T) {
	m.mu.Lock()
	m.items = append(m.items, v)
	m.mu.Unlock()
	select {
	case m.signal <- struct{}{}:
	default:
	}
}

func (m *mailbox[T]) take() []T {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.items
	m.items = nil
	return out
}
