package agent

import (
	"net/netip"
	"testing"

	"github.com/rsagent/rsagent/agent/health"
)

func TestDesiredAdvertsFollowHealthAndPolicy(t *testing.T) {
	nh4 := netip.MustParseAddr("198.51.100.1")
	withdraw := ServiceModel{Name: "voice", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.10/32")},
		MED: 10, Unhealthy: UnhealthyPolicy{Withdraw: true}}
	prepend := ServiceModel{Name: "vip", Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.20/32")},
		MED: 0, ASPathPrepend: 2, Unhealthy: UnhealthyPolicy{MED: 0, ASPathPrepend: 6}}
	tests := []struct {
		name        string
		svc         ServiceModel
		state       health.State
		wantCount   int
		wantMED     uint32
		wantPrepend uint8
	}{
		{"up announces the healthy attributes", withdraw, health.StateUp, 1, 10, 0},
		{"falling still announces as healthy", withdraw, health.StateFalling, 1, 10, 0},
		{"down withdraws under withdraw", withdraw, health.StateDown, 0, 0, 0},
		{"init is not proven healthy", withdraw, health.StateInit, 0, 0, 0},
		{"rising is not yet healthy", withdraw, health.StateRising, 0, 0, 0},
		{"down de-prefers under as_path_prepend", prepend, health.StateDown, 1, 0, 6},
		{"up keeps the standby's own prepend", prepend, health.StateUp, 1, 0, 2},
		{"disabled withdraws even under as_path_prepend", prepend, health.StateDisabled, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := desiredAdverts([]ServiceModel{tc.svc}, map[string]health.State{tc.svc.Name: tc.state}, nh4, netip.Addr{})
			if len(got) != tc.wantCount {
				t.Fatalf("got %d adverts, want %d: %+v", len(got), tc.wantCount, got)
			}
			if tc.wantCount == 0 {
				return
			}
			a := got[0]
			if a.MED != tc.wantMED || a.ASPathPrepend != tc.wantPrepend || a.NextHop != nh4 || a.Service != tc.svc.Name {
				t.Errorf("got %+v, want med %d prepend %d next hop %s", a, tc.wantMED, tc.wantPrepend, nh4)
			}
		})
	}
}

func TestDesiredAdvertsUseTheV6NextHopForV6Prefixes(t *testing.T) {
	nh6 := netip.MustParseAddr("2001:db8::1")
	s := ServiceModel{Name: "v6", Prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:10::/48")}, Unhealthy: UnhealthyPolicy{Withdraw: true}}
	got := desiredAdverts([]ServiceModel{s}, map[string]health.State{"v6": health.StateUp}, netip.MustParseAddr("198.51.100.1"), nh6)
	if len(got) != 1 || got[0].NextHop != nh6 {
		t.Fatalf("got %+v", got)
	}
}
