package interop

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/netns"
)

// bfdConfig: BFD at 100 ms x 3 on a session whose hold time (9 s) would
// otherwise take 30x longer to notice a dead path.
var bfdConfig = fmt.Sprintf(`
bgp:
  asn: %d
  local_address: %s
  grpc_listen: ""
  peers:
    - address: %s
      asn: %d
      hold_time: 9s
      connect_retry: 1s
      bfd: {enabled: true, min_tx: 100ms, min_rx: 100ms, multiplier: 3}
services:
  - name: voice
    prefixes: [%s]
http:
  listen: %s
`, agentASN, agentAddr, peerAddr, peerASN, voicePrefix, httpListen)

// TestBFDResetsBGPWithFRR: FRR's bgpd with `neighbor … bfd` (bfdd) as the
// Route Server stand-in.
func TestBFDResetsBGPWithFRR(t *testing.T) {
	netns.Require(t, append(netns.FRRBinaries(), "nft")...)
	t.Parallel()
	agentNS, peerNS, agentIf, _ := linkAgentAndPeer(t)
	frr := netns.StartFRR(t, peerNS, netns.FRRConfig{
		ASN: peerASN, RouterID: peerAddr, ListenAddr: peerAddr,
		Neighbors: []netns.FRRNeighbor{{Addr: agentAddr, ASN: agentASN, Passive: true,
			BFD: true, BFDRxMs: 100, BFDTxMs: 100, BFDMult: 3}},
		// FRR 8.4's bgpd re-registers its BFD session once BGP is up (it
		// learns the source address and interface then): bfdd deletes the
		// first session, and bgpd itself sends Cease/BFD-Down. update-source
		// removes one of the two re-registrations; the scenario waits for
		// FRR to settle before it counts.
		BGPExtra: fmt.Sprintf(" neighbor %s update-source %s\n", agentAddr, peerAddr),
	})
	runBFDScenario(t, agentNS, agentIf, frrPeer{frr}, func() (int, error) {
		peers, err := frr.BFDPeers()
		if err != nil {
			return 0, err
		}
		for _, p := range peers {
			if p.Peer == agentAddr {
				if p.State != "Up" {
					return 0, fmt.Errorf("FRR BFD peer is %s", p.State)
				}
				return p.RemoteTxMs, nil
			}
		}
		return 0, fmt.Errorf("FRR has no BFD peer %s: %+v", agentAddr, peers)
	})
}

// TestBFDResetsBGPWithBIRD: BIRD 2 with `bfd on`.
func TestBFDResetsBGPWithBIRD(t *testing.T) {
	netns.Require(t, append(netns.BIRDBinaries(), "nft")...)
	t.Parallel()
	agentNS, peerNS, agentIf, peerIf := linkAgentAndPeer(t)
	bird := netns.StartBIRD(t, peerNS, netns.BIRDConfig{
		ASN: peerASN, RouterID: peerAddr, BFDInterface: peerIf, BFDIntervalMs: 100, BFDMult: 3,
		Neighbors: []netns.BIRDNeighbor{{Addr: agentAddr, ASN: agentASN, Passive: true, BFD: true}},
	})
	runBFDScenario(t, agentNS, agentIf, birdPeer{bird}, func() (int, error) {
		sessions, err := bird.BFDSessions()
		if err != nil {
			return 0, err
		}
		for _, s := range sessions {
			if s.Peer == agentAddr {
				if s.State != "Up" {
					return 0, fmt.Errorf("BIRD BFD session is %s", s.State)
				}
				return -1, nil // BIRD does not show the peer's timers
			}
		}
		return 0, fmt.Errorf("BIRD has no BFD session %s: %+v", agentAddr, sessions)
	})
}

