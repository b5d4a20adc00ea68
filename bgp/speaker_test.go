package bgp

// The wire tests in this package do not run in parallel: GoBGP v4.8.0's StartBgp
// writes package globals (table.SelectionOptions, table.UseMultiplePaths)
// that every running BgpServer reads, so a server starting while another one
// computes best paths is a data race under -race.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
)

func TestSpeakerAdvertisesToRouteServer(t *testing.T) {
	rs := newRouteServer(t, "127.0.0.2", localASN)
	s := newTestSpeaker(t, nil, rs.peerConfig())
	svc := netip.MustParsePrefix("203.0.113.10/32")

	// Set before Run: stored, applied when GoBGP starts.
	if err := s.Set([]Advertisement{{Prefix: svc, MED: 0}}); err != nil {
		t.Fatalf("Set before Run: %v", err)
	}
	select {
	case <-s.Started():
		t.Fatal("Started closed before Run")
	default:
	}
	runSpeaker(t, s)
	// The route server peer is passive and we do not listen, so reaching
	// Established proves the speaker initiated.
	waitEstablished(t, s, rs.addr)
	select {
	case <-s.Started():
	default:
		t.Error("Started still open with a session Established")
	}

	probe := Advertisement{Prefix: netip.MustParsePrefix("203.0.113.11/32")}
	steps := []struct {
		name string
		advs []Advertisement
		want map[netip.Prefix]seenRoute
		// sendsNothing: the step must not cause an UPDATE. Proven with a probe
		// prefix set afterwards: UPDATEs arrive in order, so the route server
		// must then have received exactly one UPDATE (the probe's).
		sendsNothing bool
	}{
		{
			name:         "the set stored before Run arrives with our next hop, MED 0 and a one-hop AS path, and repeating it sends nothing",
			advs:         []Advertisement{{Prefix: svc}},
			want:         map[netip.Prefix]seenRoute{svc: {nextHop: speakerAddr, med: 0, asPath: []uint32{localASN}}},
			sendsNothing: true,
		},
		{
			name: "a changed MED replaces the route",
			advs: []Advertisement{{Prefix: svc, MED: 1000}},
			want: map[netip.Prefix]seenRoute{svc: {nextHop: speakerAddr, med: 1000, asPath: []uint32{localASN}}},
		},
		{
			name: "prepend 2 makes the peer see our ASN three times",
			advs: []Advertisement{{Prefix: svc, MED: 1000, ASPathPrepend: 2}},
			want: map[netip.Prefix]seenRoute{svc: {nextHop: speakerAddr, med: 1000, asPath: []uint32{localASN, localASN, localASN}}},
		},
		{
			name:         "an identical set sends no UPDATE",
			advs:         []Advertisement{{Prefix: svc, MED: 1000, ASPathPrepend: 2}},
			want:         map[netip.Prefix]seenRoute{svc: {nextHop: speakerAddr, med: 1000, asPath: []uint32{localASN, localASN, localASN}}},
			sendsNothing: true,
		},
		{
			name: "a prefix left out of the set is withdrawn",
			advs: []Advertisement{},
			want: map[netip.Prefix]seenRoute{},
		},
	}
	probeAt := func(t *testing.T, want bool) {
		t.Helper()
		eventually(t, 5*time.Second, "probe prefix at the route server", func() error {
			if _, ok := rs.routes(false)[probe.Prefix]; ok != want {
				return fmt.Errorf("probe present %v, want %v", ok, want)
			}
			return nil
		})
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.sendsNothing {
				// Barrier: UPDATEs still in flight from earlier steps (and the
				// End-of-RIB markers GoBGP sends after the initial table) must
				// be counted before we take "before". Announcing and then
				// withdrawing the probe flushes them: the route server reads
				// in order.
				if err := s.Set(append(slices.Clone(s.Advertised()), probe)); err != nil {
					t.Fatal(err)
				}
				probeAt(t, true)
				if err := s.Set(step.advs); err != nil {
					t.Fatal(err)
				}
				probeAt(t, false)
			}
			before := rs.updatesReceived()
			if err := s.Set(step.advs); err != nil {
				t.Fatalf("Set: %v", err)
			}
			eventually(t, 5*time.Second, "route server RIB", func() error {
				got := rs.routes(false)
				if len(got) != len(step.want) {
					return fmt.Errorf("route server has %v, want %v", got, step.want)
				}
				for p, w := range step.want {
					g, ok := got[p]
					if !ok || g.nextHop != w.nextHop || g.med != w.med || !slices.Equal(g.asPath, w.asPath) {
						return fmt.Errorf("route server has %s = %+v, want %+v", p, g, w)
					}
				}
				return nil
			})
			if got := s.Advertised(); len(got) != len(step.advs) {
				t.Errorf("Advertised() = %v, want %d entries", got, len(step.advs))
			}
			// The route server counts an UPDATE when it reads it, before its
			// RIB changes, so the counter is current here.
			if !step.sendsNothing {
				if after := rs.updatesReceived(); after == before {
					t.Errorf("route server received no UPDATE (counter stayed %d)", before)
				}
				return
			}
			if err := s.Set(append(slices.Clone(step.advs), probe)); err != nil {
				t.Fatal(err)
			}
			probeAt(t, true)
			if after := rs.updatesReceived(); after != before+1 {
				t.Errorf("route server received %d UPDATEs for an unchanged set plus a probe, want 1", after-before)
			}
			if err := s.Set(step.advs); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSpeakerAdvertisesIPv6OverTheIPv4Session(t *testing.T) {
	rs := newRouteServer(t, "127.0.0.3", localASN)
	nh := netip.MustParseAddr("2001:db8::1")
	s := newTestSpeaker(t, func(c *Config) { c.LocalAddressV6 = nh }, rs.peerConfig())
	runSpeaker(t, s)
	waitEstablished(t, s, rs.addr)

	v6 := netip.MustParsePrefix("2001:db8:10::/48")
	v4 := netip.MustParsePrefix("203.0.113.20/32")
	if err := s.Set([]Advertisement{{Prefix: v6, MED: 50}, {Prefix: v4, MED: 50}}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	eventually(t, 5*time.Second, "IPv6 route at the route server", func() error {
		got, ok := rs.routes(true)[v6]
		if !ok || got.nextHop != nh || got.med != 50 || !slices.Equal(got.asPath, []uint32{localASN}) {
			return fmt.Errorf("route server has %s = %+v (present %v)", v6, got, ok)
		}
		if _, ok := rs.routes(false)[v4]; !ok {
			return fmt.Errorf("IPv4 %s missing", v4)
		}
		return nil
	})
	if st := peerStatus(s, rs.addr); st.Advertised != 2 {
		t.Errorf("PeerStatus.Advertised = %d, want 2 (one per family)", st.Advertised)
	}
}

func TestSetPeersTouchesOnlyWhatChanged(t *testing.T) {
	rs1 := newRouteServer(t, "127.0.0.4", localASN)
	// A different ASN on the second endpoint, so that a leaked route would
	// not be dropped as an AS-path loop and the no-transit check means something.
	rs2 := newRouteServerAS(t, "127.0.0.5", rsASN+1, localASN)
	s := newTestSpeaker(t, nil, rs1.peerConfig())
	svc := netip.MustParsePrefix("203.0.113.30/32")
	if err := s.Set([]Advertisement{{Prefix: svc}}); err != nil {
		t.Fatal(err)
	}
	events, cancel := s.Subscribe()
	defer cancel()
	runSpeaker(t, s)
	first := waitEstablished(t, s, rs1.addr)

	// Route Server sends us another appliance's route; we must keep it to
	// ourselves (no transit between endpoints).
	other := netip.MustParsePrefix("198.51.100.0/24")
	rs1.announce(other.String())

	t.Run("adding a peer establishes it and leaves the existing session alone", func(t *testing.T) {
		if err := s.SetPeers([]PeerConfig{rs1.peerConfig(), rs2.peerConfig()}); err != nil {
			t.Fatalf("SetPeers: %v", err)
		}
		waitEstablished(t, s, rs2.addr)
		eventually(t, 5*time.Second, "our prefix at the new peer", func() error {
			if _, ok := rs2.routes(false)[svc]; !ok {
				return errors.New("missing")
			}
			return nil
		})
		now := peerStatus(s, rs1.addr)
		if now.State != StateEstablished || !now.EstablishedSince.Equal(first.EstablishedSince) || now.EstablishedCount != 1 {
			t.Errorf("first peer after SetPeers: %+v, want the same session as %v", now, first.EstablishedSince)
		}
	})

	t.Run("a route learned from one endpoint is not advertised to the other", func(t *testing.T) {
		eventually(t, 5*time.Second, "route learned from the first endpoint", func() error {
			if st := peerStatus(s, rs1.addr); st.Received != 1 {
				return fmt.Errorf("received %d", st.Received)
			}
			return nil
		})
		// The learned route reached us before rs2's session carried our own
		// prefix, so had it been exported it would be there by now too.
		if err := s.Set([]Advertisement{{Prefix: svc, MED: 7}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "MED change at the second endpoint", func() error {
			if r := rs2.routes(false)[svc]; r.med != 7 {
				return fmt.Errorf("med %d", r.med)
			}
			return nil
		})
		if r, ok := rs2.routes(false)[other]; ok {
			t.Errorf("second endpoint received %s from us: %+v", other, r)
		}
	})

	t.Run("a hold time change does not reset the session", func(t *testing.T) {
		p1 := rs1.peerConfig()
		p1.HoldTime = 30 * time.Second
		if err := s.SetPeers([]PeerConfig{p1, rs2.peerConfig()}); err != nil {
			t.Fatalf("SetPeers: %v", err)
		}
		// A probe UPDATE travels the same session after any reset would.
		if err := s.Set([]Advertisement{{Prefix: svc, MED: 8}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "probe at the first endpoint", func() error {
			if r := rs1.routes(false)[svc]; r.med != 8 {
				return fmt.Errorf("med %d", r.med)
			}
			return nil
		})
		if now := peerStatus(s, rs1.addr); now.EstablishedCount != 1 || now.State != StateEstablished {
			t.Errorf("first peer after a timer change: %+v, want the original session", now)
		}
	})

	t.Run("removing a peer closes only that session", func(t *testing.T) {
		if err := s.SetPeers([]PeerConfig{rs1.peerConfig()}); err != nil {
			t.Fatalf("SetPeers: %v", err)
		}
		eventually(t, 5*time.Second, "second endpoint sees the session close", func() error {
			if st := rs2.state(); st == StateEstablished {
				return fmt.Errorf("state %s", st)
			}
			return nil
		})
		if got := s.Peers(); len(got) != 1 || got[0].Address != rs1.addr || got[0].EstablishedCount != 1 {
			t.Errorf("Peers() = %+v, want only the untouched first peer", got)
		}
	})

	for {
		select {
		case ev := <-events:
			if ev.Peer == rs1.addr && ev.From == StateEstablished {
				t.Errorf("first peer left Established: %+v", ev)
			}
			continue
		default:
		}
		break
	}
}

func TestResetPeer(t *testing.T) {
	rs := newRouteServer(t, "127.0.0.6", localASN)
	s := newTestSpeaker(t, nil, rs.peerConfig())
	svc := netip.MustParsePrefix("203.0.113.40/32")
	if err := s.Set([]Advertisement{{Prefix: svc}}); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetPeer(rs.addr, "before run", time.Now()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("ResetPeer before Run = %v, want ErrNotRunning", err)
	}
	events, cancel := s.Subscribe()
	defer cancel()
	runSpeaker(t, s)
	first := waitEstablished(t, s, rs.addr)

	t.Run("an unknown peer is an error", func(t *testing.T) {
		err := s.ResetPeer(netip.MustParseAddr("127.0.0.99"), "x", time.Now())
		if !errors.Is(err, ErrUnknownPeer) {
			t.Errorf("got %v, want ErrUnknownPeer", err)
		}
	})

	var second PeerStatus
	t.Run("a reset drops the session with our reason, and we dial again after the 1 s idle hold", func(t *testing.T) {
		start := time.Now()
		if err := s.ResetPeer(rs.addr, "bfd down", time.Now()); err != nil {
			t.Fatalf("ResetPeer: %v", err)
		}
		down := waitEvent(t, events, "session leaves Established", func(ev PeerEvent) bool { return ev.From == StateEstablished })
		if down.Reason != "reset: bfd down" || down.Cause != "rsagent_reset" || down.Notification != "6/4" {
			t.Errorf("down event = %+v, want reason %q, cause rsagent_reset, notification 6/4 (Cease/Administrative Reset)", down, "reset: bfd down")
		}
		// The GoBGP playing Route Server would refuse us for its fixed 5 s
		// idle hold after a drop it did not start; the emulated Route Server
		// re-admits at once, and so does this one.
		rs.readmit()
		eventually(t, 15*time.Second, "session re-established", func() error {
			second = peerStatus(s, rs.addr)
			if second.State != StateEstablished || second.EstablishedCount != 2 {
				return fmt.Errorf("state %s, sessions %d", second.State, second.EstablishedCount)
			}
			return nil
		})
		back := time.Since(start)
		t.Logf("session back %s after the reset (1 s idle hold + GoBGP's 1.5-2 s first-connect wait)", back.Round(time.Millisecond))
		if back > 5*time.Second {
			t.Errorf("session back %s after the reset, want about 2.5-3 s", back)
		}
		if !second.EstablishedSince.After(first.EstablishedSince) {
			t.Errorf("new session since %v, not after the old %v", second.EstablishedSince, first.EstablishedSince)
		}
		if second.LastReason == "" {
			t.Errorf("LastReason empty after a reset")
		}
		eventually(t, 5*time.Second, "prefix re-advertised on the new session", func() error {
			if _, ok := rs.routes(false)[svc]; !ok {
				return errors.New("missing")
			}
			return nil
		})
	})

	t.Run("a stale reset about the previous session is ignored", func(t *testing.T) {
		if err := s.ResetPeer(rs.addr, "late bfd down", first.EstablishedSince.Add(time.Millisecond)); err != nil {
			t.Fatalf("ResetPeer: %v", err)
		}
		// A NOTIFICATION would be queued before this UPDATE on the same session.
		if err := s.Set([]Advertisement{{Prefix: svc, MED: 9}}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "probe UPDATE arrives", func() error {
			if r := rs.routes(false)[svc]; r.med != 9 {
				return fmt.Errorf("med %d", r.med)
			}
			return nil
		})
		now := peerStatus(s, rs.addr)
		if now.EstablishedCount != 2 || now.State != StateEstablished || !now.EstablishedSince.Equal(second.EstablishedSince) {
			t.Errorf("after a stale reset: %+v, want the session from %v untouched", now, second.EstablishedSince)
		}
		select {
		case ev := <-events:
			if ev.From == StateEstablished {
				t.Errorf("session went down after a stale reset: %+v", ev)
			}
		default:
		}
	})
}

func TestShutdownWithdrawsBeforeClosing(t *testing.T) {
	cases := []struct {
		name   string
		rsAddr string
		stop   func(t *testing.T, s *Speaker, cancelRun context.CancelFunc)
	}{
		{"Shutdown withdraws, waits for the UPDATEs, then closes", "127.0.0.7", func(t *testing.T, s *Speaker, _ context.CancelFunc) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		}},
		{"cancelling Run's context drains the same way", "127.0.0.9", func(t *testing.T, _ *Speaker, cancelRun context.CancelFunc) {
			cancelRun()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { testShutdown(t, tc.rsAddr, tc.stop) })
	}
}

func testShutdown(t *testing.T, rsAddr string, stop func(*testing.T, *Speaker, context.CancelFunc)) {
	rs := newRouteServer(t, rsAddr, localASN)
	rs.watchUpdates()
	nh6 := netip.MustParseAddr("2001:db8::7")
	s := newTestSpeaker(t, func(c *Config) { c.LocalAddressV6 = nh6 }, rs.peerConfig())
	v4 := netip.MustParsePrefix("203.0.113.50/32")
	v6 := netip.MustParsePrefix("2001:db8:50::/48")
	if err := s.Set([]Advertisement{{Prefix: v4}, {Prefix: v6}}); err != nil {
		t.Fatal(err)
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	waitEstablished(t, s, rs.addr)
	eventually(t, 5*time.Second, "both prefixes at the route server", func() error {
		if len(rs.routes(false)) != 1 || len(rs.routes(true)) != 1 {
			return errors.New("not yet")
		}
		return nil
	})

	stop(t, s, cancelRun)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}

	var log []rsEvent
	eventually(t, 5*time.Second, "route server sees the session close", func() error {
		log = rs.eventLog()
		if len(log) == 0 || log[len(log)-1].peerState == "" || log[len(log)-1].peerState == StateEstablished {
			return fmt.Errorf("events %+v", log)
		}
		return nil
	})
	lastUp, closedAt := -1, -1
	for i, ev := range log {
		if ev.peerState == StateEstablished {
			lastUp = i
		}
	}
	withdrawnAt := map[netip.Prefix]int{}
	for i := lastUp + 1; i < len(log) && lastUp >= 0; i++ {
		ev := log[i]
		if ev.withdrawn.IsValid() {
			withdrawnAt[ev.withdrawn] = i
		}
		if ev.peerState != "" && closedAt < 0 {
			closedAt = i
		}
	}
	for _, p := range []netip.Prefix{v4, v6} {
		i, ok := withdrawnAt[p]
		if !ok || closedAt < 0 || i > closedAt {
			t.Errorf("route server events %+v: want the withdrawal of %s before the session closes", log, p)
		}
	}

	if err := s.Set([]Advertisement{{Prefix: v4}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Set after Shutdown = %v, want ErrClosed", err)
	}
	if got := s.Advertised(); len(got) != 0 {
		t.Errorf("Advertised() after Shutdown = %v, want empty", got)
	}
}

// TestSpeakerListensOnlyWhenConfigured: with ListenPort set, a peer that
// dials us reaches Established even though our own attempts go to a port
// where nothing listens, so the session can only be the incoming one.
func TestSpeakerListensOnlyWhenConfigured(t *testing.T) {
	const remote = "127.0.0.14"
	listen := freePort(t, speakerAddr.String())
	dead := freePort(t, remote) // our outgoing attempts are refused here

	peer := newTestGoBGP(t)
	ctx := context.Background()
	if err := peer.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: rsASN, RouterId: remote, ListenPort: -1}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopAfterSessions(peer) })
	err := peer.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: speakerAddr.String(), PeerAsn: localASN},
		Transport: &api.Transport{LocalAddress: remote, RemotePort: uint32(listen)},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, HoldTime: 9, KeepaliveInterval: 3}},
	}})
	if err != nil {
		t.Fatal(err)
	}

	pc := PeerConfig{Address: netip.MustParseAddr(remote), ASN: rsASN, Port: dead, HoldTime: 9 * time.Second, ConnectRetry: time.Second}
	s := newTestSpeaker(t, func(c *Config) { c.ListenPort = int32(listen) }, pc)
	runSpeaker(t, s)
	waitEstablished(t, s, pc.Address)
}

