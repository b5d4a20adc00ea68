package routetable

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

var (
	vpcCIDR = netip.MustParsePrefix("10.0.0.0/16")
	voice   = netip.MustParsePrefix("203.0.113.10/32")
	fw      = netip.MustParsePrefix("203.0.113.20/32")
	other   = netip.MustParsePrefix("198.51.100.0/24")
)

func local() Route {
	return Route{Destination: vpcCIDR, Gateway: "local", Origin: OriginCreateRouteTable, State: StateActive}
}

func adv(dst netip.Prefix, eni string) Route {
	return Route{Destination: dst, NetworkInterface: eni, Origin: OriginAdvertisement, State: StateActive}
}

func static(dst netip.Prefix, eni string) Route {
	return Route{Destination: dst, NetworkInterface: eni, Origin: OriginCreateRoute, State: StateActive}
}

func table(id string, routes ...Route) RouteTable {
	return RouteTable{ID: id, Routes: append([]Route{local()}, routes...)}
}

func TestPlan(t *testing.T) {
	main := func(routes ...Route) RouteTable { tb := table("rtb-main", routes...); tb.Main = true; return tb }
	tests := []struct {
		name    string
		source  RouteTable
		targets []RouteTable
		rules   Rules
		want    []Change
	}{
		{
			name:    "a missing route is created",
			source:  main(adv(voice, "eni-a")),
			targets: []RouteTable{table("rtb-1")},
			want:    []Change{{Table: "rtb-1", Action: ActionCreate, Destination: voice, ENI: "eni-a"}},
		},
		{
			name:    "a copy pointing at the old ENI is replaced",
			source:  main(adv(voice, "eni-b")),
			targets: []RouteTable{table("rtb-1", static(voice, "eni-a"))},
			want:    []Change{{Table: "rtb-1", Action: ActionReplace, Destination: voice, ENI: "eni-b", PrevENI: "eni-a"}},
		},
		{
			name:    "a copy with the same ENI but another next-hop IP is unchanged",
			source:  main(Route{Destination: voice, NetworkInterface: "eni-a", IPAddress: "10.0.1.10", Origin: OriginAdvertisement, State: StateActive}),
			targets: []RouteTable{table("rtb-1", Route{Destination: voice, NetworkInterface: "eni-a", IPAddress: "10.0.1.99", Origin: OriginCreateRoute, State: StateActive})},
		},
		{
			name:    "a blackholed copy of the same ENI is out of step and replaced",
			source:  main(adv(voice, "eni-a")),
			targets: []RouteTable{table("rtb-1", Route{Destination: voice, NetworkInterface: "eni-a", Origin: OriginCreateRoute, State: StateBlackhole})},
			want: []Change{{Table: "rtb-1", Action: ActionReplace, Destination: voice, ENI: "eni-a", PrevENI: "eni-a",
				Reason: ReasonBlackhole}},
		},
		{
			name:    "an ignored destination is left alone whatever the target holds",
			source:  main(adv(voice, "eni-b"), adv(fw, "eni-b")),
			targets: []RouteTable{table("rtb-1", static(voice, "eni-a"))},
			rules:   Rules{Ignore: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/28")}},
			want: []Change{
				{Table: "rtb-1", Action: ActionSkip, Destination: voice, ENI: "eni-b", Reason: ReasonIgnored},
				{Table: "rtb-1", Action: ActionCreate, Destination: fw, ENI: "eni-b"},
			},
		},
		{
			name:    "prune never deletes an ignored destination",
			source:  main(),
			targets: []RouteTable{table("rtb-1", static(voice, "eni-a"), static(fw, "eni-a"))},
			rules: Rules{Prune: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
				Ignore: []netip.Prefix{voice}},
			want: []Change{{Table: "rtb-1", Action: ActionDelete, Destination: fw, PrevENI: "eni-a"}},
		},
		{
			name:    "tables already in step produce no change",
			source:  main(adv(voice, "eni-a"), adv(fw, "eni-b")),
			targets: []RouteTable{table("rtb-1", static(voice, "eni-a"), static(fw, "eni-b")), table("rtb-2", static(fw, "eni-b"), static(voice, "eni-a"))},
		},
		{
			name:    "a route to a gateway for the destination is left alone",
			source:  main(adv(voice, "eni-b")),
			targets: []RouteTable{table("rtb-1", Route{Destination: voice, Gateway: "igw-1", Origin: OriginCreateRoute, State: StateActive})},
			want: []Change{{Table: "rtb-1", Action: ActionSkip, Destination: voice, ENI: "eni-b",
				Reason: "existing route via igw-1 with origin CreateRoute is not managed"}},
		},
		{
			name:    "a propagated route in a configured target is left alone",
			source:  main(adv(voice, "eni-b")),
			targets: []RouteTable{table("rtb-1", adv(voice, "eni-a"))},
			want: []Change{{Table: "rtb-1", Action: ActionSkip, Destination: voice, ENI: "eni-b",
				Reason: "existing route via eni-a with origin Advertisement is not managed"}},
		},
		{
			name:    "local and static source routes are not copied in Route Server mode",
			source:  main(static(fw, "eni-a"), Route{Destination: other, Gateway: "igw-1", Origin: OriginCreateRoute, State: StateActive}),
			targets: []RouteTable{table("rtb-1")},
		},
		{
			name:    "a VGW-propagated source route is not copied",
			source:  main(Route{Destination: other, Gateway: "vgw-1", Origin: OriginVGWPropagation, State: StateActive}),
			targets: []RouteTable{table("rtb-1")},
			rules:   Rules{Origins: []string{OriginAdvertisement, OriginCreateRoute}},
		},
		{
			name:    "a blackhole source route is skipped and its copy kept",
			source:  main(Route{Destination: voice, NetworkInterface: "eni-b", Origin: OriginAdvertisement, State: StateBlackhole}),
			targets: []RouteTable{table("rtb-1", static(voice, "eni-a")), table("rtb-2")},
			rules:   Rules{Prune: true, Owned: map[TableDest]bool{{"rtb-1", voice}: true}},
		},
		{
			name:    "the source table is never a target",
			source:  main(adv(voice, "eni-a")),
			targets: []RouteTable{main(adv(voice, "eni-a"))},
		},
		{
			name:    "without prune a copy whose source is gone stays",
			source:  main(),
			targets: []RouteTable{table("rtb-1", static(voice, "eni-a"))},
			rules:   Rules{Owned: map[TableDest]bool{{"rtb-1", voice}: true}},
		},
		{
			name:    "with prune a copy we own whose source is gone is deleted",
			source:  main(),
			targets: []RouteTable{table("rtb-1", static(voice, "eni-a"), static(fw, "eni-a"))},
			rules:   Rules{Prune: true, Owned: map[TableDest]bool{{"rtb-1", voice}: true}},
			want:    []Change{{Table: "rtb-1", Action: ActionDelete, Destination: voice, PrevENI: "eni-a"}},
		},
		{
			name:    "with prune and prefixes a copy inside the prefixes is deleted even if never seen",
			source:  main(),
			targets: []RouteTable{table("rtb-1", static(voice, "eni-a"), static(other, "eni-a"))},
			rules:   Rules{Prune: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}},
			want:    []Change{{Table: "rtb-1", Action: ActionDelete, Destination: voice, PrevENI: "eni-a"}},
		},
		{
			name:   "prune never deletes a gateway or propagated route",
			source: main(),
			targets: []RouteTable{table("rtb-1", adv(voice, "eni-a"),
				Route{Destination: fw, Gateway: "nat-1", Origin: OriginCreateRoute, State: StateActive})},
			rules: Rules{Prune: true, Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")},
				Owned: map[TableDest]bool{{"rtb-1", voice}: true, {"rtb-1", fw}: true}},
		},
		{
			name:    "prune keeps a copy whose source route still exists but is not eligible",
			source:  main(Route{Destination: voice, NetworkInterface: "eni-a", Origin: OriginAdvertisement, State: StateBlackhole}),
			targets: []RouteTable{table("rtb-1", static(voice, "eni-a"))},
			rules:   Rules{Prune: true, Owned: map[TableDest]bool{{"rtb-1", voice}: true}},
		},
		{
			name:    "the prefix filter copies only destinations inside it",
			source:  main(adv(voice, "eni-a"), adv(other, "eni-a")),
			targets: []RouteTable{table("rtb-1")},
			rules:   Rules{Prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}},
			want:    []Change{{Table: "rtb-1", Action: ActionCreate, Destination: voice, ENI: "eni-a"}},
		},
		{
			name:    "a prefix filter narrower than the route does not match it",
			source:  main(adv(other, "eni-a")),
			targets: []RouteTable{table("rtb-1")},
			rules:   Rules{Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25")}},
		},
		{
			name:    "Sync Routes origin mode copies static ENI routes",
			source:  main(static(voice, "eni-a"), adv(fw, "eni-b")),
			targets: []RouteTable{table("rtb-1")},
			rules:   Rules{Origins: []string{OriginCreateRoute}},
			want:    []Change{{Table: "rtb-1", Action: ActionCreate, Destination: voice, ENI: "eni-a"}},
		},
		{
			name:    "both origins copy both kinds, IPv6 included, sorted by table then destination",
			source:  main(adv(fw, "eni-b"), static(voice, "eni-a"), adv(netip.MustParsePrefix("2001:db8::/64"), "eni-c")),
			targets: []RouteTable{table("rtb-2"), table("rtb-1", static(voice, "eni-a"))},
			rules:   Rules{Origins: []string{OriginCreateRoute, OriginAdvertisement}},
			want: []Change{
				{Table: "rtb-1", Action: ActionCreate, Destination: fw, ENI: "eni-b"},
				{Table: "rtb-1", Action: ActionCreate, Destination: netip.MustParsePrefix("2001:db8::/64"), ENI: "eni-c"},
				{Table: "rtb-2", Action: ActionCreate, Destination: voice, ENI: "eni-a"},
				{Table: "rtb-2", Action: ActionCreate, Destination: fw, ENI: "eni-b"},
				{Table: "rtb-2", Action: ActionCreate, Destination: netip.MustParsePrefix("2001:db8::/64"), ENI: "eni-c"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Plan(tt.source, tt.targets, tt.rules)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Plan:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestSelectTargets(t *testing.T) {
	tables := []RouteTable{
		{ID: "rtb-main", Main: true},
		{ID: "rtb-1"},
		{ID: "rtb-prop"},
		{ID: "rtb-adv", Routes: []Route{adv(voice, "eni-a")}},
	}
	tests := []struct {
		name        string
		configured  []string
		wantTargets []string
		wantMissing []string
	}{
		{name: "auto picks tables without propagation or advertisements, never the source", wantTargets: []string{"rtb-1"}},
		{name: "a configured list is taken as is", configured: []string{"rtb-adv", "rtb-1"}, wantTargets: []string{"rtb-adv", "rtb-1"}},
		{name: "a configured table not in the VPC is reported missing", configured: []string{"rtb-gone", "rtb-1"}, wantTargets: []string{"rtb-1"}, wantMissing: []string{"rtb-gone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, missing := SelectTargets(tables, "rtb-main", tt.configured, map[string]bool{"rtb-prop": true})
			var ids []string
			for _, g := range got {
				ids = append(ids, g.ID)
			}
			if !slices.Equal(ids, tt.wantTargets) || !slices.Equal(missing, tt.wantMissing) {
				t.Errorf("got %v missing %v, want %v missing %v", ids, missing, tt.wantTargets, tt.wantMissing)
			}
		})
	}
}

func TestFindSource(t *testing.T) {
	tables := []RouteTable{{ID: "rtb-1"}, {ID: "rtb-main", Main: true}}
	for _, tt := range []struct{ name, source, want string }{
		{"main finds the main table", "main", "rtb-main"},
		{"an empty source means main", "", "rtb-main"},
		{"an id finds that table", "rtb-1", "rtb-1"},
		{"an unknown id is an error", "rtb-x", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindSource(tables, tt.source)
			if got.ID != tt.want || (err != nil) != (tt.want == "") {
				t.Errorf("FindSource(%q) = %q, %v; want %q", tt.source, got.ID, err, tt.want)
			}
		})
	}
}

func TestFromEC2(t *testing.T) {
	in := types.RouteTable{
		RouteTableId: aws.String("rtb-1"), VpcId: aws.String("vpc-1"),
		Associations: []types.RouteTableAssociation{{Main: aws.Bool(true)}},
		Routes: []types.Route{
			{DestinationCidrBlock: aws.String("10.0.0.0/16"), GatewayId: aws.String("local"), Origin: types.RouteOriginCreateRouteTable, State: types.RouteStateActive},
			{DestinationCidrBlock: aws.String("203.0.113.10/32"), NetworkInterfaceId: aws.String("eni-a"), InstanceId: aws.String("i-1"), Origin: types.RouteOriginCreateRoute, State: types.RouteStateActive},
			{DestinationIpv6CidrBlock: aws.String("2001:db8::/64"), NetworkInterfaceId: aws.String("eni-b"), IpAddress: aws.String("10.0.1.10"), Origin: types.RouteOriginAdvertisement, State: types.RouteStateActive},
			{DestinationPrefixListId: aws.String("pl-1"), GatewayId: aws.String("igw-1")},
		},
	}
	got, err := FromEC2(in)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the main association marks the table main", func(t *testing.T) {
		if !got.Main || got.ID != "rtb-1" || got.VPCID != "vpc-1" {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("prefix-list routes are dropped and both families kept", func(t *testing.T) {
		if len(got.Routes) != 3 {
			t.Fatalf("got %d routes, want 3: %+v", len(got.Routes), got.Routes)
		}
	})
	t.Run("an ENI on an instance is still an ENI target", func(t *testing.T) {
		if r := got.Routes[1]; !r.ENITarget() || r.NetworkInterface != "eni-a" {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("the local route is local", func(t *testing.T) {
		if !got.Routes[0].Local() || got.Routes[0].ENITarget() {
			t.Errorf("got %+v", got.Routes[0])
		}
	})
	t.Run("a destination that does not parse is an error", func(t *testing.T) {
		bad := types.RouteTable{RouteTableId: aws.String("rtb-2"), Routes: []types.Route{{DestinationCidrBlock: aws.String("10.0.0.300/32")}}}
		if _, err := FromEC2(bad); err == nil {
			t.Error("no error")
		}
	})
}
