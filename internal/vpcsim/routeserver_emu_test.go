package vpcsim

import (
	"net/netip"
	"testing"
)

func TestBestPaths(t *testing.T) {
	pfx := netip.MustParsePrefix("203.0.113.10/32")
	other := netip.MustParsePrefix("198.51.100.0/24")
	a := netip.MustParseAddr("127.0.0.10")
	b := netip.MustParseAddr("127.0.0.11")
	cand := func(p netip.Prefix, nh netip.Addr, pathLen int, med uint32, peer string) Candidate {
		return Candidate{Prefix: p, NextHop: nh, ASPathLen: pathLen, MED: med, PeerID: peer, EndpointID: "rse-1", Live: true}
	}
	tests := []struct {
		name  string
		cands []Candidate
		want  map[netip.Prefix]netip.Addr // prefix → chosen next hop
	}{
		{"the shorter AS path wins even with a higher MED",
			[]Candidate{cand(pfx, a, 1, 100, "rsp-a"), cand(pfx, b, 3, 0, "rsp-b")},
			map[netip.Prefix]netip.Addr{pfx: a}},
		{"with equal AS paths the lower MED wins",
			[]Candidate{cand(pfx, a, 1, 100, "rsp-a"), cand(pfx, b, 1, 0, "rsp-b")},
			map[netip.Prefix]netip.Addr{pfx: b}},
		{"a full tie goes to the lower next hop, whatever the order",
			[]Candidate{cand(pfx, b, 1, 0, "rsp-b"), cand(pfx, a, 1, 0, "rsp-a")},
			map[netip.Prefix]netip.Addr{pfx: a}},
		{"a peer that is not live is ignored even with the better path",
			[]Candidate{{Prefix: pfx, NextHop: a, ASPathLen: 1, PeerID: "rsp-a"}, cand(pfx, b, 3, 0, "rsp-b")},
			map[netip.Prefix]netip.Addr{pfx: b}},
		{"each prefix gets its own best path",
			[]Candidate{cand(pfx, a, 1, 0, "rsp-a"), cand(other, b, 1, 0, "rsp-b"), cand(other, a, 2, 0, "rsp-a")},
			map[netip.Prefix]netip.Addr{pfx: a, other: b}},
		{"no live candidate means no route",
			[]Candidate{{Prefix: pfx, NextHop: a, ASPathLen: 1}},
			map[netip.Prefix]netip.Addr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BestPaths(tt.cands)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d best paths %+v, want %d", len(got), got, len(tt.want))
			}
			for i, c := range got {
				if i > 0 && comparePrefix(got[i-1].Prefix, c.Prefix) >= 0 {
					t.Errorf("result not sorted by prefix: %+v", got)
				}
				if tt.want[c.Prefix] != c.NextHop {
					t.Errorf("%s: next hop %s, want %s", c.Prefix, c.NextHop, tt.want[c.Prefix])
				}
			}
		})
	}
}

