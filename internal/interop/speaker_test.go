package interop

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/netns"
)

// Health timing of the speaker tests: the goals are stated in these.
const (
	interval     = time.Second
	fastInterval = 200 * time.Millisecond
	rise, fall   = 3, 3
)

// speakerConfig has two services: voice (withdrawn when unhealthy, MED 50)
// and vip, the standby member of an HA pair (AS path +2 while healthy, +6
// while unhealthy).
var speakerConfig = fmt.Sprintf(`
bgp:
  asn: %d
  local_address: %s
  grpc_listen: 127.0.0.1:%s
  peers:
    - address: %s
      asn: %d
      hold_time: 9s
services:
  - name: voice
    prefixes: [%s]
    med: 50
    maintenance_file: {{DIR}}/maintenance-voice
    health: &h
      interval: %s
      fast_interval: %s
      timeout: 150ms
      rise: %d
      fall: %d
      checks:
        - tcp: 127.0.0.1:5060
  - name: vip
    prefixes: [203.0.113.20/32]
    as_path_prepend: 2
    when_unhealthy: {as_path_prepend: 6}
    health:
      <<: *h
      checks:
        - tcp: 127.0.0.1:5061
http:
  listen: %s
  api_key_file: {{DIR}}/api-key
`, agentASN, agentAddr, grpcPort, peerAddr, peerASN, voicePrefix, interval, fastInterval, rise, fall, httpListen)

func TestSpeakerAgainstFRR(t *testing.T) {
	netns.Require(t, append(netns.FRRBinaries(), "promtool", netns.GoBGPv3CLI, "nft")...)
	t.Parallel()
	agentNS, peerNS, _, _ := linkAgentAndPeer(t)
	frr := netns.StartFRR(t, peerNS, netns.FRRConfig{
		ASN: peerASN, RouterID: peerAddr, ListenAddr: peerAddr,
		Neighbors: []netns.FRRNeighbor{{Addr: agentAddr, ASN: agentASN, Passive: true}},
		Extra:     "debug bgp updates\n",
	})
	runSpeakerScenario(t, agentNS, frrPeer{frr}, func() error {
		_, err := frr.Vtysh("clear bgp " + agentAddr.String())
		return err
	}, func(log string) (withdrawn, down int) {
		return logIndex(log, "203.0.113.10/32", "withdrawn"), logIndex(log, "Down")
	})
}

func TestSpeakerAgainstBIRD(t *testing.T) {
	netns.Require(t, append(netns.BIRDBinaries(), "promtool", netns.GoBGPv3CLI, "nft")...)
	t.Parallel()
	agentNS, peerNS, _, _ := linkAgentAndPeer(t)
	bird := netns.StartBIRD(t, peerNS, netns.BIRDConfig{
		ASN: peerASN, RouterID: peerAddr,
		Neighbors: []netns.BIRDNeighbor{{Addr: agentAddr, ASN: agentASN, Passive: true}},
	})
	proto := netns.BIRDProtocolName(agentAddr)
	if _, err := bird.Birdc("debug " + proto + " all"); err != nil {
		t.Fatalf("enable BIRD route debugging: %v", err)
	}
	runSpeakerScenario(t, agentNS, birdPeer{bird}, func() error {
		_, err := bird.Birdc("restart " + proto)
		return err
	}, func(log string) (withdrawn, down int) {
		return logIndex(log, "203.0.113.10/32", "removed"), logIndex(log, "State changed to stop")
	})
}

// logIndex returns the line number of the first line containing every word,
// or -1.
func logIndex(log string, words ...string) int {
	for i, line := range strings.Split(log, "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			return i
		}
	}
	return -1
}

