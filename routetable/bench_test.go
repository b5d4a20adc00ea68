package routetable

import (
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/vpcsim"
)

// failoverFixture is 26 routes copied into 4 custom tables, in step, with a
// warm propagation cache; then every main-table route fails over to the
// other ENI, so the next pass must replace 104 routes.
func failoverFixture(b *testing.B, server vpcsim.Options, cfg func(*Config)) (*fixture, *Reconciler) {
	b.Helper()
	f := newFixture(b, fixtureOptions{customTables: 4, routes: 26, copiesOn: true, server: server})
	for _, d := range f.dests {
		must(b, f.vpc.PutRoute(f.main, vpcsim.Route{Destination: d, NetworkInterface: f.enis[1], Origin: vpcsim.OriginAdvertisement}))
	}
	c := Config{VPCID: testVPC, Interval: time.Hour}
	if cfg != nil {
		cfg(&c)
	}
	r, err := NewReconciler(f.api, c)
	must(b, err)
	if res, err := r.RunOnce(b.Context()); err != nil || res.Result != "ok" {
		b.Fatalf("warm-up pass: %v %+v", err, res)
	}
	for _, d := range f.dests {
		must(b, f.vpc.PutRoute(f.main, vpcsim.Route{Destination: d, NetworkInterface: f.enis[0], Origin: vpcsim.OriginAdvertisement}))
	}
	f.srv.ResetLog()
	return f, r
}

func benchFailover(b *testing.B, server vpcsim.Options, cfg func(*Config), goal string, goalSeconds float64) {
	var total time.Duration
	throttled := 0
	for range b.N {
		b.StopTimer()
		f, r := failoverFixture(b, server, cfg)
		b.StartTimer()
		start := time.Now()
		res, err := r.RunOnce(b.Context())
		total += time.Since(start)
		b.StopTimer()
		if err != nil || len(res.Changes) != 104 {
			b.Fatalf("pass: %v, %d changes", err, len(res.Changes))
		}
		must(b, f.converged(f.enis[0]))
		for _, req := range f.srv.Log() {
			if req.Code == vpcsim.CodeRequestLimitExceeded {
				throttled++
			}
		}
		b.StartTimer()
	}
	secs := total.Seconds() / float64(b.N)
	b.ReportMetric(secs, "s/pass")
	b.ReportMetric(float64(throttled)/float64(b.N), "throttled/pass")
	b.Logf("104 replacements: %.3f s per pass, %d RequestLimitExceeded; goal: %s (≤ %.3f s, 0 throttled); AWS Sync Routes: 4 s",
		secs, throttled, goal, goalSeconds)
}

// BenchmarkFailover104DefaultBuckets: EC2's default mutating bucket
// (50, 5/s) and 50 ms per request. The bound is (104 − 50) / 5 = 10.8 s.
func BenchmarkFailover104DefaultBuckets(b *testing.B) {
	benchFailover(b, vpcsim.Options{Faults: vpcsim.Faults{Latency: 50 * time.Millisecond}}, nil,
		"≤ 1.05 × bucket bound (104 − 50) / 5 s", 1.05*10.8)
}

// BenchmarkFailover104RaisedBucket: the mutating bucket raised to 200, on
// EC2 and client-side. The writer assumes other writers share the bucket
// (docs/adr/0006): calls in flight start at 4 and grow by half a call per
// answer, and a round sends at most two windows (at most 33 here) before
// the tables are read again, so the 104 go out in rounds of 8, 16, 32, 33
// and 15, each a write and a read round trip or two.
func BenchmarkFailover104RaisedBucket(b *testing.B) {
	latency := 50 * time.Millisecond
	benchFailover(b, vpcsim.Options{Mutating: vpcsim.Bucket{Size: 200, RefillPerSecond: 5}, Faults: vpcsim.Faults{Latency: latency}},
		func(c *Config) { c.MutatingBurst = 200 }, "slow start in 5 rounds: ≤ 16 API round trips of 50 ms", 16*latency.Seconds())
}

