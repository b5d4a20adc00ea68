package bfd

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func mustMarshal(t *testing.T, p Packet) []byte {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDispatchDemultiplexes(t *testing.T) {
	m := NewManager(ManagerConfig{Seed: 1})
	if err := m.AddSession(SessionConfig{Peer: addrB, Local: addrA}); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Session(addrB)
	discr := st.LocalDiscriminator
	stranger := netip.MustParseAddr("127.0.0.9")
	down := Packet{State: StateDown, DetectMult: 3, MyDiscriminator: 77, DesiredMinTx: time.Second, RequiredMinRx: time.Second}
	withYour := func(p Packet, d uint32, s State) Packet { p.YourDiscriminator, p.State = d, s; return p }
	tests := []struct {
		name string
		r    received
		want string
	}{
		{"a packet with TTL 254 is dropped as bad_ttl", received{b: mustMarshal(t, down), ttl: 254, src: addrB, dst: addrA}, DropBadTTL},
		{"a multihop-style packet (TTL 253) from the same peer never reaches the single-hop session",
			received{b: mustMarshal(t, withYour(down, discr, StateUp)), ttl: 253, src: addrB, dst: addrA}, DropBadTTL},
		{"a packet without a TTL control message is dropped as bad_ttl", received{b: mustMarshal(t, down), ttl: -1, src: addrB, dst: addrA}, DropBadTTL},
		{"garbage is dropped as malformed", received{b: []byte("hello, world, this is not bfd"), ttl: 255, src: addrB, dst: addrA}, DropMalformed},
		{"an unknown Your Discriminator is dropped", received{b: mustMarshal(t, withYour(down, discr+1, StateUp)), ttl: 255, src: addrB, dst: addrA}, DropUnknownDiscriminator},
		{"Your Discriminator zero while Up is dropped", received{b: mustMarshal(t, withYour(down, 0, StateUp)), ttl: 255, src: addrB, dst: addrA}, DropZeroYourDiscr},
		{"Your Discriminator zero from an unknown source finds no session", received{b: mustMarshal(t, down), ttl: 255, src: stranger, dst: addrA}, DropNoSession},
		{"Your Discriminator zero to another local address finds no session", received{b: mustMarshal(t, down), ttl: 255, src: addrB, dst: stranger}, DropNoSession},
		{"a known discriminator from the wrong source is dropped", received{b: mustMarshal(t, withYour(down, discr, StateUp)), ttl: 255, src: stranger, dst: addrA}, DropAddressMismatch},
		{"Your Discriminator zero from the peer is delivered", received{b: mustMarshal(t, down), ttl: 255, src: addrB, dst: addrA}, ""},
		{"the peer's packet with our discriminator is delivered", received{b: mustMarshal(t, withYour(down, discr, StateUp)), ttl: 255, src: addrB, dst: addrA}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := m.dispatch(tc.r); got != tc.want {
				t.Fatalf("dispatch = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestManagerAPI(t *testing.T) {
	t.Run("a second session for the same peer is refused", func(t *testing.T) {
		m := NewManager(ManagerConfig{})
		if err := m.AddSession(SessionConfig{Peer: addrB}); err != nil {
			t.Fatal(err)
		}
		if err := m.AddSession(SessionConfig{Peer: addrB}); !errors.Is(err, ErrSessionExists) {
			t.Fatalf("err = %v, want ErrSessionExists", err)
		}
	})
	t.Run("invalid configs are refused with a reason", func(t *testing.T) {
		m := NewManager(ManagerConfig{})
		for _, c := range []SessionConfig{
			{},
			{Peer: addrB, Local: netip.MustParseAddr("::1")},
			{Peer: addrB, DesiredMinTx: time.Microsecond},
			{Peer: addrB, Auth: &AuthConfig{Type: AuthKeyedMD5, Secret: []byte("x")}},
			{Peer: addrB, Auth: &AuthConfig{Type: AuthSimplePassword, Secret: make([]byte, 17)}},
		} {
			if err := m.AddSession(c); err == nil {
				t.Errorf("AddSession(%+v) succeeded", c)
			}
		}
		if n := len(m.Sessions()); n != 0 {
			t.Fatalf("%d sessions after only invalid adds", n)
		}
	})
	t.Run("update and remove need an existing session and keep Local", func(t *testing.T) {
		m := NewManager(ManagerConfig{})
		if err := m.UpdateSession(SessionConfig{Peer: addrB}); !errors.Is(err, ErrNoSession) {
			t.Fatalf("update of unknown peer: %v", err)
		}
		if err := m.RemoveSession(addrB); !errors.Is(err, ErrNoSession) {
			t.Fatalf("remove of unknown peer: %v", err)
		}
		if err := m.AddSession(SessionConfig{Peer: addrB, Local: addrA}); err != nil {
			t.Fatal(err)
		}
		if err := m.UpdateSession(SessionConfig{Peer: addrB, Local: netip.MustParseAddr("127.0.0.3")}); err == nil {
			t.Fatal("a Local change was accepted in place")
		}
		if err := m.UpdateSession(SessionConfig{Peer: addrB, Local: addrA, DesiredMinTx: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if err := m.RemoveSession(addrB); err != nil {
			t.Fatal(err)
		}
		if n := len(m.Sessions()); n != 0 {
			t.Fatalf("%d sessions after remove", n)
		}
	})
	t.Run("sessions are listed by peer with distinct non-zero discriminators", func(t *testing.T) {
		m := NewManager(ManagerConfig{})
		for _, p := range []string{"127.0.0.4", "127.0.0.3", "127.0.0.5"} {
			if err := m.AddSession(SessionConfig{Peer: netip.MustParseAddr(p)}); err != nil {
				t.Fatal(err)
			}
		}
		ss := m.Sessions()
		seen := map[uint32]bool{}
		for i, s := range ss {
			if i > 0 && ss[i-1].Peer.Compare(s.Peer) >= 0 {
				t.Fatalf("not sorted: %s before %s", ss[i-1].Peer, s.Peer)
			}
			if s.LocalDiscriminator == 0 || seen[s.LocalDiscriminator] || s.State != StateDown {
				t.Fatalf("session %+v: want down with a fresh non-zero discriminator", s)
			}
			seen[s.LocalDiscriminator] = true
		}
		if len(ss) != 3 {
			t.Fatalf("%d sessions, want 3", len(ss))
		}
	})
}

func TestSubscribeNeverBlocksPublishers(t *testing.T) {
	m := NewManager(ManagerConfig{})
	ch, cancel := m.Subscribe()
	defer cancel()
	const n = 1000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			m.publish(StateChange{Peer: addrB, From: StateDown, To: State(i % 4)})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("publishing to an unread subscriber blocked")
	}
	for i := range n {
		select {
		case ev := <-ch:
			if ev.To != State(i%4) {
				t.Fatalf("event %d out of order: %+v", i, ev)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d never delivered", i)
		}
	}
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("channel still open after cancel")
	}
}

// A session removed and added again gets a new discriminator, so packets
// meant for the old incarnation (a stale AdminDown, say) cannot touch it.
func TestReAddedSessionIgnoresItsPredecessorsPackets(t *testing.T) {
	m := NewManager(ManagerConfig{Seed: 7})
	if err := m.AddSession(SessionConfig{Peer: addrB, Local: addrA}); err != nil {
		t.Fatal(err)
	}
	old, _ := m.Session(addrB)
	if err := m.RemoveSession(addrB); err != nil {
		t.Fatal(err)
	}
	if err := m.AddSession(SessionConfig{Peer: addrB, Local: addrA}); err != nil {
		t.Fatal(err)
	}
	cur, _ := m.Session(addrB)
	if cur.LocalDiscriminator == old.LocalDiscriminator {
		t.Fatalf("re-added session reuses discriminator %d", old.LocalDiscriminator)
	}
	stale := Packet{State: StateAdminDown, Diag: DiagAdministrativelyDown, DetectMult: 3, MyDiscriminator: 5,
		YourDiscriminator: old.LocalDiscriminator, DesiredMinTx: time.Second, RequiredMinRx: time.Second}
	if got := m.dispatch(received{b: mustMarshal(t, stale), ttl: 255, src: addrB, dst: addrA}); got != DropUnknownDiscriminator {
		t.Fatalf("stale packet: dispatch = %q, want %q", got, DropUnknownDiscriminator)
	}
}
