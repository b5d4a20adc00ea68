package bfd

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// Defaults applied to zero SessionConfig fields.
const (
	DefaultMinTx      = 300 * time.Millisecond
	DefaultMinRx      = 300 * time.Millisecond
	DefaultDetectMult = 3
	// slowTxInterval is the floor for DesiredMinTx while not Up (§6.8.3).
	slowTxInterval = time.Second
	// shutdownPackets AdminDown packets are sent on shutdown, shutdownGap apart.
	shutdownPackets = 3
	shutdownGap     = 20 * time.Millisecond
	// maxJitterHeadroom caps the margin kept below the jitter's upper bound.
	maxJitterHeadroom = 10 * time.Millisecond
)

// AuthConfig enables authentication on a session. Supported types are
// AuthSimplePassword, AuthKeyedSHA1 and AuthMeticulousSHA1; Secret is the
// password (1–16 bytes) or the SHA1 key (1–20 bytes).
type AuthConfig struct {
	Type   AuthType
	KeyID  uint8
	Secret []byte
}

// SessionConfig describes one single-hop session. Zero timers and
// multiplier take the defaults above.
type SessionConfig struct {
	Peer          netip.Addr // required; the key of the session
	Local         netip.Addr // source address; invalid = let the kernel choose
	DesiredMinTx  time.Duration
	RequiredMinRx time.Duration
	DetectMult    uint8
	Passive       bool // send nothing until the peer has spoken (§6.1)
	Auth          *AuthConfig
}

func (c SessionConfig) withDefaults() SessionConfig {
	if c.DesiredMinTx == 0 {
		c.DesiredMinTx = DefaultMinTx
	}
	if c.RequiredMinRx == 0 {
		c.RequiredMinRx = DefaultMinRx
	}
	if c.DetectMult == 0 {
		c.DetectMult = DefaultDetectMult
	}
	return c
}

// Validate reports whether AddSession and UpdateSession would accept c (after
// the defaults), so that a caller can check a whole change before making any.
func (c SessionConfig) Validate() error { return normalize(c).withDefaults().validate() }

func (c SessionConfig) validate() error {
	switch {
	case !c.Peer.IsValid():
		return errors.New("peer address is required")
	case c.Local.IsValid() && c.Local.Unmap().Is4() != c.Peer.Unmap().Is4():
		return fmt.Errorf("local %s and peer %s are of different families", c.Local, c.Peer)
	case c.DesiredMinTx < time.Millisecond || c.RequiredMinRx < time.Millisecond:
		return fmt.Errorf("timers below 1ms (min_tx %s, min_rx %s)", c.DesiredMinTx, c.RequiredMinRx)
	case c.DesiredMinTx > time.Hour || c.RequiredMinRx > time.Hour:
		return fmt.Errorf("timers above 1h (min_tx %s, min_rx %s)", c.DesiredMinTx, c.RequiredMinRx)
	}
	if a := c.Auth; a != nil {
		switch a.Type {
		case AuthSimplePassword:
			if len(a.Secret) < 1 || len(a.Secret) > maxPasswordLen {
				return fmt.Errorf("auth password length %d not in 1..16", len(a.Secret))
			}
		case AuthKeyedSHA1, AuthMeticulousSHA1:
			if len(a.Secret) < 1 || len(a.Secret) > sha1DigestLen {
				return fmt.Errorf("auth sha1 key length %d not in 1..20", len(a.Secret))
			}
		default:
			return fmt.Errorf("auth type %s is not supported", a.Type)
		}
	}
	return nil
}

// SessionStatus is a snapshot of one session.
type SessionStatus struct {
	Peer, Local         netip.Addr
	State               State
	RemoteState         State
	LocalDiag           Diag
	RemoteDiag          Diag
	LocalDiscriminator  uint32
	RemoteDiscriminator uint32
	// TxInterval is the negotiated interval before jitter:
	// max(our DesiredMinTx in use, their RequiredMinRx).
	TxInterval time.Duration
	// DetectionTime is their DetectMult × max(our RequiredMinRx in use,
	// their DesiredMinTx); zero until the peer has been heard.
	DetectionTime       time.Duration
	RemoteDesiredMinTx  time.Duration
	RemoteRequiredMinRx time.Duration
	RemoteDetectMult    uint8
	PollActive          bool
	// RemotePolling: the peer's last packet had P set. It stays set until
	// the peer has our Final, so a peer stuck polling shows here.
	RemotePolling   bool
	FinalsSent      uint64
	Passive         bool
	UpSince         time.Time // zero unless Up
	PacketsSent     uint64
	PacketsReceived uint64
	Transitions     uint64
}

