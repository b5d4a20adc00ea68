package netns

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func readSample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	return string(b)
}

func TestEverySampleIsCoveredByAParserTest(t *testing.T) {
	covered := map[string]bool{
		"frr/show_bgp_ipv4_unicast.json": true, "frr/show_bgp_ipv4_unicast_down.json": true,
		"frr/show_bfd_peers.json": true, "frr/show_bfd_peers_down.json": true,
		"frr/show_bgp_neighbors.json": true, "frr/show_bgp_neighbors_down.json": true,
		"bird/show_route_all.txt": true, "bird/show_route_all_down.txt": true,
		"bird/show_route_all_two_paths_v6.txt": true, "bird/show_route_all_v6.txt": true,
		"frr/show_bgp_ipv6_unicast.json": true,
		"bird/show_bfd_sessions.txt":     true, "bird/show_bfd_sessions_down.txt": true,
		"bird/show_protocols_all_bgp.txt": true, "bird/show_protocols_all_bgp_down.txt": true,
	}
	var found int
	for _, dir := range []string{"frr", "bird"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			found++
			rel, _ := filepath.Rel("testdata", f)
			if !covered[filepath.ToSlash(rel)] {
				t.Errorf("sample %s is not parsed by any test", rel)
			}
		}
	}
	if found != len(covered) {
		t.Errorf("found %d samples under testdata/, want %d", found, len(covered))
	}
}

