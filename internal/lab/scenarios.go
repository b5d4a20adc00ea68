package lab

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// scenario is one fault and the appliance the tables must end up on.
type scenario struct {
	name     string
	fault    string
	needsBFD bool
	// from is the appliance the tables point at before the fault; to is
	// where they must point after it.
	from, to func(*env) *runningAgent
	inject   func(*env) error
	// expect returns the budget for the main table, the extra budget for
	// the custom tables after it, and how the budget was worked out.
	expect func(Options) (time.Duration, time.Duration, string)
}

func activeOf(e *env) *runningAgent  { return e.active }
func standbyOf(e *env) *runningAgent { return e.standby }

// routeServerPoll is the emulator's own reaction time (its poll interval,
// rounded up with the time to write the tables).
const routeServerPoll = 20 * time.Millisecond

// reconcileBudget is how long after the main table the custom tables may
// follow: at worst one reconcile interval, plus the pass itself.
func reconcileBudget(o Options) time.Duration { return o.ReconcileInterval + 500*time.Millisecond }

var scenarios = []scenario{
	{
		name:  "health check fails on the active",
		fault: "the active's health listener is closed; it withdraws after fall checks",
		from:  activeOf, to: standbyOf,
		inject: func(e *env) error { e.health[e.active.addr].Close(); return nil },
		expect: func(o Options) (time.Duration, time.Duration, string) {
			d := o.HealthInterval + time.Duration(o.Fall-1)*o.HealthFastInterval
			return d + routeServerPoll + 200*time.Millisecond, reconcileBudget(o),
				fmt.Sprintf("interval + (fall-1) x fast = %s + %d x %s = %s; custom + <= %s reconcile",
					o.HealthInterval, o.Fall-1, o.HealthFastInterval, d, o.ReconcileInterval)
		},
	},
	{
		name:  "active recovers (failback)",
		fault: "the health listener reopens; the active announces its shorter path again",
		from:  standbyOf, to: activeOf,
		inject: func(e *env) error { return e.health[e.active.addr].Reopen() },
		expect: func(o Options) (time.Duration, time.Duration, string) {
			// A down service is probed at the fast interval.
			d := time.Duration(o.Rise) * o.HealthFastInterval
			return d + routeServerPoll + 200*time.Millisecond, reconcileBudget(o),
				fmt.Sprintf("rise x fast = %d x %s = %s; custom + <= %s reconcile",
					o.Rise, o.HealthFastInterval, d, o.ReconcileInterval)
		},
	},
	{
		name:     "active unreachable (BFD)",
		fault:    "the endpoints drop every BFD packet to and from the active, as if its host hung",
		needsBFD: true,
		from:     activeOf, to: standbyOf,
		inject: func(e *env) error { e.rs.SetPartitioned(e.active.addr, true); return nil },
		expect: func(o Options) (time.Duration, time.Duration, string) {
			d := time.Duration(o.BFDMultiplier) * o.BFDInterval
			return d + routeServerPoll + 200*time.Millisecond, reconcileBudget(o),
				fmt.Sprintf("BFD %d x %s = %s + install; custom + <= %s reconcile", o.BFDMultiplier, o.BFDInterval, d, o.ReconcileInterval)
		},
	},
	{
		name:     "active reachable again (failback)",
		fault:    "BFD packets flow again; BFD comes Up and BGP re-establishes",
		needsBFD: true,
		from:     standbyOf, to: activeOf,
		inject: func(e *env) error { e.rs.SetPartitioned(e.active.addr, false); return nil },
		expect: func(o Options) (time.Duration, time.Duration, string) {
			// The agent reset its BGP sessions when BFD went down; when BFD
			// is Up again it connects at once (Speaker.Reconnect), after
			// GoBGP's fixed 1.5-2 s wait before a first dial.
			return 3 * time.Second, reconcileBudget(o), "BFD Up + reconnect at once (GoBGP waits 1.5-2s before a first dial) + install: <= 3s"
		},
	},
	{
		name:  "graceful shutdown of the active (SIGTERM)",
		fault: "the active agent's context is cancelled: it withdraws, then closes its sessions",
		from:  activeOf, to: standbyOf,
		inject: func(e *env) error { e.active.cancel(); return nil },
		expect: func(o Options) (time.Duration, time.Duration, string) {
			return routeServerPoll + 500*time.Millisecond, reconcileBudget(o),
				fmt.Sprintf("withdrawal sent at once + install; custom + <= %s reconcile (the standby's reconciler)", o.ReconcileInterval)
		},
	},
}