// StateChange reports one session state transition.
type StateChange struct {
	Peer       netip.Addr
	From, To   State
	LocalDiag  Diag
	RemoteDiag Diag
	At         time.Time
}

type rxPacket struct {
	pkt Packet
	raw []byte // the packet as received, up to its Length, for auth digests
}

// session is one BFD session. All fields below "loop-owned" are touched only
// by the goroutine in run; the rest of the package talks to it through rx,
// ops and the status snapshot.
type session struct {
	localDiscr uint32
	send       func([]byte) error
	clock      Clock
	rng        *rand.Rand
	log        *slog.Logger
	notify     func(StateChange)
	drop       func(reason string)

	rx  chan rxPacket
	ops chan func()

	// loop-owned
	cfg                      SessionConfig
	state                    State
	localDiag                Diag
	remoteDiscr              uint32
	remoteState              State
	remoteDiag               Diag
	remoteMinRx, remoteMinTx time.Duration
	remoteMult               uint8
	advTx, advRx             time.Duration // the values we put in packets
	useTx, useRx             time.Duration // the values our own timers use
	pollActive               bool
	lastTx                   time.Time
	txTimer, detectTimer     Timer
	txInterval               time.Duration // last scheduled, to spot changes
	txEnabled                bool
	xmitSeq, rcvSeq          uint32
	rcvSeqKnown              bool
	// rcvSeqForget is when rcvSeqKnown lapses: twice the detection time
	// after the last authenticated packet (§6.8.1).
	rcvSeqForget          time.Time
	upSince               time.Time
	sent, received, trans uint64
	finalsSent            uint64
	remotePolling         bool

	mu     sync.Mutex
	status SessionStatus
}

type sessionDeps struct {
	send   func([]byte) error
	clock  Clock
	rng    *rand.Rand
	log    *slog.Logger
	notify func(StateChange)
	drop   func(reason string)
}

func newSession(cfg SessionConfig, localDiscr uint32, d sessionDeps) *session {
	s := &session{
		localDiscr:  localDiscr,
		send:        d.send,
		clock:       d.clock,
		rng:         d.rng,
		log:         d.log.With("peer", cfg.Peer.String()),
		notify:      d.notify,
		drop:        d.drop,
		rx:          make(chan rxPacket, 64),
		ops:         make(chan func(), 8),
		cfg:         cfg,
		state:       StateDown,
		remoteState: StateDown,
		remoteMinRx: time.Microsecond, // §6.8.1 initial bfd.RemoteMinRxInterval
		xmitSeq:     d.rng.Uint32(),
	}
	s.advTx, s.advRx = s.wantTimers()
	s.useTx, s.useRx = s.advTx, s.advRx
	s.publish()
	return s
}

// deliver hands a received packet to the session without blocking the
// receiver; a full queue is a drop.
func (s *session) deliver(p rxPacket) bool {
	select {
	case s.rx <- p:
		return true
	default:
		return false
	}
}

// run is the session loop. On ctx end it signals AdminDown with diag 7.
func (s *session) run(ctx context.Context) error {
	s.txTimer = s.clock.NewTimer(time.Hour)
	s.txTimer.Stop()
	s.detectTimer = s.clock.NewTimer(time.Hour)
	s.detectTimer.Stop()
	defer s.txTimer.Stop()
	defer s.detectTimer.Stop()
	s.rescheduleTx(true)
	for {
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case p := <-s.rx:
			s.receive(p)
		case <-s.txTimer.C():
			s.transmit(false)
			s.rescheduleTx(true)
		case <-s.detectTimer.C():
			s.detectExpired()
		case op := <-s.ops:
			op()
		}
		s.publish()
	}
}

