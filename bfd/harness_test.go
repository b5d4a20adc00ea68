package bfd

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The in-memory harness: sessions exchange encoded packets through function
// calls instead of sockets, inside a testing/synctest bubble, so every timer
// runs in virtual time.

var (
	addrA = netip.MustParseAddr("127.0.0.1")
	addrB = netip.MustParseAddr("127.0.0.2")
)

type sentPacket struct {
	at time.Time
	p  Packet
}

// endpoint wraps one session and records what it sends and reports.
type endpoint struct {
	s *session

	mu      sync.Mutex
	sent    []sentPacket
	changes []StateChange
	drops   []string
	forward func(b []byte) // to the peer; nil = nowhere
	cut     atomic.Bool    // drop everything this endpoint sends
}

func newEndpoint(t *testing.T, cfg SessionConfig, discr uint32) *endpoint {
	t.Helper()
	cfg = normalize(cfg).withDefaults()
	if err := cfg.validate(); err != nil {
		t.Fatalf("invalid test config: %v", err)
	}
	ep := &endpoint{}
	ep.s = newSession(cfg, discr, sessionDeps{
		send:   ep.send,
		clock:  SystemClock{},
		rng:    rand.New(rand.NewPCG(uint64(discr), 42)),
		log:    slog.New(slog.DiscardHandler),
		notify: ep.onChange,
		drop:   ep.onDrop,
	})
	return ep
}

func (ep *endpoint) send(b []byte) error {
	p, err := Unmarshal(b)
	if err != nil {
		panic("session sent an undecodable packet: " + err.Error())
	}
	ep.mu.Lock()
	ep.sent = append(ep.sent, sentPacket{at: time.Now(), p: p})
	fwd := ep.forward
	ep.mu.Unlock()
	if fwd != nil && !ep.cut.Load() {
		fwd(append([]byte(nil), b...))
	}
	return nil
}

func (ep *endpoint) onChange(c StateChange) {
	ep.mu.Lock()
	ep.changes = append(ep.changes, c)
	ep.mu.Unlock()
}

func (ep *endpoint) onDrop(r string) {
	ep.mu.Lock()
	ep.drops = append(ep.drops, r)
	ep.mu.Unlock()
}

func (ep *endpoint) sentPackets() []sentPacket {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return append([]sentPacket(nil), ep.sent...)
}

func (ep *endpoint) stateChanges() []StateChange {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return append([]StateChange(nil), ep.changes...)
}

func (ep *endpoint) dropReasons() []string {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return append([]string(nil), ep.drops...)
}

// inject delivers a packet as if it came from the network.
func (ep *endpoint) inject(t *testing.T, p Packet) {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatalf("marshal injected packet: %v", err)
	}
	ep.injectRaw(t, b)
}

func (ep *endpoint) injectRaw(t *testing.T, b []byte) {
	t.Helper()
	p, err := Unmarshal(b)
	if err != nil {
		t.Fatalf("unmarshal injected packet: %v", err)
	}
	if !ep.s.deliver(rxPacket{pkt: p, raw: b}) {
		t.Fatal("session receive queue full")
	}
}

// link connects two endpoints both ways.
func link(a, b *endpoint) {
	deliver := func(to *endpoint) func([]byte) {
		return func(raw []byte) {
			p, err := Unmarshal(raw)
			if err == nil {
				to.s.deliver(rxPacket{pkt: p, raw: raw})
			}
		}
	}
	a.mu.Lock()
	a.forward = deliver(b)
	a.mu.Unlock()
	b.mu.Lock()
	b.forward = deliver(a)
	b.mu.Unlock()
}

// runAll starts the sessions; the returned stop cancels them and waits.
func runAll(eps ...*endpoint) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, ep := range eps {
		wg.Go(func() { _ = ep.s.run(ctx) })
	}
	return func() { cancel(); wg.Wait() }
}

// periodic returns the intervals between consecutive non-Final packets sent
// in [from, to).
func periodicIntervals(sent []sentPacket, from, to time.Time) []time.Duration {
	var last time.Time
	var out []time.Duration
	for _, sp := range sent {
		if sp.p.Final || sp.at.Before(from) || !sp.at.Before(to) {
			continue
		}
		if !last.IsZero() {
			out = append(out, sp.at.Sub(last))
		}
		last = sp.at
	}
	return out
}

// fakePeer scripts the remote side of a session: it sends the template
// every interval until stopped, and can be told to go silent.
type fakePeer struct {
	ep       *endpoint
	mu       sync.Mutex
	tmpl     Packet
	interval time.Duration
	silent   bool
}

func (f *fakePeer) set(fn func(p *Packet)) {
	f.mu.Lock()
	fn(&f.tmpl)
	f.mu.Unlock()
}

func (f *fakePeer) packet() Packet {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tmpl
}

func (f *fakePeer) run(t *testing.T, ctx context.Context) {
	for {
		f.mu.Lock()
		iv, silent, p := f.interval, f.silent, f.tmpl
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(iv):
		}
		if !silent {
			b, _ := p.Marshal()
			if q, err := Unmarshal(b); err == nil {
				f.ep.s.deliver(rxPacket{pkt: q, raw: b})
			}
		}
	}
}

// upWithFakePeer brings a session Up against a scripted peer that then
// keeps sending Up packets every interval.
func upWithFakePeer(t *testing.T, ep *endpoint, peerTx, peerRx time.Duration, mult uint8, interval time.Duration) (*fakePeer, func()) {
	t.Helper()
	stopSession := runAll(ep)
	f := &fakePeer{ep: ep, interval: interval, tmpl: Packet{
		State: StateDown, DetectMult: mult, MyDiscriminator: 0xfeed,
		DesiredMinTx: peerTx, RequiredMinRx: peerRx,
	}}
	ep.inject(t, f.packet())
	waitState(t, ep, StateInit)
	f.set(func(p *Packet) { p.State, p.YourDiscriminator = StateUp, ep.s.localDiscr })
	ep.inject(t, f.packet())
	waitState(t, ep, StateUp)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.run(t, ctx) }()
	return f, func() { cancel(); <-done; stopSession() }
}

// waitState lets the bubble settle and asserts the session state.
func waitState(t *testing.T, ep *endpoint, want State) {
	t.Helper()
	waitIdle()
	if got := ep.s.snapshot().State; got != want {
		t.Fatalf("session state = %s, want %s", got, want)
	}
}

func waitIdle() { synctest.Wait() }
