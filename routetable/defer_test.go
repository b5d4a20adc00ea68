package routetable

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

func TestOwners(t *testing.T) {
	create := Change{Action: ActionCreate, ENI: "eni-a"}
	replace := Change{Action: ActionReplace, ENI: "eni-b", PrevENI: "eni-a"}
	del := Change{Action: ActionDelete, PrevENI: "eni-a"}
	tests := []struct {
		name   string
		owners Owners
		c      Change
		want   bool
	}{
		{"with no ENIs every route is our own", Owners{All: true}, replace, true},
		{"a create is the source ENI's appliance's", Owners{ENIs: []string{"eni-a"}}, create, true},
		{"a replace belongs to the new ENI's appliance, not the old one's", Owners{ENIs: []string{"eni-a"}}, replace, false},
		{"a replace to our ENI is ours", Owners{ENIs: []string{"eni-x", "eni-b"}}, replace, true},
		{"a prune belongs to the appliance the copy points at", Owners{ENIs: []string{"eni-a"}}, del, true},
		{"an appliance whose ENIs are not known yet owns nothing", Owners{}, create, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.owners.Own(tt.c); got != tt.want {
				t.Errorf("Own(%v) = %v, want %v", tt.c, got, tt.want)
			}
		})
	}
}

// Each step is a fresh read: the owner's pending changes at that moment,
// and whether they are due then.
func TestDeferralRule(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type step struct {
		at      time.Time
		pending int
		due     bool
		recheck time.Time // zero: not checked
	}
	tests := []struct {
		name  string
		wait  time.Duration
		steps []step
	}{
		{"with defer_others 0 the changes are due at once", 0, []step{
			{at(0), 104, true, time.Time{}},
		}},
		{"an owner making progress keeps the changes to itself until it is done", 2 * time.Second, []step{
			{at(0), 104, false, at(2000)},
			{at(1000), 104, false, at(2000)},
			{at(2000), 60, false, at(4000)},
			{at(4000), 10, false, at(6000)},
			{at(6000), 0, false, time.Time{}},
		}},
		{"an owner with no progress in a whole window is taken over, and stays so", 2 * time.Second, []step{
			{at(0), 104, false, at(2000)},
			{at(2000), 104, true, time.Time{}},
			{at(2500), 80, true, time.Time{}},
			{at(3000), 40, true, time.Time{}},
		}},
		{"more pending changes than at the window's start is no progress", 2 * time.Second, []step{
			{at(0), 10, false, at(2000)},
			{at(2000), 12, true, time.Time{}},
		}},
		{"progress then a stall: taken over one window after the last progress", 2 * time.Second, []step{
			{at(0), 104, false, at(2000)},
			{at(2000), 50, false, at(4000)},
			{at(4000), 50, true, time.Time{}},
		}},
		{"once nothing is pending the rule starts afresh", 2 * time.Second, []step{
			{at(0), 5, false, at(2000)},
			{at(2000), 5, true, time.Time{}},
			{at(2100), 0, false, time.Time{}},
			{at(9000), 3, false, at(11000)},
		}},
		{"never: the changes are never due", DeferNever, []step{
			{at(0), 104, false, time.Time{}},
			{at(60000), 104, false, time.Time{}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := deferrals{}
			for i, s := range tt.steps {
				due, next, recheck := st.decide(map[string]int{"eni-b": s.pending}, s.at, tt.wait)
				if due["eni-b"] != s.due {
					t.Fatalf("step %d (%d pending at +%s): due %v, want %v", i, s.pending, s.at.Sub(t0), due["eni-b"], s.due)
				}
				if !s.recheck.IsZero() && !recheck.Equal(s.recheck) {
					t.Fatalf("step %d: look again at +%s, want +%s", i, recheck.Sub(t0), s.recheck.Sub(t0))
				}
				st = next
			}
		})
	}
	t.Run("owners are judged apart: one stalled owner does not hurry another", func(t *testing.T) {
		st := deferrals{}
		_, st, _ = st.decide(map[string]int{"eni-b": 10, "eni-c": 10}, at(0), 2*time.Second)
		due, _, recheck := st.decide(map[string]int{"eni-b": 10, "eni-c": 4}, at(2000), 2*time.Second)
		if !due["eni-b"] || due["eni-c"] || !recheck.Equal(at(4000)) {
			t.Errorf("due %v, recheck +%s; want eni-b only and eni-c looked at again at +4s", due, recheck.Sub(t0))
		}
	})
}

func TestApplyOrderRotatesThePlanBySeed(t *testing.T) {
	var plan []Change
	for i := range 20 {
		plan = append(plan, Change{Table: "rtb-1", Destination: netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i)}), 32)})
	}
	a, b := applyOrder(plan, 1), applyOrder(plan, 2)
	t.Run("the same seed gives the same order", func(t *testing.T) {
		if !slices.Equal(a, applyOrder(plan, 1)) {
			t.Error("order differs between calls")
		}
	})
	t.Run("every change is kept, in the plan's cyclic order", func(t *testing.T) {
		k := slices.Index(plan, a[0])
		if len(a) != len(plan) || !slices.Equal(a, append(slices.Clone(plan[k:]), plan[:k]...)) {
			t.Errorf("not a rotation of the plan: %v", a)
		}
	})
	t.Run("writers with other seeds start elsewhere", func(t *testing.T) {
		if a[0] == b[0] && applyOrder(plan, 3)[0] == a[0] {
			t.Error("three seeds start on the same change")
		}
	})
}

