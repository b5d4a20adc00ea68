package routetable

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/vpcsim"
)

// The fleet tests run several reconcilers, each with its own client-side
// limiter as separate processes have, against one emulated account with
// EC2's default buckets (50, 5/s) and 50 ms per request: the 104
// replacements of a failover of 26 routes in 4 tables.

// An HA pair, both members reconciling, both noticing the failover at once:
// the member whose ENI the routes now point at writes each route once, the
// other writes nothing.
func TestFleetHAPairWritesEachRouteOnce(t *testing.T) {
	t.Parallel()
	specs := []writerSpec{{own: []int{0}, triggered: true}, {own: []int{1}, triggered: true}}
	fl := newFleet(t, specs, nil)
	fl.start(t)
	fl.failover(t, specs)
	other := fl.writers[1]
	deferredSeen := pollUntil(2*time.Second, func() bool { return other.Deferred() > 0 })
	res := fl.measure(t, 60*time.Second)
	t.Log(res)
	t.Run("the other member left the routes to the owner", func(t *testing.T) {
		if !deferredSeen {
			t.Error("the non-owner never deferred a change: the test did not exercise the rule")
		}
		if res.perWriter[1] != 0 {
			t.Errorf("the non-owner wrote %d routes", res.perWriter[1])
		}
	})
	t.Run("writes are at most 1.05 times the 104 needed, none throttled", func(t *testing.T) {
		if res.writes > 109 || res.writes < 104 || res.throttled != 0 {
			fl.logTimeline(t)
			t.Errorf("%d writes, %d throttled; want 104..109 and 0", res.writes, res.throttled)
		}
	})
}

// The owner runs no reconciler: the other member copies its routes about
// defer_others after it saw them, and alone, so nothing is throttled.
func TestFleetOwnerSilentTheOtherStepsInAfterDeferOthers(t *testing.T) {
	t.Parallel()
	specs := []writerSpec{{own: []int{1}, triggered: true}}
	fl := newFleet(t, specs, nil)
	fl.start(t)
	fl.failover(t, specs)
	res := fl.measure(t, 60*time.Second)
	t.Log(res)
	var first time.Time
	for _, q := range fl.f.srv.Log() {
		if q.Mutating {
			first = q.At
			break
		}
	}
	t.Run("the first write comes defer_others after the failover, not before and not much later", func(t *testing.T) {
		if d := first.Sub(fl.t0); d < 2*time.Second || d > 4*time.Second {
			fl.logTimeline(t)
			t.Errorf("first write %s after the failover; want 2 s (defer_others) to 4 s", d)
		}
	})
	t.Run("every route is written once, none throttled", func(t *testing.T) {
		if res.writes != 104 || res.throttled != 0 || res.perWriter[0] != 104 {
			t.Errorf("%d writes (%v per writer), %d throttled; want 104 and 0", res.writes, res.perWriter, res.throttled)
		}
	})
}

// Three reconcilers with no ownership configured (a central one beside a
// pair that does not set network_interface_ids, say) race for one account.
func TestFleetThreeWayRaceStaysUnderTheThrottleBudget(t *testing.T) {
	t.Parallel()
	specs := []writerSpec{{}, {}, {}}
	fl := newFleet(t, specs, nil)
	fl.start(t)
	fl.failover(t, specs)
	res := fl.measure(t, 60*time.Second)
	t.Log(res)
	t.Run("the tables converge and at most 15 % of the mutating calls are throttled", func(t *testing.T) {
		if res.throttledShare() > 0.15 {
			fl.logTimeline(t)
			t.Errorf("%.1f %% throttled", 100*res.throttledShare())
		}
	})
	t.Run("every reconciler stayed alive and kept passing", func(t *testing.T) {
		// measure stopped the loops; a loop that had returned early would
		// have failed the test in start's goroutine.
		for i, r := range fl.writers {
			if st := r.Status(); st.Passes < 2 {
				t.Errorf("writer %d did %d passes", i, st.Passes)
			}
		}
	})
}

