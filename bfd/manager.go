package bfd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Drop reasons counted by Manager.Drops.
const (
	DropBadTTL               = "bad_ttl"
	DropMalformed            = "malformed"
	DropZeroYourDiscr        = "zero_your_discriminator"
	DropUnknownDiscriminator = "unknown_discriminator"
	DropNoSession            = "no_session"
	DropAddressMismatch      = "address_mismatch"
	DropAuth                 = "auth"
	DropQueueFull            = "queue_full"
	// DropAdminDown: a packet for a session we hold in AdminDown (§6.8.6).
	DropAdminDown = "admin_down"
)

// ErrNoSession is returned for operations on a peer without a session.
var ErrNoSession = errors.New("bfd: no session for peer")

// ErrSessionExists is returned by AddSession for a peer that has one.
var ErrSessionExists = errors.New("bfd: session for peer already exists")

// shutdownDeadline bounds how long Run waits for sessions to say AdminDown.
const shutdownDeadline = 2 * time.Second

// readErrorBackoff paces the receive loop after a socket error.
const readErrorBackoff = 10 * time.Millisecond

// ManagerConfig configures a Manager. Zero fields take defaults.
type ManagerConfig struct {
	// Port is the BFD control port to listen on and to send to; 3784.
	Port int
	// ListenAddrs are the addresses to receive on. Default: 0.0.0.0 and ::
	// (:: is skipped with a warning when IPv6 is unavailable).
	ListenAddrs []netip.Addr
	// Logger receives one line per state change; default discards.
	Logger *slog.Logger
	// ListenPacket creates every socket (receive and per-session send);
	// interop tests use it to create them inside a network namespace.
	ListenPacket ListenPacketFunc
	// Clock defaults to SystemClock.
	Clock Clock
	// Seed seeds jitter and discriminators; 0 picks a random seed.
	Seed uint64
}

// Manager owns the BFD sessions of one process: the receive sockets,
// demultiplexing, discriminator allocation and state-change fan-out.
type Manager struct {
	cfg ManagerConfig
	log *slog.Logger

	mu       sync.Mutex
	rng      *rand.Rand
	byPeer   map[netip.Addr]*entry
	byDiscr  map[uint32]*entry
	running  bool
	base     context.Context // set while Run is active
	sessWG   sync.WaitGroup
	drops    map[string]uint64
	subs     map[*subscriber]struct{}
	finished bool
}

type entry struct {
	s      *session
	cfg    SessionConfig
	cancel context.CancelFunc
	done   chan struct{}
}

