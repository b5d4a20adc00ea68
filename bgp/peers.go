package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// Peer session states as reported in PeerStatus.State and PeerEvent.
const (
	StateIdle        = "idle"
	StateConnect     = "connect"
	StateActive      = "active"
	StateOpenSent    = "opensent"
	StateOpenConfirm = "openconfirm"
	StateEstablished = "established"
)

// PeerStatus is a snapshot of one configured peer.
type PeerStatus struct {
	Address netip.Addr
	ASN     uint32
	State   string
	// Since is when the session entered State, as seen by this speaker.
	Since time.Time
	// EstablishedSince is the start of the current session (zero unless
	// Established); Uptime is the time since then.
	EstablishedSince time.Time
	Uptime           time.Duration
	// LastReason is why the session last changed state (GoBGP's reason, or
	// "reset: …" for ResetPeer).
	LastReason         string
	EstablishedCount   uint64 // sessions established since Run started
	Advertised         uint64 // prefixes in adj-RIB-out, all families
	Received           uint64 // prefixes in adj-RIB-in, all families
	MessagesSent       uint64
	MessagesReceived   uint64
	UpdatesSent        uint64
	UpdatesReceived    uint64
	NegotiatedHoldTime time.Duration
}

// PeerEvent is one peer state change.
type PeerEvent struct {
	Peer     netip.Addr
	From, To string
	At       time.Time
	Reason   string
}

// peerRuntime is what the speaker learns from GoBGP's peer events.
type peerRuntime struct {
	asn              uint32
	state            string
	since            time.Time
	establishedAt    time.Time
	establishedCount uint64
	lastReason       string
	pendingReset     string // our reason for a reset in flight
}

type subscription struct{ ch chan PeerEvent }

// SetPeers replaces the peer list. New peers are added, removed ones deleted,
// and changed ones updated: a hold-time or connect-retry change takes effect
// on the next session without a reset, an ASN or port change resets that
// session. Untouched peers are never reset.
func (s *Speaker) SetPeers(peers []PeerConfig) error {
	norm, err := normalizePeers(peers, s.cfg.LocalAddress)
	if err != nil {
		return fmt.Errorf("set bgp peers: %w", err)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closing {
		return ErrClosed
	}
	s.wantPeers = make(map[netip.Addr]PeerConfig, len(norm))
	for _, p := range norm {
		s.wantPeers[p.Address] = p
	}
	srv := s.server()
	if srv == nil {
		return nil
	}
	return s.applyPeersLocked(srv)
}

func (s *Speaker) applyPeersLocked(srv *server.BgpServer) error {
	d := diffPeers(s.havePeers, s.wantPeers)
	if d.empty() {
		return nil
	}
	ctx := context.Background()
	var errs []error
	for _, a := range d.del {
		if err := srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()}); err != nil {
			errs = append(errs, fmt.Errorf("delete peer %s: %w", a, err))
			continue
		}
		delete(s.havePeers, a)
		s.forgetPeer(a)
		s.log.Info("bgp peer removed", "peer", a)
	}
	for _, p := range d.update {
		if _, err := srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: s.apiPeer(p)}); err != nil {
			errs = append(errs, fmt.Errorf("update peer %s: %w", p.Address, err))
			continue
		}
		s.havePeers[p.Address] = p
		s.mu.Lock()
		if rt := s.rt[p.Address]; rt != nil {
			rt.asn = p.ASN
		}
		s.mu.Unlock()
		s.log.Info("bgp peer updated", "peer", p.Address, "asn", p.ASN, "port", p.Port,
			"hold_time", p.HoldTime, "connect_retry", p.ConnectRetry)
	}
	for _, p := range d.add {
		s.mu.Lock()
		s.rt[p.Address] = &peerRuntime{asn: p.ASN, state: StateIdle, since: time.Now()}
		s.mu.Unlock()
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: s.apiPeer(p)}); err != nil {
			s.mu.Lock()
			delete(s.rt, p.Address)
			s.mu.Unlock()
			errs = append(errs, fmt.Errorf("add peer %s: %w", p.Address, err))
			continue
		}
		s.havePeers[p.Address] = p
		s.log.Info("bgp peer added", "peer", p.Address, "asn", p.ASN, "port", p.Port,
			"hold_time", p.HoldTime, "connect_retry", p.ConnectRetry)
	}
	return errors.Join(errs...)
}

// forgetPeer drops a removed peer's runtime and tells subscribers it went
// idle, since GoBGP's own event for it arrives after the entry is gone.
func (s *Speaker) forgetPeer(a netip.Addr) {
	s.reasonMu.Lock()
	delete(s.reasons, a.String())
	s.reasonMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	rt := s.rt[a]
	delete(s.rt, a)
	if rt != nil && rt.state != StateIdle {
		s.publishLocked(PeerEvent{Peer: a, From: rt.state, To: StateIdle, At: time.Now(), Reason: "peer removed from config"})
	}
}