// runBFDScenario: BFD Up with BGP; a both-way drop takes BFD down within
// the detection time and resets BGP at once; removing the drop brings both
// back within 5 s; a reload with new timers is negotiated by Poll/Final
// without a flap. peerBFD returns the peer's view of our TX interval in ms
// (-1 if the peer does not show it).
func runBFDScenario(t *testing.T, agentNS *netns.NS, agentIf string, peer routePeer, peerBFD func() (int, error)) {
	a := startAgent(t, agentNS, bfdConfig)
	peerLabel := fmt.Sprintf(`{peer="%s"}`, peerAddr)
	bfdUp := "rsagent_bfd_session_up" + peerLabel
	bgpUp := "rsagent_bgp_session_up" + peerLabel
	bfdDowns := fmt.Sprintf(`rsagent_bfd_session_transitions_total{peer="%s",to="down"}`, peerAddr)
	resets := fmt.Sprintf(`rsagent_bgp_peer_resets_total{peer="%s",reason="bfd_down"}`, peerAddr)
	var baseResets float64 // resets caused by the peer's own start-up, if any

	t.Run("BFD comes up beside BGP and the prefix reaches the peer", func(t *testing.T) {
		netns.WaitFor(t, 15*time.Second, "BGP Established", peer.Established)
		netns.WaitFor(t, 5*time.Second, "BFD Up on both sides", func() error {
			if a.metric(bfdUp) != 1 {
				return fmt.Errorf("our BFD is not up")
			}
			_, err := peerBFD()
			return err
		})
		waitRoute(t, peer, voicePrefix, 10*time.Second, "voice at the peer", present)
		st := a.status()
		if b := st.Peers[0].BFD; b == nil || b.State != "up" || b.DetectTimeMs != 300 || b.TxIntervalMs != 100 {
			t.Errorf("status shows BFD %+v; want up, detect 300ms, tx 100ms", b)
		}
		// FRR Polls right after Up; a session that does not answer with
		// Final would keep flapping. Settled = 3 s without a BFD down.
		settled := time.Now()
		last := a.metric(bfdDowns)
		netns.WaitFor(t, 20*time.Second, "BFD to stay up for 3 s", func() error {
			if v := a.metric(bfdDowns); v != last {
				last, settled = v, time.Now()
			}
			if a.metric(bfdUp) != 1 || a.metric(bgpUp) != 1 {
				settled = time.Now()
			}
			if d := time.Since(settled); d < 3*time.Second {
				return fmt.Errorf("stable for %v", d.Round(time.Millisecond))
			}
			return nil
		})
		if last > 1 {
			t.Errorf("BFD went down %v times while settling (FRR's re-registration explains at most 1)", last)
		}
		baseResets = a.metric(resets)
		waitRoute(t, peer, voicePrefix, 10*time.Second, "voice at the peer after settling", present)
	})

	t.Run("a both-way drop takes BFD down and resets BGP at once, and both recover within 5s", func(t *testing.T) {
		start := time.Now()
		agentNS.DropAll(t, agentIf)
		var bfdDown time.Duration
		netns.WaitFor(t, 3*time.Second, "our BFD to go down", func() error {
			if a.metric(bfdUp) != 0 {
				return fmt.Errorf("still up")
			}
			bfdDown = time.Since(start)
			return nil
		})
		netns.WaitFor(t, time.Second, "the BGP reset", func() error {
			if a.metric(bgpUp) != 0 || a.metric(resets) != baseResets+1 {
				return fmt.Errorf("bgp_session_up %v, resets %v", a.metric(bgpUp), a.metric(resets))
			}
			return nil
		})
		bgpDown := time.Since(start)
		t.Logf("drop -> our BFD down seen after %v (detect 300ms + polling), BGP reset after %v (hold time 9s)",
			bfdDown.Round(time.Millisecond), bgpDown.Round(time.Millisecond))
		if bgpDown > 2*time.Second {
			t.Errorf("BGP went down %v after the drop: BFD did not reset it", bgpDown)
		}
		if st := a.status(); st.Peers[0].LastBFDReset == "" || st.Peers[0].BFD.LocalDiag != "control_detection_time_expired" {
			t.Errorf("status does not record the BFD reset: %+v %+v", st.Peers[0], st.Peers[0].BFD)
		}
		waitRoute(t, peer, voicePrefix, 10*time.Second, "voice gone at the peer", absent)

		agentNS.Undrop(t)
		healed := time.Now()
		netns.WaitFor(t, 5*time.Second, "BFD Up and BGP Established again", func() error {
			if a.metric(bfdUp) != 1 || a.metric(bgpUp) != 1 {
				return fmt.Errorf("bfd up %v, bgp up %v", a.metric(bfdUp), a.metric(bgpUp))
			}
			return peer.Established()
		})
		t.Logf("drop removed -> BFD Up and BGP Established after %v (goal <= 5s)", time.Since(healed).Round(time.Millisecond))
		waitRoute(t, peer, voicePrefix, 5*time.Second, "voice back at the peer", present)
	})

	t.Run("the next session is not killed by a stale reset", func(t *testing.T) {
		time.Sleep(2 * time.Second) // observation window
		if v := a.metric(resets) - baseResets; v != 1 {
			t.Fatalf("BGP was reset %v times by the drop, want exactly 1", v)
		}
		if err := peer.Established(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a reload with new BFD timers negotiates them without a flap", func(t *testing.T) {
		downsBefore := a.metric(bfdDowns)
		a.writeConfig(strings.Replace(bfdConfig, "min_tx: 100ms", "min_tx: 200ms", 1))
		a.signal(syscall.SIGHUP)
		netns.WaitFor(t, 5*time.Second, "the new TX interval", func() error {
			st := a.status()
			if b := st.Peers[0].BFD; b == nil || b.TxIntervalMs != 200 {
				return fmt.Errorf("our TX interval is %+v", b)
			}
			ms, err := peerBFD()
			if err != nil {
				return err
			}
			if ms >= 0 && ms != 200 {
				return fmt.Errorf("the peer sees our TX as %d ms", ms)
			}
			return nil
		})
		time.Sleep(time.Second) // observation window
		if v := a.metric(bfdDowns); v != downsBefore {
			t.Fatalf("the timer change flapped BFD (%v -> %v downs)", downsBefore, v)
		}
		if v := a.metric(resets) - baseResets; v != 1 {
			t.Fatalf("the timer change reset BGP (%v resets since settling)", v)
		}
	})
}

// TestBFDStrictHoldsBGPDown: with bfd.strict and a peer that runs no BFD,
// the BGP session must never come up; without strict it does (FRR #4133:
// BFD that never came Up does not hold BGP down by default).
func TestBFDStrictHoldsBGPDown(t *testing.T) {
	netns.Require(t, append(netns.BIRDBinaries(), "nft")...)
	t.Parallel()
	agentNS, peerNS, _, _ := linkAgentAndPeer(t)
	bird := birdPeer{netns.StartBIRD(t, peerNS, netns.BIRDConfig{
		ASN: peerASN, RouterID: peerAddr,
		Neighbors: []netns.BIRDNeighbor{{Addr: agentAddr, ASN: agentASN, Passive: true}},
	})}
	strict := strings.Replace(bfdConfig, "services:", "bfd: {strict: true}\nservices:", 1)
	a := startAgent(t, agentNS, strict)
	netns.WaitFor(t, 10*time.Second, "status to show the hold", func() error {
		if st := a.status(); st.Peers[0].HeldDown == "" {
			return fmt.Errorf("peer not held: %+v", st.Peers[0])
		}
		return nil
	})
	time.Sleep(4 * time.Second) // observation window: the connect retry is 1s
	if err := bird.Established(); err == nil {
		t.Fatal("BGP came up under bfd.strict although BFD never did")
	}
	if v := a.metric(fmt.Sprintf(`rsagent_bgp_session_transitions_total{peer="%s",to="established"}`, peerAddr)); v != 0 {
		t.Fatalf("BGP was established %v times under bfd.strict", v)
	}

	// The same config without strict: BGP comes up although BFD never does.
	a.signal(syscall.SIGTERM)
	if err := a.proc.Wait(10 * time.Second); err != nil {
		t.Fatalf("rsagent did not exit: %v", err)
	}
	startAgent(t, agentNS, bfdConfig)
	netns.WaitFor(t, 15*time.Second, "BGP Established without strict", bird.Established)
}
