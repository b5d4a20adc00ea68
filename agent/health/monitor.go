package health

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Transition is one change of a service's state, reported to the consumer
// (the agent, which advertises or withdraws) and logged.
type Transition struct {
	Service string    `json:"service"`
	From    State     `json:"from"`
	To      State     `json:"to"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// CheckStatus is the last result of one check.
type CheckStatus struct {
	// Check is the checker's String().
	Check string `json:"check"`
	// OK is true when the check passed.
	OK bool `json:"ok"`
	// Error is why it failed, empty when it passed.
	Error string `json:"error,omitempty"`
	// At is when the check started; zero if it has not run yet.
	At time.Time `json:"at"`
	// Duration is how long it took.
	Duration time.Duration `json:"duration_ns"`
}

// Status is a snapshot of a monitor, for /status and metrics.
type Status struct {
	Service string `json:"service"`
	State   State  `json:"state"`
	// Healthy is State.Healthy(): whether the service should be advertised.
	Healthy bool `json:"healthy"`
	// Drained is set by SetDrained.
	Drained bool `json:"drained"`
	// Maintenance is true when the maintenance file existed at the last round.
	Maintenance bool     `json:"maintenance"`
	Counters    Counters `json:"counters"`
	// Reason explains the last round's verdict.
	Reason string `json:"reason,omitempty"`
	// LastChange is when State last changed; zero while still init.
	LastChange time.Time `json:"last_change"`
	// LastRound is when the last round started; zero before the first.
	LastRound time.Time `json:"last_round"`
	// Rounds counts completed rounds.
	Rounds uint64 `json:"rounds"`
	// Checks holds each check's last result, in Spec order. Checks are not
	// run while disabled, so they keep the results from before.
	Checks []CheckStatus `json:"checks"`
}

// Option configures a Monitor.
type Option func(*Monitor)

// WithTransitions sets the function called on every state change. It runs on
// the monitor's goroutine after Status has been updated, so it may call
// Status, and it must not block: the next round waits for it.
func WithTransitions(f func(Transition)) Option {
	return func(m *Monitor) { m.onTransition = f }
}

// WithLogger sets the logger; the default is slog.Default(). One Info line
// is logged per state change, and a Debug line when a single check's
// verdict flips.
func WithLogger(l *slog.Logger) Option {
	return func(m *Monitor) { m.log = l }
}

// Monitor runs one service's checks in rounds and drives its state machine.
// Status, SetDrained and CheckNow may be called from any goroutine.
type Monitor struct {
	spec         Spec
	onTransition func(Transition)
	log          *slog.Logger

	// kick asks Run for a round now; one pending request is enough.
	kick    chan struct{}
	running atomic.Bool
	checks  *Round
	timing  atomic.Pointer[Timing]

	mu      sync.Mutex
	drained bool
	status  Status
}

// NewMonitor returns a monitor for spec in state init. It starts nothing;
// Run validates spec and does the work.
func NewMonitor(spec Spec, opts ...Option) *Monitor {
	m := &Monitor{
		spec: spec,
		log:  slog.Default(),
		kick: make(chan struct{}, 1),
	}
	for _, o := range opts {
		o(m)
	}
	m.log = m.log.With("service", spec.Name)
	m.checks = NewRound(spec.Checks, spec.Timeout)
	t := spec.Timing()
	m.timing.Store(&t)
	m.status = Status{Service: spec.Name, State: StateInit, Checks: make([]CheckStatus, len(spec.Checks))}
	for i, c := range spec.Checks {
		if c != nil {
			m.status.Checks[i].Check = c.String()
		}
	}
	return m
}

// Name returns the service name.
func (m *Monitor) Name() string { return m.spec.Name }

// Status returns a snapshot that the caller may keep and modify.
func (m *Monitor) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.status
	s.Drained = m.drained
	s.Checks = append([]CheckStatus(nil), m.status.Checks...)
	return s
}

// SetDrained drains (true) or undrains (false) the service, as if its
// maintenance file had been created or removed, and runs a round at once
// if Run is running. Drained, the state is disabled; undrained, the service
// comes back through rising, rise passing rounds later.
func (m *Monitor) SetDrained(drained bool) {
	m.mu.Lock()
	m.drained = drained
	m.mu.Unlock()
	m.CheckNow()
}

// SetTiming changes the intervals, timeout, rise and fall of a monitor,
// running or not, without touching its state or counters: a reload that only
// retunes the timing must not send a healthy service back through init. The
// next round uses the new values; an invalid t is refused and changes nothing.
func (m *Monitor) SetTiming(t Timing) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("health monitor %q: %w", m.spec.Name, err)
	}
	m.checks.SetTimeout(t.Timeout)
	m.timing.Store(&t)
	m.CheckNow()
	return nil
}

// CheckNow asks Run for a round as soon as the current one (if any) ends,
// e.g. on SIGHUP or when the maintenance file was touched. It never blocks.
func (m *Monitor) CheckNow() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run runs rounds until ctx ends, then returns nil; it returns an error only
// if the spec is invalid or Run is already running. The first round starts
// at once; the next starts Interval (up, disabled) or FastInterval (init,
// rising, falling, down) after the start of the previous one, or as soon as
// it ends if it took longer. A round cut short by ctx is not judged, so
// shutting down never reports a spurious failure.
func (m *Monitor) Run(ctx context.Context) error {
	if err := m.spec.Validate(); err != nil {
		return fmt.Errorf("run health monitor %q: %w", m.spec.Name, err)
	}
	if !m.running.CompareAndSwap(false, true) {
		return fmt.Errorf("run health monitor %q: already running", m.spec.Name)
	}
	defer m.running.Store(false)

	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-m.kick:
		}
		start := time.Now()
		state, ok := m.round(ctx, start)
		if !ok {
			return nil
		}
		// A down service is probed at the fast interval too, so that its
		// recovery is announced within rise × fast_interval.
		t := m.timing.Load()
		delay := t.Interval
		if state == StateInit || state == StateRising || state == StateFalling || state == StateDown {
			delay = t.FastInterval
		}
		timer.Reset(time.Until(start.Add(delay)))
	}
}

// round runs one round, applies its result and reports a transition. It
// returns the new state, and false if ctx ended during the round.
func (m *Monitor) round(ctx context.Context, start time.Time) (State, bool) {
	m.mu.Lock()
	drained := m.drained
	m.mu.Unlock()

	result, reason, maintenance, checks := m.evaluate(ctx, drained)
	if ctx.Err() != nil {
		return 0, false
	}

	m.mu.Lock()
	st := &m.status
	from := st.State
	t := m.timing.Load()
	st.State, st.Counters = Next(from, st.Counters, result, t.Rise, t.Fall)
	st.Healthy = st.State.Healthy()
	st.Maintenance = maintenance
	st.Reason = reason
	st.LastRound = start
	st.Rounds++
	if checks != nil {
		for i, c := range checks {
			if prev := st.Checks[i]; !prev.At.IsZero() && prev.OK != c.OK {
				m.log.Debug("health check verdict changed", "check", c.Check, "ok", c.OK, "error", c.Error)
			}
		}
		st.Checks = checks
	}
	to := st.State
	now := time.Now()
	if to != from {
		st.LastChange = now
	}
	m.mu.Unlock()

	if to != from {
		m.log.Info("health state changed", "from", from.String(), "to", to.String(), "healthy", to.Healthy(), "reason", reason)
		if m.onTransition != nil {
			m.onTransition(Transition{Service: m.spec.Name, From: from, To: to, Reason: reason, At: now})
		}
	}
	return to, true
}

// evaluate decides a round's result. A disabled service's checks are not
// run, as in ExaBGP: maintenance must not depend on the checks' speed.
// checks is nil when they were not run.
func (m *Monitor) evaluate(ctx context.Context, drained bool) (result Result, reason string, maintenance bool, checks []CheckStatus) {
	var statErr error
	if m.spec.MaintenanceFile != "" {
		maintenance, statErr = fileExists(m.spec.MaintenanceFile)
	}
	switch {
	case maintenance:
		return ResultDisabled, "maintenance file " + m.spec.MaintenanceFile + " exists", true, nil
	case drained:
		return ResultDisabled, "drained", false, nil
	}

	checks = m.checks.Run(ctx)
	var failed []string
	if statErr != nil {
		// Unknown is not present: a permission problem must not disable
		// the service, but it must not pass silently either.
		failed = append(failed, "maintenance file: "+statErr.Error())
	}
	for _, c := range checks {
		if !c.OK {
			failed = append(failed, c.Check+": "+c.Error)
		}
	}
	if len(failed) > 0 {
		return ResultFail, strings.Join(failed, "; "), false, checks
	}
	return ResultPass, fmt.Sprintf("%d of %d checks passed", len(checks), len(checks)), false, checks
}
