package direct

import (
	"net/netip"
	"testing"
)

func TestChoose(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")
	hosts := []netip.Addr{a, b, c}
	healthy := HostView{ENI: "eni-h", Healthy: true, Eligible: true}
	failing := HostView{ENI: "eni-f", Healthy: true}
	failed := HostView{ENI: "eni-x"}
	noENI := HostView{Healthy: true, Eligible: true}
	none := netip.Addr{}
	tests := []struct {
		name    string
		views   map[netip.Addr]HostView
		current []netip.Addr
		preempt bool
		want    netip.Addr
	}{
		{"no current target: the first eligible host", map[netip.Addr]HostView{a: healthy, b: healthy, c: healthy}, nil, false, a},
		{"a healthy current target is kept even if it is not first", map[netip.Addr]HostView{a: healthy, b: healthy, c: healthy}, []netip.Addr{b}, false, b},
		{"a failing (not yet failed) current target is kept", map[netip.Addr]HostView{a: healthy, b: failing, c: healthy}, []netip.Addr{b}, false, b},
		{"a failed current target is left for the first eligible host", map[netip.Addr]HostView{a: failed, b: failed, c: healthy}, []netip.Addr{b}, false, c},
		{"a failing host is not chosen anew", map[netip.Addr]HostView{a: failing, b: healthy}, nil, false, b},
		{"tables that disagree settle on the earliest healthy current target", map[netip.Addr]HostView{a: healthy, b: healthy, c: healthy}, []netip.Addr{c, b}, false, b},
		{"a host without an ENI is never chosen", map[netip.Addr]HostView{a: noENI, b: healthy}, []netip.Addr{a}, false, b},
		{"no healthy host: nothing", map[netip.Addr]HostView{a: failed, b: failed, c: noENI}, []netip.Addr{a}, false, none},
		{"preempt returns to the first eligible host", map[netip.Addr]HostView{a: healthy, b: healthy}, []netip.Addr{b}, true, a},
		{"preempt keeps a failing current target that comes first", map[netip.Addr]HostView{a: failing, b: healthy}, []netip.Addr{a}, true, a},
		{"preempt skips a failing host that is not current", map[netip.Addr]HostView{a: failing, b: healthy}, []netip.Addr{c}, true, b},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := map[netip.Addr]bool{}
			for _, h := range tc.current {
				cur[h] = true
			}
			got, ok := Choose(hosts, cur, func(h netip.Addr) HostView { return tc.views[h] }, tc.preempt)
			if got != tc.want || ok != tc.want.IsValid() {
				t.Fatalf("Choose = %v, %v; want %v", got, ok, tc.want)
			}
		})
	}
}