// Mid-pass, another writer empties the account's mutating bucket: EC2
// throttles the pass, whose limiter cuts its rate and recovers, and every
// change is still made, once.
func TestFleetBurstFromAnotherWriterMidPass(t *testing.T) {
	t.Parallel()
	specs := []writerSpec{{triggered: true}}
	fl := newFleet(t, specs, nil)
	lim := fl.writers[0].Limiter()
	fl.start(t)
	fl.failover(t, specs)
	if !pollUntil(10*time.Second, func() bool { return len(fl.f.srv.Mutations()) >= 20 }) {
		t.Fatal("the pass did not write 20 routes within 10 s")
	}
	took := fl.f.srv.Account().SpendMutating(-1)
	var cut float64
	if !pollUntil(5*time.Second, func() bool { cut = lim.Rate(); return cut < DefaultMutatingPerSecond }) {
		t.Fatalf("the limiter never slowed down after another writer took %d tokens", took)
	}
	res := fl.measure(t, 60*time.Second)
	t.Log(res, "; the other writer took", took, "tokens")
	t.Run("EC2 throttled the pass and the rate was cut", func(t *testing.T) {
		if res.throttled == 0 || cut > 0.55*DefaultMutatingPerSecond {
			t.Errorf("%d throttled, rate after the burst %.2f/s; want some, and about half of 5/s", res.throttled, cut)
		}
	})
	t.Run("the rate recovers while calls succeed", func(t *testing.T) {
		if now := lim.Rate(); now <= cut {
			t.Errorf("rate %.2f/s, no higher than %.2f/s right after the burst", now, cut)
		}
	})
	t.Run("nothing is lost and nothing written twice", func(t *testing.T) {
		if res.writes != 104 {
			t.Errorf("%d writes, want the 104 needed", res.writes)
		}
		if st := fl.writers[0].Status(); st.ConsecutiveFailures != 0 || st.LastError != "" {
			t.Errorf("a pass failed: %+v", st)
		}
	})
}

// A pass that only other writers' throttling slows never fails: the Sync
// Routes handler and the reconciler both retry, paced.
func TestFleetAnAccountBucketSmallerThanOursThrottlesButConverges(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{customTables: 2, routes: 10,
		server: vpcsim.Options{Mutating: vpcsim.Bucket{Size: 3, RefillPerSecond: 10}}})
	r, _ := newTestReconciler(t, f, nil)
	res, err := r.RunOnce(t.Context())
	if err != nil || res.Result != "changed" || res.Writes != 20 {
		t.Fatalf("pass: %v, %s, %d writes; want changed and 20", err, res.Result, res.Writes)
	}
	if res.Throttled == 0 {
		t.Error("EC2 throttled nothing: the test exercised no throttling")
	}
	if err := f.converged(f.enis[0]); err != nil {
		t.Error(err)
	}
}

// pollUntil re-checks cond every 5 ms until it holds or d passes.
func pollUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
	return true
}

// Throttling never ends the daemon: passes that give up on a storm fail,
// the loop goes on, and converges once the account's bucket refills.
func TestRunOutlivesAThrottleStorm(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{customTables: 2, routes: 4, copiesOn: true})
	f.srv.SetBuckets(vpcsim.Bucket{Size: 1, RefillPerSecond: 0.001}, vpcsim.Bucket{})
	r, _ := newTestReconciler(t, f, func(c *Config) { c.Interval = time.Second; c.StallTimeout = 300 * time.Millisecond })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	if !pollUntil(15*time.Second, func() bool { return r.Status().ConsecutiveFailures >= 2 }) {
		t.Fatalf("no two failed passes under the storm: %+v", r.Status())
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned during the storm: %v", err)
	default:
	}
	if st := r.Status(); !strings.Contains(st.LastError, "RequestLimitExceeded") {
		t.Errorf("last error %q does not name the throttling", st.LastError)
	}
	f.srv.SetBuckets(vpcsim.Bucket{}, vpcsim.Bucket{})
	if !pollUntil(60*time.Second, func() bool { return f.converged(f.enis[0]) == nil }) {
		t.Errorf("not converged after the storm: %v", f.converged(f.enis[0]))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v after cancel", err)
	}
}
