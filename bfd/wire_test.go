package bfd_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/rsagent/rsagent/bfd"
	"github.com/rsagent/rsagent/internal/loophost"
)

// mutableConn lets a test silence a peer's sends without closing anything,
// like a peer whose process froze.
type mutableConn struct {
	*net.UDPConn
	mute *atomic.Bool
}

func (c mutableConn) WriteTo(b []byte, a net.Addr) (int, error) {
	if c.mute.Load() {
		return len(b), nil
	}
	return c.UDPConn.WriteTo(b, a)
}

type socketLog struct {
	mu    sync.Mutex
	binds []string
}

func (l *socketLog) listen(mute *atomic.Bool) bfd.ListenPacketFunc {
	return func(network, address string) (net.PacketConn, error) {
		l.mu.Lock()
		l.binds = append(l.binds, address)
		l.mu.Unlock()
		c, err := net.ListenPacket(network, address)
		if err != nil {
			return nil, err
		}
		return mutableConn{UDPConn: c.(*net.UDPConn), mute: mute}, nil
	}
}

func freeUDPPort(t testing.TB) int {
	t.Helper()
	p, err := loophost.StablePort("udp", netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return int(p)
}

type wireEnd struct {
	m      *bfd.Manager
	mute   atomic.Bool
	log    socketLog
	cancel context.CancelFunc
	done   chan error
}

func startWireEnd(t *testing.T, port int, local, peer netip.Addr, tx time.Duration) *wireEnd {
	t.Helper()
	w := &wireEnd{done: make(chan error, 1)}
	w.m = bfd.NewManager(bfd.ManagerConfig{Port: port, ListenAddrs: []netip.Addr{local}, ListenPacket: w.log.listen(&w.mute)})
	if err := w.m.AddSession(bfd.SessionConfig{Peer: peer, Local: local, DesiredMinTx: tx, RequiredMinRx: tx, DetectMult: 3}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		err := w.m.Run(ctx)
		if err != nil {
			t.Errorf("run: %v", err)
		}
		w.done <- err
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *wireEnd) stop() {
	w.cancel()
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func state(m *bfd.Manager, peer netip.Addr) bfd.SessionStatus {
	st, _ := m.Session(peer)
	return st
}

// nextChange waits for a change to the given state.
func nextChange(t *testing.T, ch <-chan bfd.StateChange, to bfd.State, within time.Duration) bfd.StateChange {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev := <-ch:
			if ev.To == to {
				return ev
			}
		case <-timeout:
			t.Fatalf("no change to %s within %s", to, within)
		}
	}
}

func TestLoopbackSessionsDetectAndRecover(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time loopback test")
	}
	a4, b4 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	port := freeUDPPort(t)
	const tx = 100 * time.Millisecond
	a := startWireEnd(t, port, a4, b4, tx)
	b := startWireEnd(t, port, b4, a4, tx)
	events, unsubscribe := a.m.Subscribe()
	defer unsubscribe()

	t.Run("both endpoints come up", func(t *testing.T) {
		waitFor(t, 3*time.Second, "both Up", func() bool {
			return state(a.m, b4).State == bfd.StateUp && state(b.m, a4).State == bfd.StateUp
		})
		waitFor(t, 3*time.Second, "poll settled", func() bool {
			s := state(a.m, b4)
			return !s.PollActive && s.DetectionTime == 3*tx
		})
	})

	t.Run("send sockets use a source port in 49152–65535", func(t *testing.T) {
		a.log.mu.Lock()
		defer a.log.mu.Unlock()
		senders := 0
		for _, addr := range a.log.binds {
			ap := netip.MustParseAddrPort(addr)
			if int(ap.Port()) == port {
				continue
			}
			senders++
			if ap.Port() < 49152 {
				t.Errorf("sender bound to %s", addr)
			}
		}
		if senders == 0 {
			t.Fatal("no sender socket was created")
		}
	})

	t.Run("a stopped peer is detected within the detection time", func(t *testing.T) {
		b.mute.Store(true)
		muted := time.Now()
		ev := nextChange(t, events, bfd.StateDown, 2*time.Second)
		took := ev.At.Sub(muted)
		t.Logf("detected after %s (detection time %s)", took, 3*tx)
		if ev.LocalDiag != bfd.DiagControlDetectExpired {
			t.Errorf("diag %s, want control_detection_time_expired", ev.LocalDiag)
		}
		// 20ms allows for scheduling on a shared CI machine.
		if took > 3*tx+20*time.Millisecond {
			t.Errorf("detection took %s, want ≤ %s", took, 3*tx)
		}
	})

	t.Run("the session recovers when the peer speaks again", func(t *testing.T) {
		b.mute.Store(false)
		unmuted := time.Now()
		ev := nextChange(t, events, bfd.StateUp, 5*time.Second)
		if ev.At.Before(unmuted) {
			t.Fatalf("came up at %s, before the peer was heard again at %s", ev.At, unmuted)
		}
		t.Logf("up again after %s", ev.At.Sub(unmuted))
	})

	t.Run("packets with TTL below 255 are dropped and counted", func(t *testing.T) {
		before := a.m.Drops()[bfd.DropBadTTL]
		c, err := net.ListenPacket("udp4", "127.0.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := ipv4.NewPacketConn(c).SetTTL(254); err != nil {
			t.Fatal(err)
		}
		p := bfd.Packet{State: bfd.StateDown, DetectMult: 3, MyDiscriminator: 5, DesiredMinTx: time.Second, RequiredMinRx: time.Second}
		raw, _ := p.Marshal()
		if _, err := c.WriteTo(raw, net.UDPAddrFromAddrPort(netip.AddrPortFrom(a4, uint16(port)))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Second, "bad_ttl counted", func() bool { return a.m.Drops()[bfd.DropBadTTL] > before })
		if st := state(a.m, b4); st.State != bfd.StateUp {
			t.Fatalf("session %s after a forged packet", st.State)
		}
	})

	t.Run("a timer change while up polls and never flaps", func(t *testing.T) {
		before := state(a.m, b4).Transitions
		if err := a.m.UpdateSession(bfd.SessionConfig{Peer: b4, Local: a4, DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: tx, DetectMult: 3}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 3*time.Second, "new TX interval", func() bool {
			s := state(a.m, b4)
			return s.TxInterval == 300*time.Millisecond && !s.PollActive
		})
		waitFor(t, 3*time.Second, "peer's detection time follows", func() bool {
			return state(b.m, a4).DetectionTime == 900*time.Millisecond
		})
		if st := state(a.m, b4); st.Transitions != before || st.State != bfd.StateUp {
			t.Fatalf("transitions %d → %d, state %s", before, st.Transitions, st.State)
		}
	})

	t.Run("stopping a manager signals AdminDown to the peer", func(t *testing.T) {
		b.stop()
		ev := nextChange(t, events, bfd.StateDown, 2*time.Second)
		if ev.LocalDiag != bfd.DiagNeighborSignaledDown || ev.RemoteDiag != bfd.DiagAdministrativelyDown {
			t.Fatalf("change %+v: want neighbor_signaled_session_down / administratively_down", ev)
		}
	})
}
