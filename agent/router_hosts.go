package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/bfd"
	"github.com/rsagent/rsagent/routetable/direct"
)

// hostProbe is one host's running checks.
type hostProbe struct {
	cancel context.CancelFunc
	kick   chan struct{} // a round now (BFD came Up); one pending is enough
	// firstBy is when the host's first verdict is due at the latest: its
	// first round's timeout after the start, plus the BFD bring-up wait
	// when it has a bfd check.
	firstBy time.Time
	// bfd: the host has a bfd check, whose first round waits for the
	// session to come Up (at most bfdBringUp).
	bfd bool
}

// bfdBringUp bounds how long a host's first round waits for a new BFD
// session to come Up. While not Up, both ends send one packet a second
// (RFC 5880 §6.8.3), so a healthy host takes one to two seconds: judging it
// earlier would fail it, hold it for failed_hold, and send the routes to
// whichever host happened to answer first.
const bfdBringUp = 3 * time.Second

// syncProbesLocked starts a probe for every spec host without one and
// stops those of hosts no longer in the spec, whose BFD sessions the caller
// removes (outside r.mu: removal waits for the AdminDown packets). Before
// Run it only forgets removed hosts. r.mu must be held.
func (r *Router) syncProbesLocked() (removed []netip.Addr) {
	want := map[netip.Addr]bool{}
	for _, h := range r.spec.Hosts() {
		want[h] = true
	}
	for h, p := range r.probes {
		if !want[h] {
			p.cancel()
			delete(r.probes, h)
			removed = append(removed, h)
		}
	}
	for h := range r.states {
		if !want[h] {
			r.forgetHostLocked(h)
		}
	}
	if r.run == nil {
		return removed
	}
	for _, h := range r.spec.Hosts() {
		if _, ok := r.probes[h]; !ok {
			r.startProbeLocked(h)
		}
	}
	return removed
}

func (r *Router) forgetHostLocked(h netip.Addr) {
	delete(r.states, h)
	delete(r.checks, h)
	delete(r.enis, h)
	delete(r.problems, h)
	r.met.routerHostHealthy.DeleteLabelValues(h.String())
	r.met.routerHostProblem.DeletePartialMatch(map[string]string{"host": h.String()})
}

// restartProbesLocked restarts every probe with the current health
// settings. With reset the hosts' verdicts are forgotten (the checks
// changed, so the old verdicts say nothing); otherwise they stay. r.mu must
// be held.
func (r *Router) restartProbesLocked(reset bool) {
	for h, p := range r.probes {
		p.cancel()
		delete(r.probes, h)
		if reset {
			delete(r.states, h)
			delete(r.checks, h)
		}
	}
	if r.run != nil {
		for _, h := range r.spec.Hosts() {
			r.startProbeLocked(h)
		}
	}
}

// startProbeLocked starts host h's probe goroutine (and its BFD session).
// r.mu must be held and Run running.
func (r *Router) startProbeLocked(h netip.Addr) {
	rh := r.model.Router.Health
	checks, err := r.hostCheckers(h, rh.Checks)
	if err != nil {
		// Only a bfd session that cannot be added gets here; the host
		// fails every round with that error rather than passing silently.
		r.log.Error("host checks cannot run", "host", h, "error", err)
		checks = []health.Checker{failingCheck{err}}
	}
	ctx, cancel := context.WithCancel(r.run.ctx)
	p := &hostProbe{cancel: cancel, kick: make(chan struct{}, 1),
		bfd: slices.ContainsFunc(rh.Checks, func(c RouterCheck) bool { return c.Kind == "bfd" })}
	p.firstBy = time.Now().Add(rh.Timeout + firstRoundSlack)
	if p.bfd {
		p.firstBy = p.firstBy.Add(bfdBringUp)
	}
	r.probes[h] = p
	if _, ok := r.states[h]; !ok {
		r.met.routerHostHealthy.WithLabelValues(h.String()).Set(0)
	}
	round := health.NewRound(checks, rh.Timeout)
	r.run.wg.Go(func() { r.probe(ctx, h, p, round, rh.Interval) })
}