func runSpeakerScenario(t *testing.T, agentNS *netns.NS, peer routePeer, resetFromPeer func() error, shutdownOrder func(log string) (withdrawn, down int)) {
	voiceTarget := newHealthTarget(t, agentNS, "127.0.0.1:5060")
	vipTarget := newHealthTarget(t, agentNS, "127.0.0.1:5061")
	a := startAgent(t, agentNS, speakerConfig)
	established := fmt.Sprintf(`rsagent_bgp_session_transitions_total{peer="%s",to="established"}`, peerAddr)
	noReset := func(t *testing.T, want float64) {
		t.Helper()
		if got := a.metric(established); got != want {
			t.Fatalf("the BGP session was reset: %s = %v, want %v", established, got, want)
		}
		if err := peer.Established(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("the agent initiates and the peer gets both prefixes with our next hop, MED and AS path", func(t *testing.T) {
		netns.WaitFor(t, 15*time.Second, "BGP Established at the peer", peer.Established)
		waitRoute(t, peer, voicePrefix, 10*time.Second, "voice at the peer", func(r *netns.Route) error {
			if err := present(r); err != nil {
				return err
			}
			if r.NextHop != agentAddr || r.MED != 50 || len(r.ASPath) != 1 || r.ASPath[0] != agentASN {
				return fmt.Errorf("got next hop %s MED %d AS path %v; want %s, 50, [%d]", r.NextHop, r.MED, r.ASPath, agentAddr, agentASN)
			}
			return nil
		})
		// The standby's prepend: 65010 65010 65010.
		waitRoute(t, peer, "203.0.113.20/32", 5*time.Second, "vip with a 3-AS path", pathLen(3))
		noReset(t, 1)
	})

	t.Run("both gobgp CLIs show the peer, its state and our prefix with its next hop", func(t *testing.T) {
		// Debian's 3.x CLI talks to the read-only v3 service, GoBGP's v4 CLI
		// to the embedded server's own API; both on the same port.
		v4 := netns.GoBGPv4CLI(t)
		for _, cli := range []string{netns.GoBGPv3CLI, v4} {
			gobgp := func(args ...string) string {
				t.Helper()
				out, err := agentNS.Exec(t.Context(), cli, append([]string{"-p", grpcPort}, args...)...)
				if err != nil {
					t.Fatalf("%s %s: %v\n%s", cli, strings.Join(args, " "), err, out)
				}
				return string(out)
			}
			for _, c := range []struct {
				args []string
				want []string
			}{
				{[]string{"neighbor"}, []string{peerAddr.String(), "Establ", strconv.Itoa(peerASN)}},
				{[]string{"neighbor", peerAddr.String()}, []string{"BGP neighbor is " + peerAddr.String(), "ESTABLISHED"}},
				{[]string{"global", "rib"}, []string{voicePrefix, agentAddr.String()}},
			} {
				out := gobgp(c.args...)
				for _, w := range c.want {
					if !strings.Contains(out, w) {
						t.Errorf("%s %s lacks %q:\n%s", cli, strings.Join(c.args, " "), w, out)
					}
				}
			}
		}
		out, err := agentNS.Exec(t.Context(), netns.GoBGPv3CLI, "-p", grpcPort, "neighbor", peerAddr.String(), "adj-out")
		if err != nil || !strings.Contains(string(out), voicePrefix) {
			t.Errorf("gobgp 3.x neighbor adj-out: %v\n%s", err, out)
		}
	})

	t.Run("a failed health target withdraws the prefix within fall x interval + 1s and restoring it re-announces", func(t *testing.T) {
		voiceTarget.Stop()
		took := waitRoute(t, peer, voicePrefix, 10*time.Second, "voice withdrawn", absent)
		goal := fall*interval + time.Second
		t.Logf("health fail -> withdrawn at the peer: %v (goal <= %v)", took.Round(time.Millisecond), goal)
		if took > goal {
			t.Errorf("withdrawal took %v, goal %v", took, goal)
		}
		voiceTarget.Start()
		took = waitRoute(t, peer, voicePrefix, 10*time.Second, "voice back", present)
		// A down service is probed at the fast interval: rise rounds.
		goal = rise*fastInterval + time.Second
		t.Logf("health restored -> announced at the peer: %v (goal <= %v)", took.Round(time.Millisecond), goal)
		if took > goal {
			t.Errorf("re-announcement took %v, goal %v", took, goal)
		}
		noReset(t, 1)
	})

	t.Run("when_unhealthy as_path_prepend keeps the prefix with a longer AS path", func(t *testing.T) {
		vipTarget.Stop()
		waitRoute(t, peer, "203.0.113.20/32", 10*time.Second, "vip de-preferred to a 7-AS path", pathLen(7))
		vipTarget.Start()
		waitRoute(t, peer, "203.0.113.20/32", 10*time.Second, "vip back to a 3-AS path", pathLen(3))
		noReset(t, 1)
	})

	t.Run("the maintenance file withdraws without a session reset", func(t *testing.T) {
		maint := filepath.Join(a.dir, "maintenance-voice")
		if err := os.WriteFile(maint, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, peer, voicePrefix, 5*time.Second, "voice withdrawn by maintenance", absent)
		if err := os.Remove(maint); err != nil {
			t.Fatal(err)
		}
		waitRoute(t, peer, voicePrefix, 10*time.Second, "voice back after maintenance", present)
		noReset(t, 1)
	})

	t.Run("rsagent drain withdraws before it returns, without a session reset", func(t *testing.T) {
		out, err := a.cli("drain", "voice")
		if err != nil {
			t.Fatalf("rsagent drain voice: %v\n%s", err, out)
		}
		if !strings.Contains(out, "every peer acknowledged the withdrawal of "+voicePrefix) {
			t.Errorf("drain output %q does not confirm the withdrawal", out)
		}
		// The CLI returned after the peer's TCP stack acknowledged the
		// UPDATE; the peer has processed it within a moment.
		waitRoute(t, peer, voicePrefix, time.Second, "voice withdrawn by drain", absent)
		if st := a.status(); !st.Services[0].Drained || st.Services[0].Prefixes[0].Advertised {
			t.Errorf("status does not show voice drained and withdrawn: %+v", st.Services[0])
		}
		if out, err := a.cli("undrain", "voice"); err != nil {
			t.Fatalf("rsagent undrain voice: %v\n%s", err, out)
		}
		waitRoute(t, peer, voicePrefix, 10*time.Second, "voice back after undrain", present)
		noReset(t, 1)
	})

	t.Run("rsagent drain cannot succeed while the peer has not acknowledged the withdrawal", func(t *testing.T) {
		// BGP's TCP segments are dropped: GoBGP writes the withdrawal into
		// our send queue, but the peer never acknowledges it. A drain that
		// trusted the socket write would report success here.
		agentNS.DropTCPPort(t, 179)
		const timeout = 2 * time.Second
		start := time.Now()
		out, err := a.cli("drain", "voice", "--timeout", timeout.String())
		took := time.Since(start)
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("drain with the path held: want exit 1, got %v after %v\n%s", err, took, out)
		}
		if took < timeout || !strings.Contains(out, "not acknowledged by the peer") {
			t.Errorf("drain failed after %v (timeout %v) with %q; want it to have waited, naming the unacknowledged bytes", took, timeout, out)
		}
		t.Logf("drain with the path held failed after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(out))
		if st := a.status(); !st.Services[0].Drained {
			t.Errorf("the service must stay drained after a failed drain: %+v", st.Services[0])
		}
		agentNS.Undrop(t)
		// TCP retransmits the queued withdrawal once the path heals.
		waitRoute(t, peer, voicePrefix, 10*time.Second, "voice withdrawn once the path healed", absent)
		if out, err := a.cli("undrain", "voice"); err != nil {
			t.Fatalf("rsagent undrain voice: %v\n%s", err, out)
		}
		waitRoute(t, peer, voicePrefix, 10*time.Second, "voice back after undrain", present)
		noReset(t, 1)
	})

	t.Run("drain refuses a wrong API key and an unknown service with exit code 2", func(t *testing.T) {
		out, err := a.cli("drain", "nosuch")
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("drain nosuch: want exit 2, got %v\n%s", err, out)
		}
		bad := filepath.Join(a.dir, "bad-key")
		if err := os.WriteFile(bad, []byte("not-the-key-at-all"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err = a.cli("drain", "voice", "--api-key-file", bad)
		if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("drain with a wrong key: want exit 2, got %v\n%s", err, out)
		}
		waitRoute(t, peer, voicePrefix, time.Second, "voice still announced", present)
	})

	t.Run("SIGHUP with an added service announces it without a session reset; a broken config changes nothing", func(t *testing.T) {
		added := strings.Replace(speakerConfig, "http:\n", `  - name: video
    prefixes: [203.0.113.11/32]
    health: {interval: 1s, fast_interval: 200ms, rise: 1}
http:
`, 1)
		a.writeConfig(added)
		a.signal(syscall.SIGHUP)
		waitRoute(t, peer, "203.0.113.11/32", 10*time.Second, "video announced after SIGHUP", present)
		waitRoute(t, peer, voicePrefix, time.Second, "voice still announced", present)
		noReset(t, 1)

		a.writeConfig(strings.Replace(added, fmt.Sprintf("asn: %d", agentASN), "asn: 0", 1))
		a.signal(syscall.SIGHUP)
		netns.WaitFor(t, 5*time.Second, "the rejected reload to be counted", func() error {
			if v := a.metric(`rsagent_config_reloads_total{result="error"}`); v != 1 {
				return fmt.Errorf("reloads with result=error: %v", v)
			}
			return nil
		})
		for _, p := range []string{voicePrefix, "203.0.113.11/32", "203.0.113.20/32"} {
			waitRoute(t, peer, p, time.Second, p+" still announced", present)
		}
		if st := a.status(); len(st.Services) != 3 {
			t.Errorf("the running config changed: %d services", len(st.Services))
		}
		noReset(t, 1)
		a.writeConfig(added)
	})

	t.Run("metrics pass promtool and count every Established/Idle change", func(t *testing.T) {
		if err := resetFromPeer(); err != nil {
			t.Fatalf("reset the session from the peer: %v", err)
		}
		netns.WaitFor(t, 15*time.Second, "the session to come back", func() error {
			if v := a.metric(established); v != 2 {
				return fmt.Errorf("%s = %v", established, v)
			}
			return peer.Established()
		})
		idle := fmt.Sprintf(`rsagent_bgp_session_transitions_total{peer="%s",to="idle"}`, peerAddr)
		if v := a.metric(idle); v != 1 {
			t.Errorf("%s = %v, want 1 (one drop)", idle, v)
		}
		if v := a.metric(fmt.Sprintf(`rsagent_bgp_session_up{peer="%s"}`, peerAddr)); v != 1 {
			t.Errorf("rsagent_bgp_session_up = %v", v)
		}
		body, err := a.get("/metrics")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("promtool", "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
		waitRoute(t, peer, voicePrefix, 10*time.Second, "voice after the reset", present)
	})

	t.Run("SIGTERM withdraws before the session closes", func(t *testing.T) {
		// Only what the peer logs from now on counts: earlier tests withdrew
		// and reset too.
		before := len(peer.Log())
		a.signal(syscall.SIGTERM)
		if err := a.proc.Wait(10 * time.Second); err != nil {
			t.Fatalf("rsagent did not exit cleanly: %v", err)
		}
		var log string
		netns.WaitFor(t, 5*time.Second, "the peer to log the session end", func() error {
			log = peer.Log()[before:]
			if _, down := shutdownOrder(log); down < 0 {
				return fmt.Errorf("no session-down line yet")
			}
			return nil
		})
		withdrawn, down := shutdownOrder(log)
		if withdrawn < 0 || withdrawn > down {
			t.Fatalf("the peer did not log the withdrawal (line %d) before the session closed (line %d):\n%s", withdrawn, down, tailLines(log, 40))
		}
		// Cease/Administrative Shutdown carries an RFC 8203 communication, so
		// the peer's operator can read why the session ended.
		if !strings.Contains(log, "rsagent shutting down") {
			t.Errorf("the peer did not log our shutdown communication %q:\n%s", "rsagent shutting down", tailLines(log, 40))
		}
	})
}

func tailLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