// NewManager returns a Manager; it starts nothing.
func NewManager(cfg ManagerConfig) *Manager {
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ListenPacket == nil {
		cfg.ListenPacket = defaultListenPacket
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Manager{
		cfg:     cfg,
		log:     cfg.Logger,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		byPeer:  map[netip.Addr]*entry{},
		byDiscr: map[uint32]*entry{},
		drops:   map[string]uint64{},
		subs:    map[*subscriber]struct{}{},
	}
}

// Run opens the receive sockets, starts every session and blocks until ctx
// ends; then each session sends AdminDown (diag 7) and the sockets close,
// within a bounded time.
func (m *Manager) Run(ctx context.Context) error {
	addrs := m.cfg.ListenAddrs
	defaults := len(addrs) == 0
	if defaults {
		addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	var listeners []*listener
	closeAll := func() {
		for _, l := range listeners {
			l.conn.Close()
		}
	}
	for _, a := range addrs {
		l, err := openListener(m.cfg.ListenPacket, a, m.cfg.Port)
		if err != nil {
			if defaults && a.Is6() {
				m.log.Warn("bfd ipv6 listener unavailable", "error", err)
				continue
			}
			closeAll()
			return fmt.Errorf("start bfd: %w", err)
		}
		listeners = append(listeners, l)
	}

	m.mu.Lock()
	if m.running || m.finished {
		m.mu.Unlock()
		closeAll()
		return errors.New("start bfd: manager already ran")
	}
	m.running = true
	m.base = context.WithoutCancel(ctx)
	var startErr error
	for _, e := range m.byPeer {
		if err := m.startLocked(e); err != nil {
			startErr = err
			break
		}
	}
	m.mu.Unlock()

	var rxWG sync.WaitGroup
	if startErr == nil {
		for _, l := range listeners {
			rxWG.Go(func() { m.receiveLoop(l) })
		}
		<-ctx.Done()
	}
	closeAll()
	rxWG.Wait()
	m.stopAll()
	if startErr != nil {
		return fmt.Errorf("start bfd: %w", startErr)
	}
	return nil
}

func (m *Manager) stopAll() {
	m.mu.Lock()
	m.running = false
	m.finished = true
	for _, e := range m.byPeer {
		if e.cancel != nil {
			e.cancel()
		}
	}
	m.mu.Unlock()
	done := make(chan struct{})
	go func() { m.sessWG.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownDeadline):
		m.log.Warn("bfd sessions did not stop within the shutdown deadline", "deadline", shutdownDeadline)
	}
}

// startLocked opens the session's socket and starts its loop. m.mu held.
func (m *Manager) startLocked(e *entry) error {
	conn, err := openSender(m.cfg.ListenPacket, m.rng, e.cfg.Local, e.cfg.Peer)
	if err != nil {
		return fmt.Errorf("open bfd socket for peer %s: %w", e.cfg.Peer, err)
	}
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.cfg.Peer, uint16(m.cfg.Port)))
	e.s.send = func(b []byte) error {
		_, err := conn.WriteTo(b, dst)
		return err
	}
	ctx, cancel := context.WithCancel(m.base)
	e.cancel, e.done = cancel, make(chan struct{})
	m.sessWG.Add(1)
	go func() {
		defer m.sessWG.Done()
		defer close(e.done)
		defer conn.Close()
		_ = e.s.run(ctx)
	}()
	return nil
}

func (m *Manager) newDiscrLocked() uint32 {
	for {
		d := m.rng.Uint32()
		if _, taken := m.byDiscr[d]; d != 0 && !taken {
			return d
		}
	}
}

// AddSession adds a session; it starts at once when Run is active, else
// when Run starts.
func (m *Manager) AddSession(c SessionConfig) error {
	c = normalize(c).withDefaults()
	if err := c.validate(); err != nil {
		return fmt.Errorf("add bfd session: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byPeer[c.Peer]; ok {
		return fmt.Errorf("add bfd session %s: %w", c.Peer, ErrSessionExists)
	}
	discr := m.newDiscrLocked()
	seed := m.rng.Uint64()
	e := &entry{cfg: c}
	e.s = newSession(c, discr, sessionDeps{
		send:   func([]byte) error { return errors.New("session not started") },
		clock:  m.cfg.Clock,
		rng:    rand.New(rand.NewPCG(seed, uint64(discr))),
		log:    m.log,
		notify: m.publish,
		drop:   m.countDrop,
	})
	if m.running {
		if err := m.startLocked(e); err != nil {
			return fmt.Errorf("add bfd session: %w", err)
		}
	}
	m.byPeer[c.Peer] = e
	m.byDiscr[discr] = e
	return nil
}

// UpdateSession changes timers, multiplier, passive mode or auth of an
// existing session in place. Timer changes while Up go through a Poll
// sequence, so a healthy session does not flap. Changing Local is refused:
// remove and add the session instead.
func (m *Manager) UpdateSession(c SessionConfig) error {
	c = normalize(c).withDefaults()
	if err := c.validate(); err != nil {
		return fmt.Errorf("update bfd session: %w", err)
	}
	m.mu.Lock()
	e, ok := m.byPeer[c.Peer]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("update bfd session %s: %w", c.Peer, ErrNoSession)
	}
	if c.Local != e.cfg.Local {
		m.mu.Unlock()
		return fmt.Errorf("update bfd session %s: local address change %s -> %s needs remove and add", c.Peer, e.cfg.Local, c.Local)
	}
	e.cfg = c
	if e.done == nil {
		e.s.reconfigure(c)
		m.mu.Unlock()
		return nil
	}
	done := e.done
	m.mu.Unlock()
	select {
	case e.s.ops <- func() { e.s.reconfigure(c) }:
		return nil
	case <-done:
		return fmt.Errorf("update bfd session %s: %w", c.Peer, ErrNoSession)
	}
}

