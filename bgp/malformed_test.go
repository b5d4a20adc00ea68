package bgp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/netns"
)

// TestMalformedMessagesNeverCrashTheSpeaker is the malformed-message tier: a
// raw peer (test code) completes OPEN with the speaker, then sends one probe
// from netns.MalformedProbes (GoBGP advisories and fixes; the table grows
// with new ones). Every probe gets its own peer, all on one speaker, so one
// crash would take all of them and this test binary with them. Pass = the
// process lives, the session is reset with the expected NOTIFICATION or the
// UPDATE is treated as withdraw (or harmlessly parsed), and the event is
// counted (PeerStatus.Resets / MalformedMessages, which the agent exports as
// rsagent_bgp_session_resets_total and rsagent_bgp_malformed_messages_total).
func TestMalformedMessagesNeverCrashTheSpeaker(t *testing.T) {
	probes := netns.MalformedProbes()
	if len(probes) < 20 {
		t.Fatalf("probe table has %d rows, want at least the 20 of the probe set", len(probes))
	}
	listen := freePort(t, speakerAddr.String())
	type peer struct {
		probe netns.Probe
		addr  netip.Addr
		ln    net.Listener // nil for DialIn probes
	}
	var peers []peer
	var cfgs []PeerConfig
	for i, p := range probes {
		a := netip.AddrFrom4([4]byte{127, 0, 9, byte(10 + i)})
		pc := PeerConfig{Address: a, ASN: rsASN, HoldTime: 9 * time.Second, ConnectRetry: time.Second}
		pr := peer{probe: p, addr: a}
		if p.DialIn {
			pc.Port = freePort(t, a.String()) // nothing listens: only the incoming session can come up
		} else {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			pr.ln = ln
			pc.Port = uint16(ln.Addr().(*net.TCPAddr).Port)
		}
		peers = append(peers, pr)
		cfgs = append(cfgs, pc)
	}
	s := newTestSpeaker(t, func(c *Config) { c.ListenPort = int32(listen) }, cfgs...)
	runSpeaker(t, s)
	select {
	case <-s.Started(): // peers added: an incoming session is now expected
	case <-time.After(10 * time.Second):
		t.Fatal("speaker did not start")
	}

	t.Run("each probe", func(t *testing.T) {
		for _, pr := range peers {
			t.Run(pr.probe.Name+" → "+pr.probe.Expect.String(), func(t *testing.T) {
				t.Parallel()
				runProbe(t, s, pr.probe, pr.addr, pr.ln, listen)
			})
		}
	})

	// The speaker that took every probe still works.
	for _, st := range s.Peers() {
		if st.Address.IsValid() && st.State == "" {
			t.Errorf("peer %s has no state after the probes", st.Address)
		}
	}
	if len(s.Peers()) != len(probes) {
		t.Errorf("Peers() lists %d peers, want %d", len(s.Peers()), len(probes))
	}
}

func runProbe(t *testing.T, s *Speaker, p netns.Probe, addr netip.Addr, ln net.Listener, listen uint16) {
	var conn net.Conn
	var err error
	if p.DialIn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: addr.AsSlice()}, Timeout: 5 * time.Second}
		conn, err = d.Dial("tcp", net.JoinHostPort(speakerAddr.String(), strconv.Itoa(int(listen))))
	} else {
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(15 * time.Second))
		conn, err = ln.Accept()
		ln.Close() // later attempts are refused: one session per probe
	}
	if err != nil {
		t.Fatalf("connect with the speaker: %v", err)
	}
	defer conn.Close()
	raw := &netns.RawPeer{Conn: conn, ASN: rsASN, RouterID: addr, HoldTime: 9}

	if p.PreOpen {
		if err := raw.ExpectOpen(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	} else {
		if err := raw.Handshake(10 * time.Second); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		eventually(t, 5*time.Second, "speaker Established with "+addr.String(), func() error {
			if st := peerStatus(s, addr); st.State != StateEstablished {
				return fmt.Errorf("state %s", st.State)
			}
			return nil
		})
	}
	if err := raw.Send(p.Message()); err != nil {
		t.Fatalf("send the probe: %v", err)
	}

	if p.Expect == netns.Reset {
		code, err := raw.AwaitNotification(10 * time.Second)
		if err != nil {
			t.Fatalf("want NOTIFICATION %s: %v", p.Notification, err)
		}
		if code != p.Notification {
			t.Errorf("NOTIFICATION %s, want %s", code, p.Notification)
		}
		eventually(t, 5*time.Second, "the reset counted", func() error {
			st := peerStatus(s, addr)
			if p.PreOpen {
				// No session existed, so none ended: the malformed
				// counter is the record.
				if st.MalformedMessages == 0 {
					return errors.New("MalformedMessages is 0")
				}
				return nil
			}
			for _, r := range st.Resets {
				if r.Cause == "notification_sent" && r.Notification == p.Notification && r.Count == 1 {
					return nil
				}
			}
			return fmt.Errorf("resets %+v", st.Resets)
		})
		return
	}

	// The session must live: a valid UPDATE after the probe is processed
	// after it (GoBGP reads in order) and its route arrives.
	if err := raw.Send(mustHex(t, netns.ControlUpdate)); err != nil {
		t.Fatalf("send the control UPDATE: %v", err)
	}
	eventually(t, 5*time.Second, "the control UPDATE's route at the speaker", func() error {
		st := peerStatus(s, addr)
		if st.State != StateEstablished || st.EstablishedCount != 1 {
			return fmt.Errorf("session %s (established %d times), reasons %q", st.State, st.EstablishedCount, st.LastReason)
		}
		if st.Received != 1 {
			return fmt.Errorf("received %d prefixes", st.Received)
		}
		return nil
	})
	st := peerStatus(s, addr)
	switch {
	case p.Expect == netns.Withdraw && st.MalformedMessages != 1:
		t.Errorf("MalformedMessages = %d, want 1 (treated as withdraw)", st.MalformedMessages)
	case p.Expect == netns.Ignored && st.MalformedMessages != 0:
		t.Errorf("MalformedMessages = %d, want 0 (parsed)", st.MalformedMessages)
	}
	if len(st.Resets) != 0 {
		t.Errorf("resets %+v on a session that must live", st.Resets)
	}
}

func mustHex(t *testing.T, h string) []byte {
	t.Helper()
	return netns.Probe{Name: "control", Hex: h}.Message()
}
