package routetable

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/vpcsim"
)

// fleet is several reconcilers, each standing for its own process (its own
// client-side limiter), writing to one emulated account: the failover of
// 26 routes in 4 custom tables from enis[1] to enis[0], 104 replacements,
// behind EC2's default buckets and 50 ms per request.
type fleet struct {
	f       *fixture
	writers []*Reconciler
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	t0      time.Time
}

// writerSpec is one reconciler of a fleet.
type writerSpec struct {
	// own lists the ENIs (by index into the fixture's) it counts as its
	// own; nil means every route.
	own []int
	// triggered writers see the failover at once (their agent's BGP or
	// advertisement changed); the others at their next interval tick.
	triggered bool
}

const fleetInterval = 5 * time.Second

func newFleet(tb testing.TB, specs []writerSpec, mod func(*Config)) *fleet {
	return newFleetWith(tb, specs, mod, nil)
}

func newFleetWith(tb testing.TB, specs []writerSpec, mod func(*Config), params *aimd) *fleet {
	tb.Helper()
	f := newFixture(tb, fixtureOptions{customTables: 4, routes: 26, copiesOn: true,
		server: vpcsim.Options{Faults: vpcsim.Faults{Latency: 50 * time.Millisecond}}})
	for _, d := range f.dests {
		must(tb, f.vpc.PutRoute(f.main, vpcsim.Route{Destination: d, NetworkInterface: f.enis[1], Origin: vpcsim.OriginAdvertisement}))
	}
	fl := &fleet{f: f}
	for i, s := range specs {
		cfg := Config{VPCID: testVPC, Interval: fleetInterval, DeferOthers: 2 * time.Second, OrderSeed: uint64(i + 1)}
		for _, e := range s.own {
			cfg.NetworkInterfaceIDs = append(cfg.NetworkInterfaceIDs, f.enis[e])
		}
		if mod != nil {
			mod(&cfg)
		}
		if params != nil {
			cfg.Limiter = NewMutatingLimiter(0, 0)
			cfg.Limiter.p = *params
			cfg.Limiter.window = params.initialWindow
		}
		r, err := NewReconciler(f.api, cfg)
		must(tb, err)
		fl.writers = append(fl.writers, r)
	}
	return fl
}

// start runs every writer's loop; their first passes find the tables in
// step. It returns once each has done that pass.
func (fl *fleet) start(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	fl.cancel = cancel
	tb.Cleanup(fl.stop)
	for _, r := range fl.writers {
		fl.wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				tb.Errorf("Run returned %v", err)
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, r := range fl.writers {
		for r.Status().Passes == 0 {
			if time.Now().After(deadline) {
				tb.Fatal("a writer did no first pass within 10 s")
			}
			time.Sleep(5 * time.Millisecond) // polling with a deadline
		}
	}
}

func (fl *fleet) stop() {
	if fl.cancel != nil {
		fl.cancel()
		fl.wg.Wait()
		fl.cancel = nil
	}
}

// failover moves every main-table route to enis[0] at once, as Route
// Server does, and triggers the writers that would notice at once.
func (fl *fleet) failover(tb testing.TB, specs []writerSpec) {
	tb.Helper()
	fl.f.srv.ResetLog()
	fl.t0 = time.Now()
	for _, d := range fl.f.dests {
		must(tb, fl.f.vpc.PutRoute(fl.f.main, vpcsim.Route{Destination: d, NetworkInterface: fl.f.enis[0], Origin: vpcsim.OriginAdvertisement}))
	}
	for i, s := range specs {
		if s.triggered {
			fl.writers[i].Trigger()
		}
	}
}

// fleetResult is what a fleet run measured.
type fleetResult struct {
	converged time.Duration
	mutating  int // mutating calls EC2 saw, throttled ones included
	writes    int // mutating calls EC2 accepted
	throttled int
	perWriter []uint64 // writes each writer made
}

func (r fleetResult) throttledShare() float64 {
	if r.mutating == 0 {
		return 0
	}
	return float64(r.throttled) / float64(r.mutating)
}

func (r fleetResult) String() string {
	return fmt.Sprintf("converged after %.2f s; %d mutating calls: %d writes, %d throttled (%.1f %%); writes per writer %v",
		r.converged.Seconds(), r.mutating, r.writes, r.throttled, 100*r.throttledShare(), r.perWriter)
}

// measure waits until every custom table points at enis[0] (within
// timeout), then until every writer is quiet (no pass writing or waiting
// for an owner), and counts what EC2 saw.
func (fl *fleet) measure(tb testing.TB, timeout time.Duration) fleetResult {
	tb.Helper()
	var res fleetResult
	deadline := fl.t0.Add(timeout)
	for {
		gen := fl.f.vpc.Generation()
		if fl.f.converged(fl.f.enis[0]) == nil {
			res.converged = time.Since(fl.t0)
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not converged within %s: %v", timeout, fl.f.converged(fl.f.enis[0]))
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		_, _ = fl.f.vpc.WaitGeneration(ctx, gen)
		cancel()
	}
	// Writers that deferred look again defer_others later; wait until no
	// writer has anything pending and every one has done a pass since.
	quiet := time.Now().Add(3 * time.Second)
	for time.Now().Before(quiet) {
		busy := false
		for _, r := range fl.writers {
			busy = busy || r.Deferred() > 0
		}
		if busy {
			quiet = time.Now().Add(3 * time.Second)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	fl.stop()
	for _, req := range fl.f.srv.Log() {
		if !req.Mutating {
			continue
		}
		res.mutating++
		switch req.Code {
		case "":
			res.writes++
		case vpcsim.CodeRequestLimitExceeded:
			res.throttled++
		}
	}
	for _, r := range fl.writers {
		res.perWriter = append(res.perWriter, r.Status().Writes)
	}
	return res
}

// logTimeline prints what EC2 saw after the failover, a line per 250 ms: d
// a read, . an accepted write, X a throttled one. Tests print it when they
// fail, to show where the throttling came from.
func (fl *fleet) logTimeline(t testing.TB) {
	var line string
	last := -1
	for _, q := range fl.f.srv.Log() {
		b := int(q.At.Sub(fl.t0) / (250 * time.Millisecond))
		if b != last {
			if line != "" {
				t.Log(line)
			}
			line = fmt.Sprintf("%6.2f ", float64(b)/4)
			last = b
		}
		switch {
		case !q.Mutating:
			line += "d"
		case q.Code == "":
			line += "."
		default:
			line += "X"
		}
	}
	t.Log(line)
}