// hostCheckers builds one host's checkers from the router's check list.
func (r *Router) hostCheckers(h netip.Addr, cs []RouterCheck) ([]health.Checker, error) {
	var out []health.Checker
	for _, c := range cs {
		var ck health.Checker
		var err error
		switch c.Kind {
		case "tcp":
			ck, err = health.NewTCP(netip.AddrPortFrom(h, uint16(c.Port)).String())
		case "http":
			ck, err = health.NewHTTP("http://"+netip.AddrPortFrom(h, uint16(c.Port)).String()+c.Path, c.Status, "")
		case "icmp":
			ck, err = health.NewICMP(h)
		case "bfd":
			err = r.bfd.AddSession(routerBFDSession(r.model, h, c))
			if errors.Is(err, bfd.ErrSessionExists) {
				err = nil // a probe restarted by a reload keeps its session
			}
			ck = &bfdCheck{states: r.bfdUp, mgr: r.bfd, host: h}
		default:
			err = fmt.Errorf("unknown check kind %q", c.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("%s check of %s: %w", c.Kind, h, err)
		}
		out = append(out, ck)
	}
	return out, nil
}

// probe runs host h's checks every interval (or at once when kicked) and
// folds each round into its state.
func (r *Router) probe(ctx context.Context, h netip.Addr, p *hostProbe, round *health.Round, interval time.Duration) {
	if p.bfd && !r.waitBFDUp(ctx, h, bfdBringUp) {
		return
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-p.kick:
		}
		start := time.Now()
		results := round.Run(ctx)
		if ctx.Err() != nil {
			return // a round cut short by shutdown is not judged
		}
		var failed []string
		for _, c := range results {
			if !c.OK {
				failed = append(failed, c.Check+": "+c.Error)
			}
		}
		r.observe(h, p, direct.Observation{At: time.Now(), OK: len(failed) == 0, Err: strings.Join(failed, "; ")}, results)
		timer.Reset(time.Until(start.Add(interval)))
	}
}