// wantTimers returns the DesiredMinTx and RequiredMinRx to advertise now.
// While Up, the advertised DesiredMinTx is the interval we really send at:
// never below the peer's RequiredMinRx. That changes nothing on the wire
// (TX is max(ours, theirs) either way, and so is the peer's detection time)
// but makes the peer's view truthful: FRR's `show bfd peers` prints our
// advertised value as our transmission interval.
func (s *session) wantTimers() (tx, rx time.Duration) {
	tx = s.cfg.DesiredMinTx
	if s.state != StateUp {
		tx = max(tx, slowTxInterval)
	} else {
		tx = max(tx, s.remoteMinRx)
	}
	return tx, s.cfg.RequiredMinRx
}

// updateTimers applies §6.8.3: a change of the advertised values while Up
// starts a Poll; a larger DesiredMinTx or a smaller RequiredMinRx is used
// only after the Final, everything else at once.
func (s *session) updateTimers() {
	tx, rx := s.wantTimers()
	if tx == s.advTx && rx == s.advRx {
		return
	}
	up := s.state == StateUp
	if up {
		s.pollActive = true
	}
	s.advTx, s.advRx = tx, rx
	if !up || tx < s.useTx {
		s.useTx = tx
	}
	if !up || rx > s.useRx {
		s.useRx = rx
	}
	s.rescheduleTx(false)
}

func (s *session) negotiatedTx() time.Duration { return max(s.useTx, s.remoteMinRx) }

func (s *session) detectionTime() time.Duration {
	if s.remoteMult == 0 {
		return 0
	}
	return time.Duration(s.remoteMult) * max(s.useRx, s.remoteMinTx)
}

// jitter applies §6.8.7: the interval between two packets is 75–100 % of
// the negotiated interval, 75–90 % when our multiplier is 1. The draw stops
// short of the upper bound by a headroom because the interval actually
// observed is the draw plus the timer's wake-up latency: without headroom a
// latency of δ pushes about 4δ/d of all intervals past 100 %, and the Go
// scheduler can add up to its 10 ms preemption slice when every CPU is busy.
func (s *session) jitter(d time.Duration) time.Duration {
	lo := d * 3 / 4
	hi := d
	if s.cfg.DetectMult == 1 {
		hi = d * 9 / 10
	}
	hi -= jitterHeadroom(hi-lo, d)
	return lo + time.Duration(s.rng.Int64N(int64(hi-lo)+1))
}

// jitterHeadroom is min(d/10, 10ms), reduced so that at least 10 % of the
// interval is left for randomness (span is the RFC's allowed range).
func jitterHeadroom(span, d time.Duration) time.Duration {
	return max(min(d/10, maxJitterHeadroom, span-d/10), 0)
}

// rescheduleTx arms the TX timer relative to the last transmission (never
// relative to a reception). force re-draws the jitter even when the
// negotiated interval did not change.
func (s *session) rescheduleTx(force bool) {
	if s.txTimer == nil { // not running yet: run arms the timer
		return
	}
	enabled := s.mayTransmit()
	iv := s.negotiatedTx()
	if !force && enabled == s.txEnabled && iv == s.txInterval {
		return
	}
	s.txEnabled, s.txInterval = enabled, iv
	if !enabled {
		s.txTimer.Stop()
		return
	}
	wait := time.Duration(0)
	if !s.lastTx.IsZero() {
		wait = s.lastTx.Add(s.jitter(iv)).Sub(s.clock.Now())
	}
	s.txTimer.Reset(max(wait, 0))
}

// mayTransmit: §6.8.7 — a passive session waits for the peer, and a peer
// with RequiredMinRx zero asked for no periodic packets.
func (s *session) mayTransmit() bool {
	if s.state == StateAdminDown {
		return false
	}
	if s.cfg.Passive && s.remoteDiscr == 0 {
		return false
	}
	return s.remoteMinRx != 0
}