// BenchmarkIdlePass counts the EC2 calls of a pass with nothing to do. The
// benchmark runs passes back to back, far faster than EC2's non-mutating
// bucket (20/s) allows, so that bucket is lifted here: what is counted is
// the calls a pass makes, not the retries of a loop no real interval runs.
func BenchmarkIdlePass(b *testing.B) {
	f := newFixture(b, fixtureOptions{customTables: 4, routes: 26,
		server: vpcsim.Options{NonMutating: vpcsim.Bucket{Size: -1}}})
	r, err := NewReconciler(f.api, Config{VPCID: testVPC})
	must(b, err)
	if _, err := r.RunOnce(b.Context()); err != nil {
		b.Fatal(err)
	}
	f.srv.ResetLog()
	b.ResetTimer()
	for range b.N {
		if res, err := r.RunOnce(b.Context()); err != nil || res.Result != "ok" {
			b.Fatalf("idle pass: %v %+v", err, res)
		}
	}
	b.StopTimer()
	calls := float64(len(f.srv.Log())) / float64(b.N)
	b.ReportMetric(calls, "calls/pass")
	b.Logf("idle pass: %.2f EC2 calls per pass; goal: exactly 1", calls)
}

// benchFleet runs a fleet scenario (see fleet_test.go) once per iteration
// and prints its figures beside the goals.
func benchFleet(b *testing.B, specs []writerSpec, timeout time.Duration, report func(fleetResult)) {
	var last fleetResult
	var converged time.Duration
	for range b.N {
		fl := newFleet(b, specs, nil)
		fl.start(b)
		fl.failover(b, specs)
		last = fl.measure(b, timeout)
		converged += last.converged
	}
	b.ReportMetric(converged.Seconds()/float64(b.N), "s/converged")
	b.ReportMetric(float64(last.writes), "writes")
	b.ReportMetric(float64(last.throttled), "throttled")
	report(last)
}

// BenchmarkHAPairFailover104: both members of an HA pair reconcile with
// the defaults (defer_others 2s) and both notice the failover at once; the
// routes move to the owner's ENI.
func BenchmarkHAPairFailover104(b *testing.B) {
	benchFleet(b, []writerSpec{{own: []int{0}, triggered: true}, {own: []int{1}, triggered: true}}, time.Minute, func(r fleetResult) {
		b.Logf("HA pair, both reconciling, 104 replacements: %d writes (goal ≤ 109), %d throttled (goal 0), converged after %.2f s (goal ≤ 12.5 s); writes owner/other %v",
			r.writes, r.throttled, r.converged.Seconds(), r.perWriter)
	})
}

// BenchmarkOwnerSilentFailover104: the routes move to an ENI whose
// appliance runs no reconciler; the other member copies them once
// defer_others (2s) passed without progress.
func BenchmarkOwnerSilentFailover104(b *testing.B) {
	benchFleet(b, []writerSpec{{own: []int{1}, triggered: true}}, time.Minute, func(r fleetResult) {
		b.Logf("owner silent, 104 replacements: converged after %.2f s (goal ≤ 13.8 s = defer_others 2 s + 11.8 s); %d writes, %d throttled",
			r.converged.Seconds(), r.writes, r.throttled)
	})
}

// BenchmarkThreeWayRace104: three reconcilers with no ownership configured,
// started together, each noticing the failover at its own next tick
// (interval 5 s).
func BenchmarkThreeWayRace104(b *testing.B) {
	benchFleet(b, []writerSpec{{}, {}, {}}, time.Minute, func(r fleetResult) {
		b.Logf("three-way race, 104 replacements: converged after %.2f s (goal ≤ 45 s), %d of %d mutating calls throttled = %.1f %% (goal ≤ 15 %%); writes %d, per writer %v",
			r.converged.Seconds(), r.throttled, r.mutating, 100*r.throttledShare(), r.writes, r.perWriter)
	})
}
