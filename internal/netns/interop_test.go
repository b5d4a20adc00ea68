package netns

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var capture = flag.Bool("capture", false, "rewrite testdata/ with output captured from the real FRR and BIRD")

var (
	frrAddr  = netip.MustParseAddr("198.51.100.1")
	birdAddr = netip.MustParseAddr("198.51.100.2")
	birdPfx  = netip.MustParsePrefix("203.0.113.0/24")
	frrPfx   = netip.MustParsePrefix("203.0.113.128/25")
)

const (
	frrASN  = 65000
	birdASN = 65010
)

// TestFRRAndBIRD proves the harness end to end with two real peers: FRR in
// one namespace, BIRD in another, eBGP with BFD at 100 ms × 3 over a veth,
// failure injected with nft, and nothing left behind afterwards.
func TestFRRAndBIRD(t *testing.T) {
	t.Parallel()
	Require(t, append(append(FRRBinaries(), BIRDBinaries()...), "ip", "nft")...)
	var names []string
	var pids []int
	t.Run("peer with BFD, lose both under a drop and recover after it", func(t *testing.T) {
		a, b := New(t), New(t)
		names = append(names, a.Name, b.Name)
		aIf, bIf := Link(t, a, b, netip.PrefixFrom(frrAddr, 30), netip.PrefixFrom(birdAddr, 30))

		frr := StartFRR(t, a, FRRConfig{
			ASN: frrASN, RouterID: frrAddr, ListenAddr: frrAddr,
			Neighbors: []FRRNeighbor{{
				Addr: birdAddr, ASN: birdASN, Passive: true, HoldTime: 9,
				BFD: true, BFDRxMs: 100, BFDTxMs: 100, BFDMult: 3,
			}},
			BGPExtra: " network " + frrPfx.String() + " route-map RSA-MED\n",
			Extra:    "route-map RSA-MED permit 10\n set metric 50\nexit\n",
		})
		bird := StartBIRD(t, b, BIRDConfig{
			ASN: birdASN, RouterID: birdAddr,
			Neighbors: []BIRDNeighbor{{
				Addr: frrAddr, LocalAddr: birdAddr, ASN: frrASN, BFD: true, HoldTime: 9,
				Export: `where proto = "s4"`,
			}},
			BFDInterface: bIf, BFDIntervalMs: 100, BFDMult: 3,
			Extra: "protocol static s4 { ipv4; route " + birdPfx.String() + " blackhole; }\n",
		})
		for _, p := range frr.procs {
			pids = append(pids, p.Pid())
		}
		pids = append(pids, bird.proc.Pid())
		birdProto := BIRDProtocolName(frrAddr)

		waitBGP(t, frr, bird, birdProto, true, 30*time.Second)
		WaitFor(t, 10*time.Second, "BIRD's route in FRR", func() error {
			routes, err := frr.Routes()
			if err != nil {
				return err
			}
			r, ok := routes[birdPfx]
			if !ok {
				return fmt.Errorf("no %s in %v", birdPfx, routes)
			}
			if r.NextHop != birdAddr || !slices.Equal(r.ASPath, []uint32{birdASN}) || r.From != birdAddr {
				return fmt.Errorf("route %+v: want next hop %s, AS path [%d], from %s", r, birdAddr, birdASN, birdAddr)
			}
			return nil
		})
		WaitFor(t, 10*time.Second, "FRR's route in BIRD with MED 50", func() error {
			routes, err := bird.Routes()
			if err != nil {
				return err
			}
			r, ok := routes[frrPfx]
			if !ok {
				return fmt.Errorf("no %s in %v", frrPfx, routes)
			}
			if r.NextHop != frrAddr || !slices.Equal(r.ASPath, []uint32{frrASN}) || !r.HasMED || r.MED != 50 || r.Protocol != birdProto {
				return fmt.Errorf("route %+v: want next hop %s, AS path [%d], MED 50, protocol %s", r, frrAddr, frrASN, birdProto)
			}
			return nil
		})
		waitBFD(t, frr, bird, "Up", 15*time.Second)
		WaitFor(t, 5*time.Second, "FRR to see BIRD's 100 ms × 3 timers", func() error {
			peers, err := frr.BFDPeers()
			if err != nil {
				return err
			}
			p := peers[0]
			if p.RemoteTxMs != 100 || p.RemoteRxMs != 100 || p.RemoteMult != 3 || p.Interface != aIf {
				return fmt.Errorf("FRR BFD peer %+v: want remote 100/100/3 on %s", p, aIf)
			}
			return nil
		})
		if *capture {
			captureSamples(t, frr, bird, "")
		}

		a.DropAll(t, aIf)
		waitBFD(t, frr, bird, "Down", 5*time.Second)
		waitBGP(t, frr, bird, birdProto, false, 10*time.Second)
		if *capture {
			captureSamples(t, frr, bird, "_down")
		}

		a.Undrop(t)
		waitBFD(t, frr, bird, "Up", 30*time.Second)
		waitBGP(t, frr, bird, birdProto, true, 30*time.Second)
	})
	assertGone(t, names[0], pids...)
	assertGone(t, names[1])
}