func TestPlanDriftSaysWhyEachRouteIsOutOfStep(t *testing.T) {
	main := table("rtb-main", adv(voice, "eni-b"), adv(fw, "eni-b"), adv(other, "eni-b"),
		adv(netip.MustParsePrefix("203.0.113.30/32"), "eni-b"), adv(netip.MustParsePrefix("203.0.113.50/32"), "eni-b"))
	main.Main = true
	target := table("rtb-1",
		static(voice, "eni-a"),
		Route{Destination: fw, NetworkInterface: "eni-b", Origin: OriginCreateRoute, State: StateBlackhole},
		Route{Destination: other, Gateway: "igw-1", Origin: OriginCreateRoute, State: StateActive},
		static(netip.MustParsePrefix("203.0.113.30/32"), "eni-b"),
		static(netip.MustParsePrefix("203.0.113.40/32"), "eni-a"),
		static(netip.MustParsePrefix("203.0.113.50/32"), "eni-a"),
	)
	rules := Rules{Ignore: []netip.Prefix{netip.MustParsePrefix("203.0.113.40/31"), netip.MustParsePrefix("203.0.113.48/29")}, Prune: true,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), other}}
	changes, drift := PlanDrift(main, []RouteTable{target}, rules)
	want := []Drift{
		{Table: "rtb-1", Destination: other, Want: "eni-b", Have: "igw-1", State: StateActive, Origin: OriginCreateRoute,
			Reason:   "routes via igw-1 (origin CreateRoute); the source routes it via eni-b",
			Handling: "left alone: existing route via igw-1 with origin CreateRoute is not managed"},
		{Table: "rtb-1", Destination: voice, Want: "eni-b", Have: "eni-a", State: StateActive, Origin: OriginCreateRoute,
			Reason: "routes via eni-a (origin CreateRoute); the source routes it via eni-b", Handling: "replace"},
		{Table: "rtb-1", Destination: fw, Want: "eni-b", Have: "eni-b", State: StateBlackhole, Origin: OriginCreateRoute,
			Reason: "routes via eni-b as the source does, but its state is blackhole", Handling: "replace"},
		{Table: "rtb-1", Destination: netip.MustParsePrefix("203.0.113.50/32"), Want: "eni-b", Have: "eni-a", State: StateActive, Origin: OriginCreateRoute,
			Reason: "routes via eni-a (origin CreateRoute); the source routes it via eni-b", Handling: "left alone: " + ReasonIgnored},
	}
	t.Run("every out-of-step route is listed with its reason, copies that are in step are not", func(t *testing.T) {
		if !slices.Equal(drift, want) {
			t.Errorf("drift:\n got %+v\nwant %+v", drift, want)
		}
	})
	t.Run("an ignored copy is never written: neither pruned nor replaced", func(t *testing.T) {
		for _, c := range changes {
			if rules.Ignored(c.Destination) && c.Action != ActionSkip {
				t.Errorf("planned %v", c)
			}
		}
	})
	t.Run("every change has its drift entry", func(t *testing.T) {
		if len(changes) != len(drift) {
			t.Errorf("%d changes, %d drift entries", len(changes), len(drift))
		}
	})
}
