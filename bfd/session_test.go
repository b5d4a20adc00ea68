package bfd

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func cfgAB(tx, rx time.Duration, mult uint8) (SessionConfig, SessionConfig) {
	return SessionConfig{Peer: addrB, Local: addrA, DesiredMinTx: tx, RequiredMinRx: rx, DetectMult: mult},
		SessionConfig{Peer: addrA, Local: addrB, DesiredMinTx: tx, RequiredMinRx: rx, DetectMult: mult}
}

func TestHandshakeGoesDownInitUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, cb := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
		a, b := newEndpoint(t, ca, 1), newEndpoint(t, cb, 2)
		link(a, b)
		start := time.Now()
		stop := runAll(a, b)
		defer stop()
		time.Sleep(3 * time.Second)
		waitIdle()
		sawInit := false
		for name, ep := range map[string]*endpoint{"a": a, "b": b} {
			st := ep.s.snapshot()
			if st.State != StateUp {
				t.Fatalf("%s: state %s after 3s, want up", name, st.State)
			}
			ch := ep.stateChanges()
			if len(ch) == 0 || ch[0].From != StateDown || ch[len(ch)-1].To != StateUp {
				t.Fatalf("%s: transitions %v, want Down→…→Up", name, ch)
			}
			for _, c := range ch {
				if c.To == StateInit {
					sawInit = true
				}
				if c.To == StateDown {
					t.Errorf("%s: flapped: %+v", name, c)
				}
			}
			if up := st.UpSince.Sub(start); up > time.Second {
				t.Errorf("%s: came up after %s, want within 1s", name, up)
			}
			if st.RemoteDiscriminator == 0 || st.LocalDiag != DiagNone {
				t.Errorf("%s: status %+v", name, st)
			}
		}
		if !sawInit {
			t.Error("neither side passed through Init: not a three-way handshake")
		}
	})
}

func TestSlowTransmitWhileDown(t *testing.T) {
	t.Run("a session without a peer sends every 0.75–1s and advertises 1s", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ca, _ := cfgAB(50*time.Millisecond, 50*time.Millisecond, 3)
			a := newEndpoint(t, ca, 1)
			start := time.Now()
			stop := runAll(a)
			time.Sleep(30 * time.Second)
			end := time.Now()
			stop()
			sent := a.sentPackets()
			iv := periodicIntervals(sent, start, end)
			if len(iv) < 25 {
				t.Fatalf("only %d intervals in 30s", len(iv))
			}
			assertWithin(t, iv, 750*time.Millisecond, time.Second)
			for _, sp := range sent {
				if sp.p.DesiredMinTx != time.Second || sp.p.State != StateDown && sp.p.State != StateAdminDown {
					t.Fatalf("packet %+v: want state down with DesiredMinTx 1s", sp.p)
				}
			}
		})
	})
}

func assertWithin(t *testing.T, iv []time.Duration, lo, hi time.Duration) {
	t.Helper()
	for i, d := range iv {
		if d < lo || d > hi {
			t.Fatalf("interval %d = %s, outside [%s, %s]", i, d, lo, hi)
		}
	}
}

func TestTimerNegotiation(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name           string
		ourTx, ourRx   time.Duration
		peerTx, peerRx time.Duration
		peerMult       uint8
		wantTx         time.Duration
		wantDetect     time.Duration
		wantLo, wantHi time.Duration
	}{
		{"peer requiring 300ms slows our 50ms to 225–300ms", 50 * ms, 50 * ms, 300 * ms, 300 * ms, 3, 300 * ms, 900 * ms, 225 * ms, 300 * ms},
		{"peer accepting 50ms does not speed up our 300ms", 300 * ms, 300 * ms, 50 * ms, 50 * ms, 3, 300 * ms, 900 * ms, 225 * ms, 300 * ms},
		{"equal 100ms timers send every 75–100ms", 100 * ms, 100 * ms, 100 * ms, 100 * ms, 3, 100 * ms, 300 * ms, 75 * ms, 100 * ms},
		{"detection uses the peer's slower DesiredMinTx and multiplier", 100 * ms, 100 * ms, 200 * ms, 100 * ms, 5, 100 * ms, 1000 * ms, 75 * ms, 100 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ca, _ := cfgAB(tc.ourTx, tc.ourRx, 3)
				a := newEndpoint(t, ca, 1)
				f, stop := upWithFakePeer(t, a, tc.peerTx, tc.peerRx, tc.peerMult, tc.peerTx*3/4)
				defer stop()
				// Answer our Poll so that the new timers settle.
				time.Sleep(10 * time.Millisecond)
				f.set(func(p *Packet) { p.Final = true })
				time.Sleep(2 * tc.wantTx)
				f.set(func(p *Packet) { p.Final = false })
				waitIdle()
				from := time.Now()
				time.Sleep(10 * time.Second)
				waitIdle()
				st := a.s.snapshot()
				if st.State != StateUp || st.Transitions != 2 {
					t.Fatalf("state %s after %d transitions, want up after 2", st.State, st.Transitions)
				}
				if st.TxInterval != tc.wantTx || st.DetectionTime != tc.wantDetect {
					t.Errorf("tx %s detect %s, want %s and %s", st.TxInterval, st.DetectionTime, tc.wantTx, tc.wantDetect)
				}
				// What we advertise is what we send, so the peer shows it.
				sent := a.sentPackets()
				if got := sent[len(sent)-1].p.DesiredMinTx; got != tc.wantTx {
					t.Errorf("advertised DesiredMinTx %s, want the interval we send at (%s)", got, tc.wantTx)
				}
				iv := periodicIntervals(a.sentPackets(), from, time.Now())
				if want := int(10 * time.Second / tc.wantHi); len(iv) < want-1 {
					t.Fatalf("%d intervals in 10s, want ≥ %d", len(iv), want-1)
				}
				assertWithin(t, iv, tc.wantLo, tc.wantHi)
			})
		})
	}
}

func TestPollIsAnsweredWithFinalAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, _ := cfgAB(300*time.Millisecond, 300*time.Millisecond, 3)
		a := newEndpoint(t, ca, 1)
		f, stop := upWithFakePeer(t, a, 300*time.Millisecond, 300*time.Millisecond, 3, 200*time.Millisecond)
		defer stop()
		// Like FRR right after Up: Poll at once, then keep polling until Final.
		p := f.packet()
		p.Poll = true
		time.Sleep(7 * time.Millisecond)
		at := time.Now()
		before := len(a.sentPackets())
		a.inject(t, p)
		waitIdle()
		sent := a.sentPackets()[before:]
		if len(sent) == 0 || !sent[0].p.Final || sent[0].p.Poll || !sent[0].at.Equal(at) {
			t.Fatalf("after a Poll at %s the session sent %+v, want an immediate Final without Poll", at, sent)
		}
		if st := a.s.snapshot(); st.FinalsSent != 1 || !st.RemotePolling {
			t.Fatalf("status %+v: want one Final sent and the peer seen polling", st)
		}
		time.Sleep(60 * time.Second)
		waitIdle()
		if st := a.s.snapshot(); st.State != StateUp || st.Transitions != 2 {
			t.Fatalf("session %s after %d transitions; want up with no flap", st.State, st.Transitions)
		}
	})
}

func TestOwnPollOnTimerChange(t *testing.T) {
	t.Run("coming Up starts a Poll because DesiredMinTx drops from 1s", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ca, _ := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
			a := newEndpoint(t, ca, 1)
			_, stop := upWithFakePeer(t, a, 100*time.Millisecond, 100*time.Millisecond, 3, 80*time.Millisecond)
			defer stop()
			sent := a.sentPackets()
			last := sent[len(sent)-1].p
			if last.State != StateUp || !last.Poll || last.DesiredMinTx != 100*time.Millisecond {
				t.Fatalf("first Up packet %+v, want Poll with DesiredMinTx 100ms", last)
			}
		})
	})
	t.Run("a larger DesiredMinTx is used only after the Final and never flaps", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ca, _ := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
			a := newEndpoint(t, ca, 1)
			f, stop := upWithFakePeer(t, a, 100*time.Millisecond, 100*time.Millisecond, 3, 80*time.Millisecond)
			defer stop()
			a.inject(t, withFinal(f.packet()))
			time.Sleep(time.Second)
			waitIdle()
			if a.s.snapshot().PollActive {
				t.Fatal("initial poll still active after Final")
			}
			ca.DesiredMinTx = 400 * time.Millisecond
			a.s.ops <- func() { a.s.reconfigure(normalize(ca).withDefaults()) }
			from := time.Now()
			time.Sleep(3 * time.Second)
			waitIdle()
			polling := a.sentPackets()
			iv := periodicIntervals(polling, from, time.Now())
			assertWithin(t, iv, 75*time.Millisecond, 100*time.Millisecond)
			for _, sp := range polling {
				if sp.at.After(from) && (!sp.p.Poll || sp.p.DesiredMinTx != 400*time.Millisecond) {
					t.Fatalf("packet during the poll %+v: want P with DesiredMinTx 400ms", sp.p)
				}
			}
			a.inject(t, withFinal(f.packet()))
			waitIdle()
			from = time.Now()
			time.Sleep(5 * time.Second)
			waitIdle()
			after := a.sentPackets()
			iv = periodicIntervals(after, from, time.Now())
			assertWithin(t, iv, 300*time.Millisecond, 400*time.Millisecond)
			for _, sp := range after {
				if sp.at.After(from) && sp.p.Poll {
					t.Fatalf("still polling after Final: %+v", sp.p)
				}
			}
			if st := a.s.snapshot(); st.State != StateUp || st.Transitions != 2 {
				t.Fatalf("state %s after %d transitions: the timer change flapped the session", st.State, st.Transitions)
			}
		})
	})
	t.Run("a smaller RequiredMinRx shortens detection only after the Final", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ca, _ := cfgAB(100*time.Millisecond, 300*time.Millisecond, 3)
			a := newEndpoint(t, ca, 1)
			f, stop := upWithFakePeer(t, a, 50*time.Millisecond, 100*time.Millisecond, 3, 40*time.Millisecond)
			defer stop()
			a.inject(t, withFinal(f.packet()))
			waitIdle()
			ca.RequiredMinRx = 100 * time.Millisecond
			a.s.ops <- func() { a.s.reconfigure(normalize(ca).withDefaults()) }
			time.Sleep(time.Second)
			waitIdle()
			if st := a.s.snapshot(); st.DetectionTime != 900*time.Millisecond || !st.PollActive {
				t.Fatalf("before Final: detect %s poll %v, want 900ms and polling", st.DetectionTime, st.PollActive)
			}
			a.inject(t, withFinal(f.packet()))
			waitIdle()
			if st := a.s.snapshot(); st.DetectionTime != 300*time.Millisecond || st.PollActive {
				t.Fatalf("after Final: detect %s poll %v, want 300ms and done", st.DetectionTime, st.PollActive)
			}
		})
	})
}

