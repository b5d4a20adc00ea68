package routetable

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/vpcsim"
)

// With only its addresses configured, as `rsagent run` does, the reconciler
// finds its ENI with one DescribeNetworkInterfaces and leaves another
// appliance's routes to it.
func TestReconcilerFindsItsOwnENIByAddress(t *testing.T) {
	f := newFixture(t, fixtureOptions{customTables: 2, routes: 2})
	// enis[0] holds 10.0.1.10, where every source route points.
	r, _ := newTestReconciler(t, f, func(c *Config) {
		c.LocalAddresses = []netip.Addr{netip.MustParseAddr("10.0.1.11")}
		c.DeferOthers = DeferNever
	})
	res, err := r.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the lookup found the ENI holding the address", func(t *testing.T) {
		if st := r.Status(); len(st.NetworkInterfaceIDs) != 1 || st.NetworkInterfaceIDs[0] != f.enis[1] || st.OwnsEveryRoute {
			t.Errorf("status ENIs %v (owns every route: %v), want [%s]", st.NetworkInterfaceIDs, st.OwnsEveryRoute, f.enis[1])
		}
		if n := countActions(f.srv.Log(), "DescribeNetworkInterfaces"); n != 1 {
			t.Errorf("%d DescribeNetworkInterfaces, want 1", n)
		}
	})
	t.Run("routes to the other ENI are left to it and listed as drift", func(t *testing.T) {
		if len(f.srv.Mutations()) != 0 || res.Deferred != 4 || len(res.Drift) != 4 || r.Deferred() != 4 {
			t.Fatalf("%d writes, %d deferred, %d drift entries; want 0, 4, 4", len(f.srv.Mutations()), res.Deferred, len(res.Drift))
		}
		if !strings.Contains(res.Drift[0].Handling, "deferred: route points at "+f.enis[0]) {
			t.Errorf("drift handling %q", res.Drift[0].Handling)
		}
	})
	t.Run("its own routes are copied at once", func(t *testing.T) {
		for _, d := range f.dests {
			must(t, f.vpc.PutRoute(f.main, vpcsim.Route{Destination: d, NetworkInterface: f.enis[1], Origin: vpcsim.OriginAdvertisement}))
		}
		f.srv.ResetLog()
		res, err := r.RunOnce(t.Context())
		if err != nil || res.Writes != 4 || res.Deferred != 0 || len(res.Drift) != 0 {
			t.Fatalf("%v: %d writes, %d deferred, drift %v", err, res.Writes, res.Deferred, res.Drift)
		}
		if n := countActions(f.srv.Log(), "DescribeNetworkInterfaces"); n != 0 {
			t.Errorf("the ENI was looked up again (%d calls)", n)
		}
	})
}

// An address no ENI holds: nothing is the reconciler's own, so every change
// waits defer_others for an owner, then is made; the lookup is retried.
func TestReconcilerWithUnknownENIsStillConvergesAfterDeferOthers(t *testing.T) {
	f := newFixture(t, fixtureOptions{customTables: 1, routes: 2})
	r, _ := newTestReconciler(t, f, func(c *Config) {
		c.LocalAddresses = []netip.Addr{netip.MustParseAddr("10.0.9.9")}
		c.DeferOthers = 300 * time.Millisecond
	})
	start := time.Now()
	res, err := r.RunOnce(t.Context())
	if err != nil || res.Writes != 2 {
		t.Fatalf("%v: %+v", err, res)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("the pass wrote after %s, before defer_others", d)
	}
	if st := r.Status(); st.OwnsEveryRoute || len(st.NetworkInterfaceIDs) != 0 {
		t.Errorf("status %+v", st)
	}
}

// Drift is reported honestly: a copy to the right ENI whose state is
// blackhole counts as out of step, in the dry-run JSON as in /status.
func TestDriftListsBlackholeCopiesAndConflicts(t *testing.T) {
	f := newFixture(t, fixtureOptions{customTables: 1, routes: 3})
	r, _ := newTestReconciler(t, f, nil)
	if _, err := r.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	must(t, f.vpc.PutRoute(f.custom[0], vpcsim.Route{Destination: f.dests[0], NetworkInterface: f.enis[0], State: vpcsim.StateBlackhole}))
	must(t, f.vpc.PutRoute(f.custom[0], vpcsim.Route{Destination: f.dests[1], GatewayID: "igw-0123456789abcdef0"}))
	dry, _ := newTestReconciler(t, f, func(c *Config) { c.DryRun = true })
	res, err := dry.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	var out struct {
		Drift []map[string]string `json:"drift"`
	}
	must(t, json.Unmarshal(b, &out))
	t.Run("the dry run's JSON lists both, with their reasons", func(t *testing.T) {
		if len(out.Drift) != 2 {
			t.Fatalf("drift %v", out.Drift)
		}
		if d := out.Drift[0]; d["state"] != "blackhole" || d["have"] != f.enis[0] || !strings.Contains(d["reason"], "blackhole") || d["handling"] != "would replace" {
			t.Errorf("blackhole entry %v", d)
		}
		if d := out.Drift[1]; d["have"] != "igw-0123456789abcdef0" || !strings.HasPrefix(d["handling"], "left alone") {
			t.Errorf("conflict entry %v", d)
		}
	})
	t.Run("a pass repairs the blackhole copy and status keeps only the conflict", func(t *testing.T) {
		if _, err := r.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		tb, _ := f.vpc.Table(f.custom[0])
		if got, _ := tb.Route(f.dests[0]); got.State != vpcsim.StateActive || got.NetworkInterface != f.enis[0] {
			t.Errorf("copy now %+v", got)
		}
		if st := r.Status(); len(st.Drift) != 1 || st.Drift[0].Destination != f.dests[1] {
			t.Errorf("status drift %+v", st.Drift)
		}
	})
}