func TestParseFRRNeighborState(t *testing.T) {
	peer := netip.MustParseAddr("198.51.100.2")
	tests := []struct {
		name, sample, want string
	}{
		{"an established session reads Established", "frr/show_bgp_neighbors.json", "Established"},
		{"a session dropped by BFD reads Idle", "frr/show_bgp_neighbors_down.json", "Idle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFRRNeighborState(readSample(t, tt.sample), peer)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("state = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("an unknown neighbor is an error", func(t *testing.T) {
		if _, err := parseFRRNeighborState(`{"bgpNoSuchNeighbor":true}`, peer); err == nil {
			t.Error("no error")
		}
	})
}

func TestParseFRRRoutes(t *testing.T) {
	learned := Route{
		Prefix: netip.MustParsePrefix("203.0.113.0/24"), NextHop: netip.MustParseAddr("198.51.100.2"),
		ASPath: []uint32{65010}, Origin: "IGP", From: netip.MustParseAddr("198.51.100.2"),
	}
	local := Route{
		Prefix: netip.MustParsePrefix("203.0.113.128/25"), NextHop: netip.MustParseAddr("0.0.0.0"),
		MED: 50, HasMED: true, Origin: "IGP",
	}
	tests := []struct {
		name, sample string
		want         map[netip.Prefix]Route
	}{
		{"a learned and a local route are both read", "frr/show_bgp_ipv4_unicast.json",
			map[netip.Prefix]Route{learned.Prefix: learned, local.Prefix: local}},
		{"the learned route is gone after BGP dropped", "frr/show_bgp_ipv4_unicast_down.json",
			map[netip.Prefix]Route{local.Prefix: local}},
		{"an empty table is no routes", "", map[netip.Prefix]Route{}},
		{"an IPv6 route takes the global next hop, not the link-local one FRR uses", "frr/show_bgp_ipv6_unicast.json", map[netip.Prefix]Route{
			netip.MustParsePrefix("2001:db8:100::/48"): {Prefix: netip.MustParsePrefix("2001:db8:100::/48"), NextHop: netip.MustParseAddr("2001:db8:5::2"),
				ASPath: []uint32{65010}, Origin: "IGP", From: netip.MustParseAddr("2001:db8:5::2")},
			netip.MustParsePrefix("2001:db8:200::/48"): {Prefix: netip.MustParsePrefix("2001:db8:200::/48"), NextHop: netip.MustParseAddr("::"),
				MED: 70, HasMED: true, Origin: "IGP"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ""
			if tt.sample != "" {
				in = readSample(t, tt.sample)
			}
			got := map[netip.Prefix]Route{}
			if err := parseFRRRoutes(in, got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("routes\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	t.Run("the best path wins over an earlier valid one, in either bestpath form", func(t *testing.T) {
		for _, best := range []string{`true`, `{"overall":true}`} {
			in := `{"routes":{"203.0.113.10/32":[
				{"valid":true,"path":"65010 65010","metric":1000,"peerId":"198.51.100.5","nexthops":[{"ip":"198.51.100.5"}]},
				{"valid":true,"bestpath":` + best + `,"path":"65010","metric":0,"peerId":"198.51.100.1","nexthops":[{"ip":"198.51.100.1"}]}]}}`
			got := map[netip.Prefix]Route{}
			if err := parseFRRRoutes(in, got); err != nil {
				t.Fatal(err)
			}
			r := got[netip.MustParsePrefix("203.0.113.10/32")]
			if r.NextHop != netip.MustParseAddr("198.51.100.1") || !r.HasMED || r.MED != 0 {
				t.Errorf("bestpath %s: got %+v, want the path via 198.51.100.1 with MED 0", best, r)
			}
		}
	})
}

func TestParseFRRBFDPeers(t *testing.T) {
	tests := []struct {
		name, sample string
		want         BFDPeer
	}{
		{"an up session has its own and the remote timers", "frr/show_bfd_peers.json", BFDPeer{
			State: "Up", Diag: "ok", RxMs: 100, TxMs: 100, Mult: 3, RemoteRxMs: 100, RemoteTxMs: 100, RemoteMult: 3,
			DetectTime: 300 * time.Millisecond,
		}},
		{"a dropped session is Down with detection time expired", "frr/show_bfd_peers_down.json", BFDPeer{
			State: "Down", Diag: "control detection time expired", RxMs: 100, TxMs: 100, Mult: 3,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peers, err := parseFRRBFDPeers(readSample(t, tt.sample))
			if err != nil {
				t.Fatal(err)
			}
			if len(peers) != 1 {
				t.Fatalf("got %d peers, want 1", len(peers))
			}
			p := peers[0]
			if p.Peer != netip.MustParseAddr("198.51.100.2") || p.Local != netip.MustParseAddr("198.51.100.1") || p.Interface != "eth0" {
				t.Errorf("addresses %s/%s/%s, want 198.51.100.2 from 198.51.100.1 on eth0", p.Peer, p.Local, p.Interface)
			}
			if p.State != tt.want.State || p.Diag != tt.want.Diag || p.RxMs != tt.want.RxMs || p.TxMs != tt.want.TxMs ||
				p.Mult != tt.want.Mult || p.DetectTime != tt.want.DetectTime {
				t.Errorf("got %+v, want %+v", p, tt.want)
			}
			if tt.want.State == "Up" && (p.RemoteRxMs != 100 || p.RemoteTxMs != 100 || p.RemoteMult != 3 || p.Uptime <= 0) {
				t.Errorf("remote timers/uptime %+v, want 100/100/3 and a positive uptime", p)
			}
		})
	}
}

func TestParseBIRDProtocolState(t *testing.T) {
	tests := []struct {
		name, sample, want string
	}{
		{"an established session reads Established", "bird/show_protocols_all_bgp.txt", "Established"},
		{"a session dropped by BFD reads Idle", "bird/show_protocols_all_bgp_down.txt", "Idle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBIRDProtocolState(readSample(t, tt.sample))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("state = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("an unknown protocol is an error", func(t *testing.T) {
		if _, err := parseBIRDProtocolState("syntax error, unexpected CF_SYM_UNDEFINED\n"); err == nil {
			t.Error("no error")
		}
	})
}

func TestParseBIRDRoutes(t *testing.T) {
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	tests := []struct {
		name, sample string
		want         map[netip.Prefix]Route
	}{
		{"a BGP route has next hop, AS path and MED, and a static one is listed too", "bird/show_route_all.txt", map[netip.Prefix]Route{
			pfx("203.0.113.128/25"): {Prefix: pfx("203.0.113.128/25"), NextHop: addr("198.51.100.1"), MED: 50, HasMED: true,
				LocalPref: 100, ASPath: []uint32{65000}, Origin: "IGP", Protocol: "bgp_198_51_100_1"},
			pfx("203.0.113.0/24"): {Prefix: pfx("203.0.113.0/24"), Protocol: "s4"},
		}},
		{"only the static route is left after BGP dropped", "bird/show_route_all_down.txt", map[netip.Prefix]Route{
			pfx("203.0.113.0/24"): {Prefix: pfx("203.0.113.0/24"), Protocol: "s4"},
		}},
		{"an IPv6 BGP route takes the global of the two next hops", "bird/show_route_all_v6.txt", map[netip.Prefix]Route{
			pfx("2001:db8:200::/48"): {Prefix: pfx("2001:db8:200::/48"), NextHop: addr("2001:db8:5::1"), MED: 70, HasMED: true,
				LocalPref: 100, ASPath: []uint32{65000}, Origin: "IGP", Protocol: "bgp_2001_db8_5__1"},
			pfx("2001:db8:100::/48"): {Prefix: pfx("2001:db8:100::/48"), Protocol: "s6"},
		}},
		{"the preferred of two paths wins, empty AS paths and IPv6 next hops parse", "bird/show_route_all_two_paths_v6.txt", map[netip.Prefix]Route{
			pfx("203.0.113.10/32"): {Prefix: pfx("203.0.113.10/32"), NextHop: addr("198.51.100.1"), HasMED: true,
				LocalPref: 100, ASPath: []uint32{65010}, Origin: "IGP", Protocol: "bgp_rs1"},
			pfx("203.0.113.20/32"): {Prefix: pfx("203.0.113.20/32"), NextHop: addr("198.51.100.1"),
				LocalPref: 100, Origin: "incomplete", Protocol: "bgp_rs1"},
			pfx("2001:db8:1::/48"): {Prefix: pfx("2001:db8:1::/48"), NextHop: addr("2001:db8::1"),
				LocalPref: 100, ASPath: []uint32{65010}, Origin: "IGP", Protocol: "bgp_rs6"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBIRDRoutes(readSample(t, tt.sample))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("routes\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseBIRDBFDSessions(t *testing.T) {
	tests := []struct {
		name, sample string
		want         BFDPeer
	}{
		{"an up session has the negotiated interval and detection time", "bird/show_bfd_sessions.txt", BFDPeer{
			Peer: netip.MustParseAddr("198.51.100.1"), Interface: "eth0", State: "Up", TxMs: 100, DetectTime: 300 * time.Millisecond,
		}},
		{"a dropped session is Down and back at the 1 s interval", "bird/show_bfd_sessions_down.txt", BFDPeer{
			Peer: netip.MustParseAddr("198.51.100.1"), Interface: "eth0", State: "Down", TxMs: 1000,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBIRDBFDSessions(readSample(t, tt.sample))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("sessions %+v, want [%+v]", got, tt.want)
			}
		})
	}
}
