package direct

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/rsagent/rsagent/routetable"
)

var (
	hostA = netip.MustParseAddr("10.0.1.10")
	hostB = netip.MustParseAddr("10.0.2.10")
	dst1  = netip.MustParsePrefix("198.51.100.0/24")
	dst2  = netip.MustParsePrefix("203.0.113.0/24")
)

func route(dst netip.Prefix, eni string) routetable.Route {
	return routetable.Route{Destination: dst, NetworkInterface: eni, Origin: routetable.OriginCreateRoute, State: routetable.StateActive}
}

func table(id string, routes ...routetable.Route) routetable.RouteTable {
	return routetable.RouteTable{ID: id, Routes: append([]routetable.Route{{Destination: netip.MustParsePrefix("10.0.0.0/16"),
		Gateway: "local", Origin: routetable.OriginCreateRouteTable, State: routetable.StateActive}}, routes...)}
}

func views(a, b HostView) map[netip.Addr]HostView {
	return map[netip.Addr]HostView{hostA: a, hostB: b}
}

var (
	upA   = HostView{ENI: "eni-a", Healthy: true, Eligible: true}
	upB   = HostView{ENI: "eni-b", Healthy: true, Eligible: true}
	downA = HostView{ENI: "eni-a"}
	downB = HostView{ENI: "eni-b"}
)

func actions(cs []routetable.Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Table+" "+string(c.Action)+" "+c.Destination.String()+" "+c.ENI)
	}
	return out
}

func TestPlan(t *testing.T) {
	spec := Spec{dst1: {hostA, hostB}}
	tests := []struct {
		name   string
		in     Input
		want   []string
		states []string // per table of dst1
		route  string   // dst1's route state
	}{
		{"an empty VPC gets the route in every table, to the first host",
			Input{Tables: []routetable.RouteTable{table("rtb-1"), table("rtb-2")}, Spec: spec, Hosts: views(upA, upB)},
			[]string{"rtb-1 create 198.51.100.0/24 eni-a", "rtb-2 create 198.51.100.0/24 eni-a"},
			[]string{TableCreate, TableCreate}, RouteOK},
		{"tables in step need nothing",
			Input{Tables: []routetable.RouteTable{table("rtb-1", route(dst1, "eni-a"))}, Spec: spec, Hosts: views(upA, upB)},
			nil, []string{TableInStep}, RouteOK},
		{"a failed target moves to the next host",
			Input{Tables: []routetable.RouteTable{table("rtb-1", route(dst1, "eni-a")), table("rtb-2", route(dst1, "eni-a"))}, Spec: spec, Hosts: views(downA, upB)},
			[]string{"rtb-1 replace 198.51.100.0/24 eni-b", "rtb-2 replace 198.51.100.0/24 eni-b"},
			[]string{TableReplace, TableReplace}, RouteOK},
		{"a recovered first host does not get the route back without preempt",
			Input{Tables: []routetable.RouteTable{table("rtb-1", route(dst1, "eni-b"))}, Spec: spec, Hosts: views(upA, upB)},
			nil, []string{TableInStep}, RouteOK},
		{"with preempt it does",
			Input{Tables: []routetable.RouteTable{table("rtb-1", route(dst1, "eni-b"))}, Spec: spec, Hosts: views(upA, upB), Preempt: true},
			[]string{"rtb-1 replace 198.51.100.0/24 eni-a"}, []string{TableReplace}, RouteOK},
		{"no healthy host leaves the routes and creates none",
			Input{Tables: []routetable.RouteTable{table("rtb-1", route(dst1, "eni-a")), table("rtb-2")}, Spec: spec, Hosts: views(downA, downB)},
			nil, []string{TableLeftAlone, TableLeftAlone}, RouteNoHealthyHost},
		{"a host with no ENI is never chosen",
			Input{Tables: []routetable.RouteTable{table("rtb-1")}, Spec: spec, Hosts: map[netip.Addr]HostView{hostB: upB}},
			[]string{"rtb-1 create 198.51.100.0/24 eni-b"}, []string{TableCreate}, RouteOK},
		{"an ENI replaced behind the same address is followed (blackhole to the old ENI)",
			Input{Tables: []routetable.RouteTable{table("rtb-1", routetable.Route{Destination: dst1, NetworkInterface: "eni-old",
				Origin: routetable.OriginCreateRoute, State: routetable.StateBlackhole})}, Spec: spec, Hosts: views(upA, upB)},
			[]string{"rtb-1 replace 198.51.100.0/24 eni-a"}, []string{TableReplace}, RouteOK},
		{"gateway and propagated routes for a spec CIDR are reported and left alone",
			Input{Tables: []routetable.RouteTable{
				table("rtb-1", routetable.Route{Destination: dst1, Gateway: "igw-1", Origin: routetable.OriginCreateRoute, State: "active"}),
				table("rtb-2", routetable.Route{Destination: dst1, NetworkInterface: "eni-b", Origin: routetable.OriginAdvertisement, State: "active"}),
			}, Spec: spec, Hosts: views(upA, upB)},
			[]string{"rtb-1 skip 198.51.100.0/24 eni-a", "rtb-2 skip 198.51.100.0/24 eni-a"},
			[]string{TableNotManaged, TableNotManaged}, RouteOK},
		{"an ignored spec CIDR is left alone",
			Input{Tables: []routetable.RouteTable{table("rtb-1")}, Spec: spec, Hosts: views(upA, upB), Ignore: []netip.Prefix{netip.MustParsePrefix("198.51.0.0/16")}},
			nil, []string{TableLeftAlone}, RouteIgnored},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := Plan(tc.in)
			if got := actions(res.Changes); !slices.Equal(got, tc.want) {
				t.Errorf("changes:\n got %q\nwant %q", got, tc.want)
			}
			if len(res.Routes) != 1 || res.Routes[0].State != tc.route {
				t.Fatalf("routes = %+v, want one in state %s", res.Routes, tc.route)
			}
			var states []string
			for _, tr := range res.Routes[0].Tables {
				states = append(states, tr.Action)
			}
			if !slices.Equal(states, tc.states) {
				t.Errorf("table states %v, want %v", states, tc.states)
			}
		})
	}
}