func (s *Speaker) apiPeer(p PeerConfig) *api.Peer {
	hold := uint64(p.HoldTime / time.Second)
	families := []*api.AfiSafi{{Config: &api.AfiSafiConfig{
		Family:  &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST},
		Enabled: true,
	}}}
	if s.cfg.LocalAddressV6.IsValid() {
		families = append(families, &api.AfiSafi{Config: &api.AfiSafiConfig{
			Family:  &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST},
			Enabled: true,
		}})
	}
	return &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AdminDown: s.held[p.Address] != ""},
		Transport: &api.Transport{
			LocalAddress: s.cfg.LocalAddress.String(),
			RemotePort:   uint32(p.Port),
			PassiveMode:  false,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:               hold,
			KeepaliveInterval:      max(hold/3, 1),
			ConnectRetry:           uint64(p.ConnectRetry / time.Second),
			IdleHoldTimeAfterReset: idleHoldAfterReset,
		}},
		AfiSafis: families,
	}
}

// ResetPeer hard-resets the session to addr (NOTIFICATION Cease/Administrative
// Reset carrying reason) — but only if the current session was established
// before ifEstablishedBefore. A reset that arrives late (a BFD Down about the
// previous session) is ignored instead of killing the next, healthy session
// (GoBGP #3561). A session that is not Established is left alone. Ignored
// resets return nil and are logged.
func (s *Speaker) ResetPeer(addr netip.Addr, reason string, ifEstablishedBefore time.Time) error {
	addr = addr.Unmap()
	srv := s.server()
	if srv == nil {
		return ErrNotRunning
	}
	s.mu.Lock()
	rt := s.rt[addr]
	var state string
	var since time.Time
	if rt != nil {
		state, since = rt.state, rt.establishedAt
	}
	s.mu.Unlock()
	if rt == nil {
		return fmt.Errorf("reset %s: %w", addr, ErrUnknownPeer)
	}
	// Our event-derived view can lag GoBGP by a few events; GoBGP's own view
	// is authoritative for the state but only has a whole-second start time.
	var live *api.Peer
	err := srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: addr.String()}, func(p *api.Peer) { live = p })
	if err != nil {
		return fmt.Errorf("reset %s: list peer: %w", addr, err)
	}
	if live == nil {
		return fmt.Errorf("reset %s: %w", addr, ErrUnknownPeer)
	}
	if live.GetState().GetSessionState() != api.PeerState_ESTABLISHED {
		s.log.Info("bgp peer reset skipped: session not established", "peer", addr, "reason", reason,
			"state", sessionStateName(live.GetState().GetSessionState()))
		return nil
	}
	start := sessionStart(state, since, live.GetTimers().GetState().GetUptime().AsTime())
	if !start.Before(ifEstablishedBefore) {
		s.log.Info("bgp peer reset skipped: stale, session is newer", "peer", addr, "reason", reason,
			"established_at", start, "if_established_before", ifEstablishedBefore)
		return nil
	}
	s.mu.Lock()
	if rt := s.rt[addr]; rt != nil {
		rt.pendingReset = reason
	}
	s.mu.Unlock()
	if err := srv.ResetPeer(context.Background(), &api.ResetPeerRequest{Address: addr.String(), Communication: reason}); err != nil {
		return fmt.Errorf("reset %s: %w", addr, err)
	}
	s.log.Warn("bgp peer reset", "peer", addr, "reason", reason, "established_at", start)
	return nil
}

// sessionStart picks the start of the current session: our nanosecond
// timestamp when it agrees with GoBGP's whole-second one, else (our view is
// stale, a newer session exists) the end of GoBGP's second, which errs
// towards "newer" and so towards not resetting.
func sessionStart(ourState string, ours, gobgp time.Time) time.Time {
	if ourState == StateEstablished && !ours.IsZero() &&
		!ours.Before(gobgp) && ours.Before(gobgp.Add(2*time.Second)) {
		return ours
	}
	return gobgp.Add(time.Second)
}

// Peers returns a snapshot of every configured peer, sorted by address.
func (s *Speaker) Peers() []PeerStatus {
	s.opMu.Lock()
	cfgs := make([]PeerConfig, 0, len(s.wantPeers))
	for _, p := range s.wantPeers {
		cfgs = append(cfgs, p)
	}
	s.opMu.Unlock()
	slices.SortFunc(cfgs, func(a, b PeerConfig) int { return a.Address.Compare(b.Address) })

	live := map[string]*api.Peer{}
	if srv := s.server(); srv != nil {
		_ = srv.ListPeer(context.Background(), &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
			live[p.GetState().GetNeighborAddress()] = p
		})
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PeerStatus, 0, len(cfgs))
	for _, c := range cfgs {
		st := PeerStatus{Address: c.Address, ASN: c.ASN, State: StateIdle}
		if rt := s.rt[c.Address]; rt != nil {
			st.State, st.Since, st.LastReason, st.EstablishedCount = rt.state, rt.since, rt.lastReason, rt.establishedCount
			if rt.state == StateEstablished {
				st.EstablishedSince = rt.establishedAt
			}
		}
		if p := live[c.Address.String()]; p != nil {
			st.State = sessionStateName(p.GetState().GetSessionState())
			if st.State == StateEstablished && st.EstablishedSince.IsZero() {
				st.EstablishedSince = p.GetTimers().GetState().GetUptime().AsTime()
			}
			if st.State != StateEstablished {
				st.EstablishedSince = time.Time{}
			}
			for _, af := range p.GetAfiSafis() {
				st.Advertised += af.GetState().GetAdvertised()
				st.Received += af.GetState().GetReceived()
			}
			m := p.GetState().GetMessages()
			st.MessagesSent, st.MessagesReceived = m.GetSent().GetTotal(), m.GetReceived().GetTotal()
			st.UpdatesSent, st.UpdatesReceived = m.GetSent().GetUpdate(), m.GetReceived().GetUpdate()
			st.NegotiatedHoldTime = time.Duration(p.GetTimers().GetState().GetNegotiatedHoldTime()) * time.Second
		}
		if !st.EstablishedSince.IsZero() {
			st.Uptime = now.Sub(st.EstablishedSince)
		}
		out = append(out, st)
	}
	return out
}