func TestRouteServerInstall(t *testing.T) {
	pfx := netip.MustParsePrefix("203.0.113.10/32")
	active := netip.MustParseAddr("127.0.0.10")
	standby := netip.MustParseAddr("127.0.0.11")
	setup := func(t *testing.T) (*VPC, *RouteServer, string, string, string) {
		t.Helper()
		v := NewVPC(testVPCID, netip.MustParsePrefix("10.0.0.0/16"))
		custom := v.AddRouteTable()
		eniA := v.AddNetworkInterface(active)
		eniB := v.AddNetworkInterface(standby)
		rs, err := NewRouteServer(v, RouteServerConfig{
			Endpoints: []netip.Addr{netip.MustParseAddr("127.0.0.230")}, Port: 10179,
			Peers: []RouteServerPeerConfig{{Address: active, ASN: 65010}, {Address: standby, ASN: 65010}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := v.EnablePropagation(rs.ID(), v.MainTableID()); err != nil {
			t.Fatal(err)
		}
		return v, rs, custom, eniA, eniB
	}
	best := func(nh netip.Addr) []Candidate {
		return []Candidate{{Prefix: pfx, NextHop: nh, ASPathLen: 1, PeerID: "rsp-x", EndpointID: "rse-x", Live: true}}
	}
	routeIn := func(v *VPC, table string) (Route, bool) {
		tb, _ := v.Table(table)
		return tb.Route(pfx)
	}

	t.Run("a best path is installed into the propagated main table only", func(t *testing.T) {
		v, rs, custom, eniA, _ := setup(t)
		rs.install(best(active))
		got, ok := routeIn(v, v.MainTableID())
		want := Route{Destination: pfx, NetworkInterface: eniA, IPAddress: "127.0.0.10", Origin: OriginAdvertisement, State: StateActive}
		if !ok || got != want {
			t.Errorf("main table route = %+v (found %v), want %+v", got, ok, want)
		}
		if r, ok := routeIn(v, custom); ok {
			t.Errorf("custom table without propagation got %+v", r)
		}
	})
	t.Run("a new best path replaces the route's target", func(t *testing.T) {
		v, rs, _, _, eniB := setup(t)
		rs.install(best(active))
		rs.install(best(standby))
		if got, _ := routeIn(v, v.MainTableID()); got.NetworkInterface != eniB || got.IPAddress != "127.0.0.11" {
			t.Errorf("main table route = %+v, want the standby's ENI %s", got, eniB)
		}
	})
	t.Run("a withdrawn prefix is removed", func(t *testing.T) {
		v, rs, _, _, _ := setup(t)
		rs.install(best(active))
		rs.install(nil)
		if r, ok := routeIn(v, v.MainTableID()); ok {
			t.Errorf("route still installed after withdrawal: %+v", r)
		}
	})
	t.Run("a static route of another origin is left alone", func(t *testing.T) {
		v, rs, _, eniA, eniB := setup(t)
		static := Route{Destination: pfx, NetworkInterface: eniB}
		if err := v.PutRoute(v.MainTableID(), static); err != nil {
			t.Fatal(err)
		}
		rs.install(best(active))
		rs.install(nil)
		got, ok := routeIn(v, v.MainTableID())
		if !ok || got.Origin != OriginCreateRoute || got.NetworkInterface != eniB {
			t.Errorf("static route = %+v (found %v), want the CreateRoute route to %s untouched (not %s)", got, ok, eniB, eniA)
		}
	})
	t.Run("enabling propagation later installs there, disabling removes", func(t *testing.T) {
		v, rs, custom, _, _ := setup(t)
		rs.install(best(active))
		if err := v.EnablePropagation(rs.ID(), custom); err != nil {
			t.Fatal(err)
		}
		rs.install(best(active))
		if _, ok := routeIn(v, custom); !ok {
			t.Fatal("route not installed after propagation was enabled")
		}
		if err := v.DisablePropagation(rs.ID(), custom); err != nil {
			t.Fatal(err)
		}
		rs.install(best(active))
		if r, ok := routeIn(v, custom); ok {
			t.Errorf("route %+v stayed after propagation was disabled", r)
		}
		if _, ok := routeIn(v, v.MainTableID()); !ok {
			t.Error("main table lost its route")
		}
	})
	t.Run("a next hop no ENI owns installs nothing", func(t *testing.T) {
		v, rs, _, _, _ := setup(t)
		rs.install(best(netip.MustParseAddr("127.0.0.99")))
		if r, ok := routeIn(v, v.MainTableID()); ok {
			t.Errorf("installed %+v for an unknown next hop", r)
		}
	})
}

func TestNewRouteServerRefusesNonLoopback(t *testing.T) {
	v := NewVPC(testVPCID, netip.MustParsePrefix("10.0.0.0/16"))
	tests := []struct {
		name string
		cfg  RouteServerConfig
	}{
		{"an endpoint outside 127.0.0.0/8", RouteServerConfig{Endpoints: []netip.Addr{netip.MustParseAddr("10.0.1.230")}, Port: 10179}},
		{"a peer outside 127.0.0.0/8", RouteServerConfig{Endpoints: []netip.Addr{netip.MustParseAddr("127.0.0.230")}, Port: 10179,
			Peers: []RouteServerPeerConfig{{Address: netip.MustParseAddr("10.0.1.10"), ASN: 65010}}}},
		{"a BFD peer without a BFD port", RouteServerConfig{Endpoints: []netip.Addr{netip.MustParseAddr("127.0.0.230")}, Port: 10179,
			Peers: []RouteServerPeerConfig{{Address: netip.MustParseAddr("127.0.0.10"), ASN: 65010, BFD: true}}}},
		{"no port", RouteServerConfig{Endpoints: []netip.Addr{netip.MustParseAddr("127.0.0.230")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			if _, err := NewRouteServer(v, tt.cfg); err == nil {
				t.Error("NewRouteServer accepted it")
			}
		})
	}
}