func TestPlanTouchesOnlySpecRoutesUnlessRemoveUnlisted(t *testing.T) {
	other := netip.MustParsePrefix("192.168.0.0/16")
	ignored := netip.MustParsePrefix("172.16.0.0/12")
	tables := []routetable.RouteTable{table("rtb-1", route(dst1, "eni-a"), route(other, "eni-z"), route(ignored, "eni-z"),
		routetable.Route{Destination: dst2, Gateway: "igw-1", Origin: routetable.OriginCreateRoute, State: "active"})}
	in := Input{Tables: tables, Spec: Spec{dst1: {hostA}}, Hosts: views(upA, upB), Ignore: []netip.Prefix{ignored}}
	if got := Plan(in).Changes; len(got) != 0 {
		t.Fatalf("without remove_unlisted: %v", actions(got))
	}
	in.RemoveUnlisted = true
	got := Plan(in).Changes
	if len(got) != 1 || got[0].Action != routetable.ActionDelete || got[0].Destination != other || !strings.Contains(got[0].Reason, "remove_unlisted") {
		t.Fatalf("with remove_unlisted: %v, want only the unlisted ENI route deleted (not the ignored one, not the gateway)", actions(got))
	}
	in.Spec = Spec{}
	if got := Plan(in).Changes; len(got) != 0 {
		t.Fatalf("an empty spec must never delete: %v", actions(got))
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	spec := Spec{dst1: {hostA, hostB}, dst2: {hostB, hostA}}
	in := Input{Tables: []routetable.RouteTable{table("rtb-2"), table("rtb-1", route(dst2, "eni-a"))}, Spec: spec, Hosts: views(upA, upB)}
	first := actions(Plan(in).Changes)
	want := []string{"rtb-1 create 198.51.100.0/24 eni-a", "rtb-2 create 198.51.100.0/24 eni-a", "rtb-2 create 203.0.113.0/24 eni-a"}
	if !slices.Equal(first, want) {
		t.Fatalf("plan %q, want %q (dst2 keeps its healthy current target A everywhere)", first, want)
	}
	for range 20 {
		if got := actions(Plan(in).Changes); !slices.Equal(got, first) {
			t.Fatalf("a second plan differs: %q vs %q", got, first)
		}
	}
}