// RemoveSession stops a session: it signals AdminDown (diag 7) to the peer
// and is gone when RemoveSession returns.
func (m *Manager) RemoveSession(peer netip.Addr) error {
	peer = peer.Unmap()
	m.mu.Lock()
	e, ok := m.byPeer[peer]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("remove bfd session %s: %w", peer, ErrNoSession)
	}
	delete(m.byPeer, peer)
	delete(m.byDiscr, e.s.localDiscr)
	m.mu.Unlock()
	if e.cancel != nil {
		e.cancel()
		<-e.done
	}
	return nil
}

// Sessions returns a snapshot of every session, ordered by peer.
func (m *Manager) Sessions() []SessionStatus {
	m.mu.Lock()
	es := slices.Collect(maps.Values(m.byPeer))
	m.mu.Unlock()
	out := make([]SessionStatus, 0, len(es))
	for _, e := range es {
		out = append(out, e.s.snapshot())
	}
	slices.SortFunc(out, func(a, b SessionStatus) int { return a.Peer.Compare(b.Peer) })
	return out
}

// Session returns the snapshot of one session.
func (m *Manager) Session(peer netip.Addr) (SessionStatus, bool) {
	m.mu.Lock()
	e, ok := m.byPeer[peer.Unmap()]
	m.mu.Unlock()
	if !ok {
		return SessionStatus{}, false
	}
	return e.s.snapshot(), true
}

// Drops returns the number of received packets dropped, by reason.
func (m *Manager) Drops() map[string]uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.drops)
}

func (m *Manager) countDrop(reason string) {
	m.mu.Lock()
	m.drops[reason]++
	m.mu.Unlock()
}

func (m *Manager) receiveLoop(l *listener) {
	buf := make([]byte, 1500)
	for {
		r, err := l.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Back off so that a persistent socket error cannot spin a core.
			m.log.Warn("read bfd packet", "error", err)
			time.Sleep(readErrorBackoff)
			continue
		}
		if reason := m.dispatch(r); reason != "" {
			m.countDrop(reason)
		}
	}
}

// dispatch validates and demultiplexes one datagram (RFC 5880 §6.8.6,
// RFC 5881 §5). It returns the drop reason, or "" when delivered.
func (m *Manager) dispatch(r received) string {
	if r.ttl != gtsmTTL {
		return DropBadTTL
	}
	p, err := Unmarshal(r.b)
	if err != nil {
		if errors.Is(err, ErrYourDiscriminator) {
			return DropZeroYourDiscr
		}
		return DropMalformed
	}
	m.mu.Lock()
	var e *entry
	if p.YourDiscriminator != 0 {
		e = m.byDiscr[p.YourDiscriminator]
		if e == nil {
			m.mu.Unlock()
			return DropUnknownDiscriminator
		}
		if e.cfg.Peer != r.src {
			m.mu.Unlock()
			return DropAddressMismatch
		}
	} else {
		e = m.byPeer[r.src]
		if e == nil || (e.cfg.Local.IsValid() && r.dst.IsValid() && e.cfg.Local != r.dst) {
			m.mu.Unlock()
			return DropNoSession
		}
	}
	m.mu.Unlock()
	raw := append([]byte(nil), r.b[:r.b[3]]...)
	if !e.s.deliver(rxPacket{pkt: p, raw: raw}) {
		return DropQueueFull
	}
	return ""
}

func normalize(c SessionConfig) SessionConfig {
	c.Peer = c.Peer.Unmap()
	c.Local = c.Local.Unmap()
	return c
}