// waitBGP waits until both sides are Established (up) or neither is.
func waitBGP(t *testing.T, frr *FRR, bird *BIRD, birdProto string, up bool, timeout time.Duration) {
	t.Helper()
	WaitFor(t, timeout, fmt.Sprintf("BGP established=%v on both sides", up), func() error {
		fs, err := frr.NeighborState(birdAddr)
		if err != nil {
			return err
		}
		bs, err := bird.ProtocolState(birdProto)
		if err != nil {
			return err
		}
		if (fs == "Established") != up || (bs == "Established") != up {
			return fmt.Errorf("FRR %s, BIRD %s", fs, bs)
		}
		return nil
	})
}

// waitBFD waits until both sides report the session in state ("Down" also
// accepts Init: after a drop a side may be trying again).
func waitBFD(t *testing.T, frr *FRR, bird *BIRD, state string, timeout time.Duration) {
	t.Helper()
	match := func(s string) bool { return s == state || (state == "Down" && s == "Init") }
	WaitFor(t, timeout, "BFD "+state+" on both sides", func() error {
		fp, err := frr.BFDPeers()
		if err != nil {
			return err
		}
		bp, err := bird.BFDSessions()
		if err != nil {
			return err
		}
		if len(fp) != 1 || len(bp) != 1 {
			return fmt.Errorf("want one session each, FRR %+v, BIRD %+v", fp, bp)
		}
		if !match(fp[0].State) || !match(bp[0].State) {
			return fmt.Errorf("FRR %s, BIRD %s", fp[0].State, bp[0].State)
		}
		return nil
	})
}

// captureSamples refreshes the parser fixtures from the live daemons.
func captureSamples(t *testing.T, frr *FRR, bird *BIRD, suffix string) {
	t.Helper()
	samples := map[string]func() (string, error){
		"frr/show_bgp_ipv4_unicast.json":  func() (string, error) { return frr.Vtysh("show bgp ipv4 unicast json") },
		"frr/show_bfd_peers.json":         func() (string, error) { return frr.Vtysh("show bfd peers json") },
		"frr/show_bgp_neighbors.json":     func() (string, error) { return frr.Vtysh("show bgp neighbors " + birdAddr.String() + " json") },
		"bird/show_route_all.txt":         func() (string, error) { return bird.Birdc("show route all") },
		"bird/show_bfd_sessions.txt":      func() (string, error) { return bird.Birdc("show bfd sessions") },
		"bird/show_protocols_all_bgp.txt": func() (string, error) { return bird.Birdc("show protocols all " + BIRDProtocolName(frrAddr)) },
	}
	for name, get := range samples {
		ext := filepath.Ext(name)
		name = strings.TrimSuffix(name, ext) + suffix + ext
		out, err := get()
		if err != nil {
			t.Fatalf("capture %s: %v", name, err)
		}
		path := filepath.Join("testdata", name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("captured %s", path)
	}
}