// waitBFDUp waits until h's BFD session is Up, or for at most limit; it
// returns false when ctx ended.
func (r *Router) waitBFDUp(ctx context.Context, h netip.Addr, limit time.Duration) bool {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		st, changed := r.bfdUp.get(h)
		if s, ok := r.bfd.Session(h); ok {
			st = s.State
		}
		if st == bfd.StateUp {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
}

// observe folds one observation into host h's state; a change of status
// is logged once and triggers a pass at once. from is the probe that made
// it (nil: the BFD watcher); a probe stopped meanwhile is not heard.
func (r *Router) observe(h netip.Addr, from *hostProbe, o direct.Observation, checks []health.CheckStatus) {
	r.mu.Lock()
	if p, live := r.probes[h]; !live || from != nil && p != from {
		r.mu.Unlock()
		return // removed from the spec, or its probe restarted, meanwhile
	}
	rh := r.model.Router.Health
	before := r.states[h]
	after := before.Observe(o, direct.HealthParams{Fall: rh.Fall, FailedHold: rh.FailedHold})
	r.states[h] = after
	if checks != nil {
		r.checks[h] = checks
	}
	healthy := 0.0
	if after.Eligible() {
		healthy = 1
	}
	r.met.routerHostHealthy.WithLabelValues(h.String()).Set(healthy)
	r.mu.Unlock()
	if after.Status() == before.Status() {
		return
	}
	attrs := []any{"host", h, "from", string(before.Status()), "to", string(after.Status()), "eligible", after.Eligible()}
	if after.LastError != "" {
		attrs = append(attrs, "error", after.LastError)
	}
	if after.Failed {
		attrs = append(attrs, "held_until", after.HeldUntil.Format(time.RFC3339Nano))
	}
	if after.Status() == direct.HostFailed {
		r.log.Warn("host health changed", attrs...)
	} else {
		r.log.Info("host health changed", attrs...)
	}
	r.Trigger()
}

// failingCheck stands in for checks that could not be built.
type failingCheck struct{ err error }

func (c failingCheck) Check(context.Context) error { return c.err }
func (c failingCheck) String() string              { return "setup" }

// bfdStates is the last BFD state per host, with a channel closed on every
// change so that a bfd check can wait for its session to come Up.
type bfdStates struct {
	mu      sync.Mutex
	st      map[netip.Addr]bfd.State
	changed chan struct{}
}

func newBFDStates() *bfdStates {
	return &bfdStates{st: map[netip.Addr]bfd.State{}, changed: make(chan struct{})}
}

func (b *bfdStates) set(h netip.Addr, s bfd.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.st[h] = s
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *bfdStates) get(h netip.Addr) (bfd.State, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st[h], b.changed
}

// bfdCheck adapts a bfd.Manager session to a health check: it passes while
// the session to the host is Up. A session that is not Up yet (start-up,
// recovery) gets until the round's timeout to come Up. Failures between
// rounds do not wait for the next round: watchBFD fails the host at once,
// since the session's detect multiplier already confirmed them.
type bfdCheck struct {
	states *bfdStates
	mgr    *bfd.Manager
	host   netip.Addr
}

func (c *bfdCheck) String() string { return "bfd " + c.host.String() }

func (c *bfdCheck) Check(ctx context.Context) error {
	for {
		st, changed := c.states.get(c.host)
		if s, ok := c.mgr.Session(c.host); ok {
			st = s.State
		}
		if st == bfd.StateUp {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			s, _ := c.mgr.Session(c.host)
			return fmt.Errorf("bfd session is %s (local diag %s, remote diag %s)", s.State, s.LocalDiag, s.RemoteDiag)
		}
	}
}

// watchBFD fails a host the moment its BFD session leaves Up (also when
// the host's responder says AdminDown: it is going away, and a route
// target must not wait for it), and asks for a round when it comes Up.
func (r *Router) watchBFD(ctx context.Context, events <-chan bfd.StateChange) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			r.bfdUp.set(ev.Peer, ev.To)
			r.met.bfdTransitions.WithLabelValues(ev.Peer.String(), ev.To.String()).Inc()
			switch {
			case ev.To == bfd.StateUp:
				r.kickProbe(ev.Peer)
			case ev.From == bfd.StateUp:
				r.observe(ev.Peer, nil, direct.Observation{At: ev.At, Immediate: true,
					Err: fmt.Sprintf("bfd session went %s (local diag %s, remote diag %s)", ev.To, ev.LocalDiag, ev.RemoteDiag)}, nil)
			}
		}
	}
}

func (r *Router) kickProbe(h netip.Addr) {
	r.mu.Lock()
	p, ok := r.probes[h]
	r.mu.Unlock()
	if ok {
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
}

func (r *Router) removeBFDSessions(hosts []netip.Addr) {
	if r.bfd == nil {
		return
	}
	for _, h := range hosts {
		if err := r.bfd.RemoveSession(h); err != nil && !errors.Is(err, bfd.ErrNoSession) {
			r.log.Warn("bfd session not removed", "host", h, "error", err)
		}
	}
}

// updateBFDTimers negotiates changed timers with a Poll sequence: the
// sessions stay Up.
// routerBFDSession is host h's BFD session for the bfd check c, with the
// agent-wide bfd.auth.
func routerBFDSession(m *Model, h netip.Addr, c RouterCheck) bfd.SessionConfig {
	return bfd.SessionConfig{Peer: h, Local: c.Local, DesiredMinTx: c.BFD.MinTx,
		RequiredMinRx: c.BFD.MinRx, DetectMult: c.BFD.Multiplier, Auth: m.BFDAuth}
}

func (r *Router) updateBFDTimers(m *Model) {
	c, ok := bfdCheckOf(m.Router)
	if !ok {
		return
	}
	for _, s := range r.bfd.Sessions() {
		err := r.bfd.UpdateSession(routerBFDSession(m, s.Peer, c))
		if err != nil {
			r.log.Warn("bfd timers not updated", "host", s.Peer, "error", err)
		}
	}
}