func (s *session) buildPacket(final bool) Packet {
	p := Packet{
		Diag:              s.localDiag,
		State:             s.state,
		Poll:              s.pollActive && !final,
		Final:             final,
		DetectMult:        s.cfg.DetectMult,
		MyDiscriminator:   s.localDiscr,
		YourDiscriminator: s.remoteDiscr,
		DesiredMinTx:      s.advTx,
		RequiredMinRx:     s.advRx,
	}
	if a := s.cfg.Auth; a != nil {
		p.Auth = &Auth{Type: a.Type, KeyID: a.KeyID}
		if a.Type == AuthSimplePassword {
			p.Auth.Password = a.Secret
		} else {
			p.Auth.Sequence = s.xmitSeq
			s.xmitSeq++
		}
	}
	return p
}

// transmit sends one packet. Periodic packets re-anchor the TX timer;
// a Final is sent out of band and does not.
func (s *session) transmit(final bool) {
	p := s.buildPacket(final)
	b, err := p.Marshal()
	if err != nil {
		s.log.Error("encode bfd packet", "error", err)
		return
	}
	if p.Auth != nil && p.Auth.Type != AuthSimplePassword {
		signSHA1(b, s.cfg.Auth.Secret)
	}
	if !final {
		s.lastTx = s.clock.Now()
	}
	if err := s.send(b); err != nil {
		s.log.Debug("send bfd packet", "error", err)
		return
	}
	s.sent++
	if final {
		s.finalsSent++
	}
}

func (s *session) receive(in rxPacket) {
	p := in.pkt
	if s.state == StateAdminDown {
		// §6.8.6: in AdminDown a received packet is discarded whole; it
		// must not refresh the remote's state or re-arm detection.
		s.drop(DropAdminDown)
		return
	}
	if !s.authOK(in) {
		s.drop("auth")
		return
	}
	s.received++
	s.remoteDiscr = p.MyDiscriminator
	s.remoteState = p.State
	s.remoteDiag = p.Diag
	minRxChanged := s.remoteMinRx != p.RequiredMinRx
	s.remoteMinRx = p.RequiredMinRx
	s.remoteMinTx = p.DesiredMinTx
	s.remoteMult = p.DetectMult
	s.remotePolling = p.Poll
	if p.Final && s.pollActive {
		s.pollActive = false
		s.useTx, s.useRx = s.advTx, s.advRx
	}
	next, act := Step(s.state, recvEvent(p.State))
	if !act.Discard {
		s.transition(next, act)
	}
	if minRxChanged && s.state == StateUp {
		s.updateTimers() // our advertised DesiredMinTx follows it (Poll)
	}
	if p.Poll && s.mayAnswer() {
		s.transmit(true)
	}
	s.rescheduleTx(false)
	if d := s.detectionTime(); d > 0 {
		s.detectTimer.Reset(d)
	}
}

// mayAnswer: a Final is owed even by a passive session, since the peer has
// just spoken; only AdminDown stays silent.
func (s *session) mayAnswer() bool { return s.state != StateAdminDown }

func (s *session) detectExpired() {
	// §6.8.1: without packets for a detection time the remote is forgotten.
	s.remoteDiscr = 0
	s.remoteState = StateDown
	s.remoteMinTx = 0
	s.remoteMult = 0
	s.remoteMinRx = time.Microsecond
	next, act := Step(s.state, EventDetectExpired)
	s.transition(next, act)
	s.rescheduleTx(false)
}

// transition records a state change, adjusts timers and sends a packet at
// once so that the peer learns the new state without waiting up to 1 s.
func (s *session) transition(next State, act Actions) {
	if act.SetDiag {
		s.localDiag = act.Diag
	}
	if next == s.state {
		return
	}
	from := s.state
	s.state = next
	s.trans++
	now := s.clock.Now()
	if next == StateUp {
		s.upSince = now
	} else {
		s.upSince = time.Time{}
	}
	if next != StateUp {
		// Leaving Up cancels any Poll; the slow rate applies at once.
		s.pollActive = false
	}
	s.updateTimers()
	s.log.Info("bfd session state changed", "from", from.String(), "to", next.String(),
		"local_diag", s.localDiag.String(), "remote_diag", s.remoteDiag.String(),
		"local_discr", s.localDiscr, "remote_discr", s.remoteDiscr)
	s.notify(StateChange{Peer: s.cfg.Peer, From: from, To: next, LocalDiag: s.localDiag, RemoteDiag: s.remoteDiag, At: now})
	if s.mayTransmit() {
		s.transmit(false)
		s.rescheduleTx(true)
	}
}