// Subscribe returns a channel of peer state changes and a function that
// cancels the subscription. The channel holds SubscriberBuffer events; when
// the consumer falls behind the oldest event is dropped, so GoBGP is never
// blocked. It is closed when Run returns or on cancel.
func (s *Speaker) Subscribe() (<-chan PeerEvent, func()) {
	sub := &subscription{ch: make(chan PeerEvent, SubscriberBuffer)}
	s.mu.Lock()
	if s.phase == phaseStopped {
		close(sub.ch)
	} else {
		s.subs[sub] = struct{}{}
	}
	s.mu.Unlock()
	return sub.ch, sync.OnceFunc(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[sub]; ok {
			delete(s.subs, sub)
			close(sub.ch)
		}
	})
}

func (s *Speaker) publishLocked(ev PeerEvent) {
	for sub := range s.subs {
		select {
		case sub.ch <- ev:
			continue
		default:
		}
		select {
		case <-sub.ch:
		default:
		}
		select {
		case sub.ch <- ev:
		default:
		}
	}
}

func (s *Speaker) closeSubsLocked() {
	for sub := range s.subs {
		close(sub.ch)
	}
	clear(s.subs)
}

// captureReason is called by the GoBGP logger adapter before GoBGP
// broadcasts the matching peer event. Events are consumed later, so keep a
// short per-address queue rather than only the latest reason.
func (s *Speaker) captureReason(addr, state, reason string) {
	s.reasonMu.Lock()
	defer s.reasonMu.Unlock()
	q := append(s.reasons[addr], capturedReason{state: state, reason: reason})
	if len(q) > maxCapturedReasons {
		q = q[len(q)-maxCapturedReasons:]
	}
	s.reasons[addr] = q
}

// takeReason pops the queued reason for addr's transition to state.
func (s *Speaker) takeReason(addr, state string) string {
	s.reasonMu.Lock()
	defer s.reasonMu.Unlock()
	q := s.reasons[addr]
	for i, c := range q {
		if c.state == state {
			s.reasons[addr] = q[i+1:]
			return c.reason
		}
	}
	return ""
}

func (s *Speaker) onWatchEvent(r *api.WatchEventResponse) {
	pe := r.GetPeer()
	if pe == nil || pe.GetPeer().GetState() == nil {
		return
	}
	st := pe.GetPeer().GetState()
	addr, err := netip.ParseAddr(st.GetNeighborAddress())
	if err != nil {
		return
	}
	addr = addr.Unmap()
	to := sessionStateName(st.GetSessionState())
	now := time.Now()

	captured := s.takeReason(st.GetNeighborAddress(), to)

	s.mu.Lock()
	defer s.mu.Unlock()
	rt := s.rt[addr]
	if rt == nil || rt.state == to {
		return
	}
	from := rt.state
	reason := captured
	if from == StateEstablished && rt.pendingReset != "" {
		reason = "reset: " + rt.pendingReset
		rt.pendingReset = ""
	}
	rt.state, rt.since = to, now
	if reason != "" {
		rt.lastReason = reason
	}
	if to == StateEstablished {
		rt.establishedAt = now
		rt.establishedCount++
	}
	if to == StateEstablished || from == StateEstablished {
		s.log.Info("bgp peer state changed", "peer", addr, "from", from, "to", to, "reason", reason)
	} else {
		s.log.Debug("bgp peer state changed", "peer", addr, "from", from, "to", to, "reason", reason)
	}
	s.publishLocked(PeerEvent{Peer: addr, From: from, To: to, At: now, Reason: reason})
}

func sessionStateName(st api.PeerState_SessionState) string {
	switch st {
	case api.PeerState_CONNECT:
		return StateConnect
	case api.PeerState_ACTIVE:
		return StateActive
	case api.PeerState_OPENSENT:
		return StateOpenSent
	case api.PeerState_OPENCONFIRM:
		return StateOpenConfirm
	case api.PeerState_ESTABLISHED:
		return StateEstablished
	default:
		return StateIdle
	}
}