func withFinal(p Packet) Packet { p.Final = true; return p }

func TestDetectionExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, cb := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
		a, b := newEndpoint(t, ca, 1), newEndpoint(t, cb, 2)
		link(a, b)
		stop := runAll(a, b)
		defer stop()
		time.Sleep(3 * time.Second)
		waitIdle()
		if st := a.s.snapshot(); st.State != StateUp || st.DetectionTime != 300*time.Millisecond {
			t.Fatalf("a: %s detect %s, want up with 300ms", st.State, st.DetectionTime)
		}
		b.cut.Store(true)
		cutAt := time.Now()
		time.Sleep(time.Second)
		waitIdle()
		ch := a.stateChanges()
		last := ch[len(ch)-1]
		if last.To != StateDown || last.LocalDiag != DiagControlDetectExpired {
			t.Fatalf("a's last change %+v, want down with control_detection_time_expired", last)
		}
		if took := last.At.Sub(cutAt); took > 300*time.Millisecond || took < 200*time.Millisecond {
			t.Errorf("detected after %s, want within (200ms, 300ms]", took)
		}
		b.cut.Store(false)
		healAt := time.Now()
		time.Sleep(5 * time.Second)
		waitIdle()
		st := a.s.snapshot()
		if st.State != StateUp || st.UpSince.Sub(healAt) > 3*time.Second {
			t.Fatalf("a: %s (up since %s after heal), want Up again within 3s", st.State, st.UpSince.Sub(healAt))
		}
		if st.LocalDiag != DiagNone {
			t.Errorf("local diag after recovery %s, want none", st.LocalDiag)
		}
	})
}

func TestPassiveSessionWaitsForPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, cb := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
		ca.Passive = true
		a, b := newEndpoint(t, ca, 1), newEndpoint(t, cb, 2)
		link(a, b)
		b.cut.Store(true)
		stop := runAll(a, b)
		defer stop()
		time.Sleep(10 * time.Second)
		waitIdle()
		if n := len(a.sentPackets()); n != 0 {
			t.Fatalf("passive session sent %d packets before hearing the peer", n)
		}
		b.cut.Store(false)
		time.Sleep(3 * time.Second)
		waitIdle()
		if st := a.s.snapshot(); st.State != StateUp {
			t.Fatalf("passive session %s after the peer spoke, want up", st.State)
		}
		b.cut.Store(true)
		time.Sleep(2 * time.Second)
		waitIdle()
		n := len(a.sentPackets())
		time.Sleep(10 * time.Second)
		waitIdle()
		if got := len(a.sentPackets()); got != n {
			t.Fatalf("passive session sent %d packets after its peer went silent", got-n)
		}
	})
}

func TestReceivingNeverPostponesTransmit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, _ := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
		a := newEndpoint(t, ca, 1)
		// The peer floods a packet every millisecond.
		f, stop := upWithFakePeer(t, a, 100*time.Millisecond, 100*time.Millisecond, 3, time.Millisecond)
		defer stop()
		a.inject(t, withFinal(f.packet()))
		time.Sleep(time.Second)
		from := time.Now()
		time.Sleep(10 * time.Second)
		waitIdle()
		iv := periodicIntervals(a.sentPackets(), from, time.Now())
		if len(iv) < 99 {
			t.Fatalf("%d packets in 10s under a flood, want ≥ 100", len(iv)+1)
		}
		assertWithin(t, iv, 75*time.Millisecond, 100*time.Millisecond)
	})
}