// waitEvent reads events until match accepts one (10 s at most).
func waitEvent(t *testing.T, events <-chan PeerEvent, what string, match func(PeerEvent) bool) PeerEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("%s: event channel closed", what)
			}
			if match(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("%s: no such event within 10s", what)
		}
	}
}

// TestReconnectSkipsGoBGPsIdleHold: after a drop it did not start GoBGP
// holds a peer idle for a fixed 5 s and then waits 1.5–2 s before it dials;
// Reconnect (the agent calls it when BFD comes back Up) re-creates the
// neighbor, so only the 1.5–2 s remain.
func TestReconnectSkipsGoBGPsIdleHold(t *testing.T) {
	rs := newRouteServer(t, "127.0.0.15", localASN)
	s := newTestSpeaker(t, nil, rs.peerConfig())
	if err := s.Reconnect(rs.addr, "x"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Reconnect before Run = %v, want ErrNotRunning", err)
	}
	events, cancel := s.Subscribe()
	defer cancel()
	runSpeaker(t, s)
	waitEstablished(t, s, rs.addr)

	t.Run("an Established session and an unknown peer are left alone", func(t *testing.T) {
		if err := s.Reconnect(rs.addr, "bfd up"); err != nil {
			t.Fatal(err)
		}
		if err := s.Reconnect(netip.MustParseAddr("127.0.0.99"), "bfd up"); !errors.Is(err, ErrUnknownPeer) {
			t.Errorf("unknown peer: %v, want ErrUnknownPeer", err)
		}
		if st := peerStatus(s, rs.addr); st.State != StateEstablished || st.EstablishedCount != 1 {
			t.Errorf("after Reconnect of a live session: %+v", st)
		}
	})

	t.Run("a session the peer dropped is dialled again within about 2 s", func(t *testing.T) {
		if err := rs.srv.ResetPeer(context.Background(), &api.ResetPeerRequest{Address: speakerAddr.String(), Communication: "test"}); err != nil {
			t.Fatal(err)
		}
		down := waitEvent(t, events, "session leaves Established", func(ev PeerEvent) bool { return ev.From == StateEstablished })
		if down.Cause != "notification_received" || down.Notification != "6/4" {
			t.Errorf("down event %+v, want cause notification_received, notification 6/4", down)
		}
		rs.readmit()
		start := time.Now()
		if err := s.Reconnect(rs.addr, "bfd up"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "session back", func() error {
			if st := peerStatus(s, rs.addr); st.State != StateEstablished || st.EstablishedCount != 2 {
				return fmt.Errorf("state %s, sessions %d", st.State, st.EstablishedCount)
			}
			return nil
		})
		took := time.Since(start)
		t.Logf("session back %s after Reconnect (GoBGP's first-connect wait is 1.5-2 s; its idle hold alone is 5 s)", took.Round(time.Millisecond))
		if took > 4*time.Second {
			t.Errorf("session back after %s, want well under GoBGP's 5 s idle hold", took)
		}
	})
}

// TestReceivedRoutesSignalsAnUpdateFromAPeer: an UPDATE from the route
// server (Route Server moving another appliance's route) reaches the agent
// as a signal, so its reconciler looks at the tables at once.
func TestReceivedRoutesSignalsAnUpdateFromAPeer(t *testing.T) {
	rs := newRouteServer(t, "127.0.0.16", localASN)
	s := newTestSpeaker(t, nil, rs.peerConfig())
	runSpeaker(t, s)
	waitEstablished(t, s, rs.addr)
	// Absorb what the session's start signalled (End-of-RIB) until the
	// signal has been quiet for half a second.
	for quiet := false; !quiet; {
		select {
		case <-s.ReceivedRoutes():
		case <-time.After(500 * time.Millisecond):
			quiet = true
		}
	}
	rs.announce("198.51.100.0/24")
	select {
	case <-s.ReceivedRoutes():
	case <-time.After(5 * time.Second):
		t.Fatal("no ReceivedRoutes signal within 5s of the route server's UPDATE")
	}
}