// runScenarios runs every scenario in order; each starts from a steady
// state. It stops at the first scenario that does not converge, because
// the next ones would start from an unknown state.
func (e *env) runScenarios(ctx context.Context) ([]Result, error) {
	var out []Result
	// Each scenario's writes are counted from its fault to the next fault.
	var last *Result
	var before map[string]uint64
	countWrites := func() {
		now := e.writes()
		if last != nil {
			last.Writes = map[string]uint64{}
			for name, n := range now {
				last.Writes[name] = n - before[name]
			}
		}
		before = now
	}
	defer func() {
		e.settleReconcilers(ctx)
		countWrites()
	}()
	for i, s := range scenarios {
		mainBudget, customExtra, expected := s.expect(e.opts)
		res := Result{Scenario: s.name, Fault: s.fault, Expected: expected,
			MainBudget: mainBudget, CustomBudget: mainBudget + customExtra, SwitchedTo: s.to(e).name}
		if s.needsBFD && !e.bfd {
			res.Skipped = "BFD is off in this run"
			out = append(out, res)
			continue
		}
		e.opts.Progress(fmt.Sprintf("[%d/%d] %s: %s", i+1, len(scenarios)+1, s.name, s.fault))
		if err := e.waitSteady(ctx, s.from(e), 20*time.Second); err != nil {
			res.Error = err.Error()
			out = append(out, res)
			return out, fmt.Errorf("scenario %q: %w", s.name, err)
		}
		countWrites()
		t0 := time.Now()
		if err := s.inject(e); err != nil {
			res.Error = err.Error()
			out = append(out, res)
			return out, fmt.Errorf("scenario %q: inject the fault: %w", s.name, err)
		}
		eni := s.to(e).eni
		main, custom, err := e.measure(ctx, t0, e.opts.ScenarioTimeout,
			func() bool { return e.pointsAt(e.vpc.MainTableID(), eni) }, func() bool { return e.customAt(eni) })
		res.Main, res.Custom = main, custom
		out = append(out, res)
		last = &out[len(out)-1]
		if err != nil {
			last.Error = err.Error()
			return out, fmt.Errorf("scenario %q: %w", s.name, err)
		}
		e.opts.Progress(fmt.Sprintf("      main table after %s, all custom tables after %s", round(main), round(custom)))
	}
	return out, nil
}

// writes reads each agent's reconciler's write counter, once the counters
// account for every write EC2 applied (a writer counts a write when EC2's
// answer reaches it, a moment after the table changed).
func (e *env) writes() map[string]uint64 {
	deadline := time.Now().Add(2 * time.Second)
	for {
		out := map[string]uint64{}
		var sum uint64
		for _, ra := range []*runningAgent{e.active, e.standby} {
			if st := ra.agent.Status(); st.Reconcile != nil {
				out[ra.name] = st.Reconcile.Writes
				sum += st.Reconcile.Writes
			}
		}
		if sum >= uint64(len(e.ec2.Mutations())) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

// settleReconcilers waits (at most defer_others and an interval) until no
// reconciler leaves routes to another appliance, so the last scenario's
// writes are all counted.
func (e *env) settleReconcilers(ctx context.Context) {
	_ = e.waitFor(ctx, 2*time.Second+2*e.opts.ReconcileInterval, "the reconcilers to settle", func() bool {
		for _, ra := range []*runningAgent{e.active, e.standby} {
			if st := ra.agent.Status(); st.Reconcile != nil && st.Reconcile.DeferredRoutes > 0 {
				return false
			}
		}
		return true
	})
}

// measure times, from t0, mainAt and then customAt becoming true (the
// main table, and every custom table, pointing where they must). The
// tables are read on every change of the VPC, so the figures carry no
// polling delay of their own.
func (e *vpcWatch) measure(ctx context.Context, t0 time.Time, timeout time.Duration, mainAt, customAt func() bool) (main, custom time.Duration, err error) {
	deadline := t0.Add(timeout)
	for {
		gen := e.vpc.Generation()
		now := time.Now()
		if main == 0 && mainAt() {
			main = now.Sub(t0)
		}
		if custom == 0 && customAt() {
			custom = now.Sub(t0)
		}
		if main > 0 && custom > 0 {
			return main, custom, nil
		}
		if err := e.waitChange(ctx, gen, deadline); err != nil {
			if errors.Is(err, errTimeout) {
				err = fmt.Errorf("tables did not switch within %s (main switched: %v, custom switched: %v)",
					timeout, main > 0, custom > 0)
			}
			return main, custom, err
		}
	}
}

func round(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