func TestPeerRequiringNoPacketsGetsNone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, _ := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
		a := newEndpoint(t, ca, 1)
		f, stop := upWithFakePeer(t, a, 100*time.Millisecond, 100*time.Millisecond, 3, 50*time.Millisecond)
		defer stop()
		f.set(func(p *Packet) { p.RequiredMinRx = 0; p.Final = true })
		time.Sleep(time.Second)
		waitIdle()
		n := len(a.sentPackets())
		time.Sleep(5 * time.Second)
		waitIdle()
		if got := len(a.sentPackets()); got != n {
			t.Fatalf("sent %d packets to a peer with RequiredMinRx 0", got-n)
		}
	})
}

func TestShutdownSignalsAdminDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, cb := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
		a, b := newEndpoint(t, ca, 1), newEndpoint(t, cb, 2)
		link(a, b)
		stopA := runAll(a)
		stopB := runAll(b)
		defer stopB()
		time.Sleep(3 * time.Second)
		waitIdle()
		stopA()
		time.Sleep(2 * time.Second)
		waitIdle()
		sent := a.sentPackets()
		var adminDown int
		for _, sp := range sent {
			if sp.p.State == StateAdminDown {
				adminDown++
				if sp.p.Diag != DiagAdministrativelyDown {
					t.Errorf("AdminDown packet with diag %s, want administratively_down", sp.p.Diag)
				}
			}
		}
		if adminDown != shutdownPackets || sent[len(sent)-1].p.State != StateAdminDown {
			t.Fatalf("sent %d AdminDown packets (last %s), want %d at the end", adminDown, sent[len(sent)-1].p.State, shutdownPackets)
		}
		st := b.s.snapshot()
		if st.State != StateDown || st.LocalDiag != DiagNeighborSignaledDown || st.RemoteDiag != DiagAdministrativelyDown {
			t.Fatalf("peer %s local diag %s remote diag %s, want down/neighbor_signaled_session_down/administratively_down",
				st.State, st.LocalDiag, st.RemoteDiag)
		}
	})
}

func TestReapplyingTheSameConfigChangesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, _ := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
		a := newEndpoint(t, ca, 1)
		f, stop := upWithFakePeer(t, a, 100*time.Millisecond, 100*time.Millisecond, 3, 80*time.Millisecond)
		defer stop()
		a.inject(t, withFinal(f.packet()))
		time.Sleep(time.Second)
		from := time.Now()
		a.s.ops <- func() { a.s.reconfigure(normalize(ca).withDefaults()) }
		time.Sleep(time.Second)
		waitIdle()
		for _, sp := range a.sentPackets() {
			if sp.at.After(from) && sp.p.Poll {
				t.Fatalf("an unchanged config started a Poll: %+v", sp.p)
			}
		}
		if st := a.s.snapshot(); st.Transitions != 2 || st.State != StateUp {
			t.Fatalf("state %s after %d transitions", st.State, st.Transitions)
		}
	})
}

// TestAdminDownDiscardsPackets checks §6.8.6: a session in AdminDown
// discards what it receives, so the packet neither changes the remote state
// nor re-arms the detection timer.
func TestAdminDownDiscardsPackets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ca, _ := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
		ep := newEndpoint(t, ca, 1)
		stop := runAll(ep)
		defer stop()
		done := make(chan struct{})
		ep.s.ops <- func() {
			next, act := Step(ep.s.state, EventAdminDown)
			ep.s.transition(next, act)
			close(done)
		}
		<-done
		waitState(t, ep, StateAdminDown)
		ep.inject(t, Packet{State: StateUp, DetectMult: 3, MyDiscriminator: 7, YourDiscriminator: 1,
			DesiredMinTx: 100 * time.Millisecond, RequiredMinRx: 100 * time.Millisecond})
		waitIdle()
		st := ep.s.snapshot()
		if st.PacketsReceived != 0 || st.RemoteDiscriminator != 0 || st.RemoteState != StateDown || st.DetectionTime != 0 {
			t.Fatalf("after a packet in AdminDown: received %d, remote discr %d, remote state %s, detection %s; want it discarded",
				st.PacketsReceived, st.RemoteDiscriminator, st.RemoteState, st.DetectionTime)
		}
		if got := ep.dropReasons(); !slices.Equal(got, []string{DropAdminDown}) {
			t.Fatalf("drops %v, want [%s]", got, DropAdminDown)
		}
	})
}
