package netns

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFRRAndBIRDOverIPv6WithStaticBFD covers what the first interop test
// does not: BGP over IPv6 (global next hops beside link-local ones), and BFD
// sessions that belong to no BGP session (static bfdd peer, BIRD BFD
// neighbor), which is how the BFD package tests against the real daemons.
func TestFRRAndBIRDOverIPv6WithStaticBFD(t *testing.T) {
	t.Parallel()
	Require(t, append(append(FRRBinaries(), BIRDBinaries()...), "ip")...)
	var (
		frr6  = netip.MustParseAddr("2001:db8:5::1")
		bird6 = netip.MustParseAddr("2001:db8:5::2")
		frr4  = netip.MustParseAddr("198.51.100.17")
		bird4 = netip.MustParseAddr("198.51.100.18")
		fromB = netip.MustParsePrefix("2001:db8:100::/48")
		fromF = netip.MustParsePrefix("2001:db8:200::/48")
		dirs  []string
	)
	t.Run("BGP over IPv6 and a static BFD session come up", func(t *testing.T) {
		a, b := New(t), New(t)
		aIf, bIf := Link(t, a, b, netip.PrefixFrom(frr4, 30), netip.PrefixFrom(bird4, 30))
		a.AddAddr(t, aIf, netip.PrefixFrom(frr6, 64))
		b.AddAddr(t, bIf, netip.PrefixFrom(bird6, 64))
		frr := StartFRR(t, a, FRRConfig{
			ASN: frrASN, RouterID: frr4,
			Neighbors: []FRRNeighbor{{Addr: bird6, ASN: birdASN, HoldTime: 9}},
			BFDPeers:  []FRRBFDPeer{{Peer: bird4, Local: frr4, Iface: aIf, RxMs: 100, TxMs: 100, Mult: 3}},
			Extra: "route-map RSA-MED permit 10\n set metric 70\nexit\n" +
				"router bgp 65000\n address-family ipv6 unicast\n  network " + fromF.String() + " route-map RSA-MED\n exit-address-family\nexit\n",
		})
		bird := StartBIRD(t, b, BIRDConfig{
			ASN: birdASN, RouterID: bird4,
			Neighbors:    []BIRDNeighbor{{Addr: frr6, LocalAddr: bird6, ASN: frrASN, Passive: true, HoldTime: 9, Export: `where proto = "s6"`}},
			BFDInterface: bIf, BFDIntervalMs: 100, BFDMult: 3, BFDNeighbors: []netip.Addr{frr4},
			Extra: "protocol static s6 { ipv6; route " + fromB.String() + " blackhole; }\n",
		})
		dirs = append(dirs, frr.Dir(), bird.Dir())

		WaitFor(t, 30*time.Second, "BIRD's IPv6 route in FRR", func() error {
			routes, err := frr.Routes()
			if err != nil {
				return err
			}
			r, ok := routes[fromB]
			if !ok || r.NextHop != bird6 || !slices.Equal(r.ASPath, []uint32{birdASN}) {
				return fmt.Errorf("route %v (present %v): want next hop %s, AS path [%d]", r, ok, bird6, birdASN)
			}
			return nil
		})
		WaitFor(t, 10*time.Second, "FRR's IPv6 route in BIRD", func() error {
			routes, err := bird.Routes()
			if err != nil {
				return err
			}
			r, ok := routes[fromF]
			if !ok || r.NextHop != frr6 || r.MED != 70 || !slices.Equal(r.ASPath, []uint32{frrASN}) {
				return fmt.Errorf("route %v (present %v): want next hop %s, MED 70, AS path [%d]", r, ok, frr6, frrASN)
			}
			return nil
		})
		WaitFor(t, 15*time.Second, "the static BFD session Up on both sides", func() error {
			fp, err := frr.BFDPeers()
			if err != nil {
				return err
			}
			bp, err := bird.BFDSessions()
			if err != nil {
				return err
			}
			if len(fp) != 1 || fp[0].State != "Up" || fp[0].Peer != bird4 || len(bp) != 1 || bp[0].State != "Up" || bp[0].Peer != frr4 {
				return fmt.Errorf("FRR %+v, BIRD %+v", fp, bp)
			}
			return nil
		})
		if *capture {
			for name, get := range map[string]func() (string, error){
				"frr/show_bgp_ipv6_unicast.json": func() (string, error) { return frr.Vtysh("show bgp ipv6 unicast json") },
				"bird/show_route_all_v6.txt":     func() (string, error) { return bird.Birdc("show route all") },
			} {
				out, err := get()
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join("testdata", name), []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
	if len(dirs) != 2 {
		t.Fatalf("subtest recorded %d state directories, want 2", len(dirs))
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("state directory %s still exists (%v)", d, err)
		}
	}
}

// TestFRRBfddOnlyAgainstBIRDStaticBFD is the setup the BFD package uses: no
// BGP anywhere, only bfdd (FRR with ASN 0) and a static BIRD BFD neighbor.
func TestFRRBfddOnlyAgainstBIRDStaticBFD(t *testing.T) {
	t.Parallel()
	Require(t, append(append(FRRBinaries(), BIRDBinaries()...), "ip")...)
	frr4, bird4 := netip.MustParseAddr("198.51.100.21"), netip.MustParseAddr("198.51.100.22")
	a, b := New(t), New(t)
	aIf, bIf := Link(t, a, b, netip.PrefixFrom(frr4, 30), netip.PrefixFrom(bird4, 30))
	frr := StartFRR(t, a, FRRConfig{
		BFDPeers: []FRRBFDPeer{{Peer: bird4, Local: frr4, Iface: aIf, RxMs: 200, TxMs: 200, Mult: 5, Passive: true}},
	})
	bird := StartBIRD(t, b, BIRDConfig{
		RouterID: bird4, BFDInterface: bIf, BFDIntervalMs: 200, BFDMult: 5, BFDNeighbors: []netip.Addr{frr4},
	})
	WaitFor(t, 15*time.Second, "the static BFD session Up on both sides", func() error {
		fp, err := frr.BFDPeers()
		if err != nil {
			return err
		}
		bp, err := bird.BFDSessions()
		if err != nil {
			return err
		}
		if len(fp) != 1 || fp[0].State != "Up" || fp[0].RemoteMult != 5 || len(bp) != 1 || bp[0].State != "Up" || bp[0].DetectTime != time.Second {
			return fmt.Errorf("FRR %+v, BIRD %+v", fp, bp)
		}
		return nil
	})
	if out, err := frr.Vtysh("show running-config"); err != nil || strings.Contains(out, "router bgp") {
		t.Errorf("FRR with ASN 0 runs BGP or does not answer: %v\n%s", err, out)
	}
}