// reconfigure applies a new configuration in place: timers go through a
// Poll when Up, so a healthy session never flaps.
func (s *session) reconfigure(c SessionConfig) {
	authChanged := (c.Auth == nil) != (s.cfg.Auth == nil)
	s.cfg = c
	if authChanged {
		s.rcvSeqKnown = false
	}
	s.updateTimers()
	s.rescheduleTx(false)
}

func (s *session) authOK(in rxPacket) bool {
	a, want := in.pkt.Auth, s.cfg.Auth
	if want == nil || a == nil {
		return want == nil && a == nil
	}
	if a.Type != want.Type || a.KeyID != want.KeyID {
		return false
	}
	switch a.Type {
	case AuthSimplePassword:
		return subtle.ConstantTimeCompare(a.Password, want.Secret) == 1
	case AuthKeyedSHA1, AuthMeticulousSHA1:
		now := s.clock.Now()
		if s.rcvSeqKnown && !now.Before(s.rcvSeqForget) {
			// §6.8.1: bfd.AuthSeqKnown is reset after no packet for at
			// least twice the detection time (not once: a peer that
			// returns between 1× and 2× must still be in the window).
			s.rcvSeqKnown = false
		}
		if s.rcvSeqKnown {
			// §6.7.4: within 3 × DetectMult of the last sequence seen;
			// meticulous must strictly increase.
			diff := a.Sequence - s.rcvSeq
			window := 3 * uint32(max(in.pkt.DetectMult, 1))
			if diff > window || (a.Type == AuthMeticulousSHA1 && diff == 0) {
				return false
			}
		}
		if !verifySHA1(in.raw, want.Secret) {
			return false
		}
		s.rcvSeq, s.rcvSeqKnown = a.Sequence, true
		detect := time.Duration(in.pkt.DetectMult) * max(s.useRx, in.pkt.DesiredMinTx)
		s.rcvSeqForget = now.Add(2 * detect)
		return true
	}
	return false
}

// shutdown moves to AdminDown with diag 7 and tells the peer a bounded
// number of times, so the peer sees "neighbor signaled down", not a timeout.
func (s *session) shutdown() {
	next, act := Step(s.state, EventAdminDown)
	s.transition(next, act)
	s.txTimer.Stop()
	s.detectTimer.Stop()
	if s.remoteDiscr == 0 && s.cfg.Passive {
		s.publish()
		return
	}
	gap := s.clock.NewTimer(shutdownGap)
	defer gap.Stop()
	for i := range shutdownPackets {
		if i > 0 {
			gap.Reset(shutdownGap)
			<-gap.C()
		}
		s.transmit(false)
	}
	s.publish()
}

func (s *session) publish() {
	st := SessionStatus{
		Peer:                s.cfg.Peer,
		Local:               s.cfg.Local,
		State:               s.state,
		RemoteState:         s.remoteState,
		LocalDiag:           s.localDiag,
		RemoteDiag:          s.remoteDiag,
		LocalDiscriminator:  s.localDiscr,
		RemoteDiscriminator: s.remoteDiscr,
		TxInterval:          s.negotiatedTx(),
		DetectionTime:       s.detectionTime(),
		RemoteDesiredMinTx:  s.remoteMinTx,
		RemoteRequiredMinRx: s.remoteMinRx,
		RemoteDetectMult:    s.remoteMult,
		PollActive:          s.pollActive,
		RemotePolling:       s.remotePolling,
		FinalsSent:          s.finalsSent,
		Passive:             s.cfg.Passive,
		UpSince:             s.upSince,
		PacketsSent:         s.sent,
		PacketsReceived:     s.received,
		Transitions:         s.trans,
	}
	s.mu.Lock()
	s.status = st
	s.mu.Unlock()
}

func (s *session) snapshot() SessionStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}
