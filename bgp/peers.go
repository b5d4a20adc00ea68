package bgp

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	api "github.com/osrg/gobgp/v4/api"
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
	// LastReason is why the session last changed state: GoBGP's reason
	// ("hold-timer-expired", "notification-received code 6(cease) …"), or
	// ours ("reset: …", "held down: …", "reconnect: …", "shutdown").
	LastReason         string
	EstablishedCount   uint64 // sessions established since Run started
	Advertised         uint64 // prefixes in adj-RIB-out, all families
	Received           uint64 // prefixes in adj-RIB-in, all families
	MessagesSent       uint64
	MessagesReceived   uint64
	UpdatesSent        uint64
	UpdatesReceived    uint64
	NegotiatedHoldTime time.Duration
	// MalformedMessages counts the messages from this peer that GoBGP could
	// not parse, whatever it did about them (NOTIFICATION and reset, treat
	// the UPDATE as withdraw, discard an attribute), since Run started.
	MalformedMessages uint64
	// Resets counts how sessions (or session attempts past OpenSent) ended,
	// by cause, since Run started; sorted.
	Resets []ResetCount
}

// ResetCount is how often a peer's session ended for one cause.
type ResetCount struct {
	// Cause is GoBGP's disconnect reason ("notification_sent",
	// "notification_received", "hold_timer_expired", "read_failed", …) or
	// our own action ("rsagent_reset", "rsagent_hold_down",
	// "rsagent_reconnect", "rsagent_shutdown", "rsagent_deconfigured").
	Cause string
	// Notification is "code/subcode" of the NOTIFICATION sent or received
	// ("1/3": Message Header Error / Bad Message Type), "" for none.
	Notification string
	Count        uint64
}

// PeerEvent is one peer state change.
type PeerEvent struct {
	Peer     netip.Addr
	From, To string
	At       time.Time
	Reason   string
	// Cause and Notification are set when a session (or an attempt past
	// OpenSent) ended; see ResetCount.
	Cause, Notification string
}

// peerRuntime is what the owner knows about one peer beyond its config.
type peerRuntime struct {
	asn              uint32
	state            string
	since            time.Time
	establishedAt    time.Time
	establishedCount uint64
	lastReason       string
	// pending is our own reason for the next drop (a reset, hold-down,
	// reconnect or shutdown in flight); it wins over GoBGP's.
	pending     string
	pendingKind string
	resets      map[resetKey]uint64
	// malformed accumulates GoBGP's Received.Discarded counter, which GoBGP
	// clears when a peer goes administratively down or is re-created.
	malformed, discardedSeen uint64
	// conn is the session's TCP connection (our side, the peer's), from
	// GoBGP's Established event; invalid while there is no session.
	conn connTuple
}

// connTuple names one TCP connection.
type connTuple struct{ local, remote netip.AddrPort }

func (c connTuple) valid() bool { return c.local.IsValid() && c.remote.IsValid() }

type resetKey struct{ cause, notification string }

func newPeerRuntime(asn uint32) *peerRuntime {
	return &peerRuntime{asn: asn, state: StateIdle, since: time.Now(), resets: map[resetKey]uint64{}}
}

// SetPeers replaces the peer list. New peers are added, removed ones deleted,
// and changed ones updated: a hold-time or connect-retry change takes effect
// on the next session without a reset, an ASN or port change resets that
// session. Untouched peers are never reset.
func (s *Speaker) SetPeers(peers []PeerConfig) error {
	norm, err := normalizePeers(peers, s.cfg.LocalAddress)
	if err != nil {
		return fmt.Errorf("set bgp peers: %w", err)
	}
	return s.do(func(o *owner) error {
		if o.closing {
			return ErrClosed
		}
		o.wantPeers = make(map[netip.Addr]PeerConfig, len(norm))
		for _, p := range norm {
			o.wantPeers[p.Address] = p
			if o.rt[p.Address] == nil {
				o.rt[p.Address] = newPeerRuntime(p.ASN)
			}
		}
		if o.srv == nil {
			return nil
		}
		return o.applyPeers()
	})
}

func (o *owner) applyPeers() error {
	d := diffPeers(o.havePeers, o.wantPeers)
	if d.empty() {
		return nil
	}
	ctx := context.Background()
	log := o.s.log
	var errs []error
	for _, a := range d.del {
		o.foldCounters(o.listPeers(false))
		if err := o.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()}); err != nil {
			errs = append(errs, fmt.Errorf("delete peer %s: %w", a, err))
			continue
		}
		delete(o.havePeers, a)
		o.forgetPeer(a)
		log.Info("bgp peer removed", "peer", a)
	}
	for _, p := range d.update {
		if _, err := o.srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: o.apiPeer(p)}); err != nil {
			errs = append(errs, fmt.Errorf("update peer %s: %w", p.Address, err))
			continue
		}
		o.havePeers[p.Address] = p
		o.rt[p.Address].asn = p.ASN
		log.Info("bgp peer updated", "peer", p.Address, "asn", p.ASN, "port", p.Port,
			"hold_time", p.HoldTime, "connect_retry", p.ConnectRetry)
	}
	for _, p := range d.add {
		if o.rt[p.Address] == nil {
			o.rt[p.Address] = newPeerRuntime(p.ASN)
		}
		if err := o.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: o.apiPeer(p)}); err != nil {
			errs = append(errs, fmt.Errorf("add peer %s: %w", p.Address, err))
			continue
		}
		o.havePeers[p.Address] = p
		log.Info("bgp peer added", "peer", p.Address, "asn", p.ASN, "port", p.Port,
			"hold_time", p.HoldTime, "connect_retry", p.ConnectRetry)
	}
	return errors.Join(errs...)
}

// forgetPeer drops a removed peer's runtime and tells subscribers it went
// idle, since GoBGP's own event for it never comes once the entry is gone.
func (o *owner) forgetPeer(a netip.Addr) {
	rt := o.rt[a]
	delete(o.rt, a)
	if rt != nil && rt.state != StateIdle {
		o.publishEvent(PeerEvent{Peer: a, From: rt.state, To: StateIdle, At: time.Now(),
			Reason: "peer removed from config", Cause: "rsagent_deconfigured"})
	}
}

func (o *owner) apiPeer(p PeerConfig) *api.Peer {
	hold := uint64(p.HoldTime / time.Second)
	families := []*api.AfiSafi{{Config: &api.AfiSafiConfig{
		Family:  &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST},
		Enabled: true,
	}}}
	if o.s.cfg.LocalAddressV6.IsValid() {
		families = append(families, &api.AfiSafi{Config: &api.AfiSafiConfig{
			Family:  &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST},
			Enabled: true,
		}})
	}
	return &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN, AdminDown: o.held[p.Address] != ""},
		Transport: &api.Transport{
			LocalAddress: o.s.cfg.LocalAddress.String(),
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

// recreate deletes and re-adds the GoBGP neighbor for addr, so that its FSM
// starts afresh: no idle hold, first connection attempt after GoBGP's fixed
// 1.5–2 s. why becomes the reason of the drop, if there is one.
func (o *owner) recreate(addr netip.Addr, why string) error {
	p, ok := o.havePeers[addr]
	if !ok {
		return fmt.Errorf("%s: %w", addr, ErrUnknownPeer)
	}
	o.foldCounters(o.listPeers(false))
	ctx := context.Background()
	rt := o.rt[addr]
	if err := o.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: addr.String()}); err != nil {
		return fmt.Errorf("re-create peer %s: delete: %w", addr, err)
	}
	delete(o.havePeers, addr)
	if err := o.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: o.apiPeer(p)}); err != nil {
		return fmt.Errorf("re-create peer %s: add: %w", addr, err)
	}
	o.havePeers[addr] = p
	rt.discardedSeen = 0
	rt.pending, rt.pendingKind = "", ""
	if rt.state != StateIdle {
		// The old FSM is gone without an event of its own.
		cause := ""
		if sessionStarted(rt.state) {
			cause = "rsagent_reconnect"
		}
		o.setState(addr, rt, StateIdle, time.Now(), why, cause, "")
	}
	return nil
}

// Reconnect gets a session that is down and idle dialling again: GoBGP holds
// a peer Idle after a drop (5 s after one it did not start), and Reconnect
// re-creates the neighbor so its connect loop starts now. The agent calls it
// when BFD comes Up while BGP is down. A peer that is already dialling
// (Active or Connect) is left alone: GoBGP's connect loop waits a fixed
// 1.5–2 s before every attempt, and an attempt in flight retransmits its SYN
// after 1 s, so a loop that has been running through the outage reaches the
// peer sooner than a new one would. A session that is Established or
// opening and a peer held down are left alone too; so a call is always
// safe. It returns ErrNotRunning before Run.
func (s *Speaker) Reconnect(addr netip.Addr, reason string) error {
	addr = addr.Unmap()
	return s.query(func(o *owner) error {
		rt := o.rt[addr]
		if _, ok := o.havePeers[addr]; !ok || rt == nil {
			return fmt.Errorf("reconnect %s: %w", addr, ErrUnknownPeer)
		}
		if o.closing || o.held[addr] != "" {
			return nil
		}
		live := o.livePeer(addr)
		st := sessionStateName(live.GetState().GetSessionState())
		if st != StateIdle {
			return nil // dialling, opening or up
		}
		if err := o.recreate(addr, "reconnect: "+reason); err != nil {
			return fmt.Errorf("reconnect %s: %w", addr, err)
		}
		o.s.log.Info("bgp peer reconnecting now", "peer", addr, "reason", reason, "was", st)
		return nil
	})
}

// livePeer is GoBGP's current view of one peer (nil when unknown).
func (o *owner) livePeer(addr netip.Addr) *api.Peer {
	var live *api.Peer
	_ = o.srv.ListPeer(context.Background(), &api.ListPeerRequest{Address: addr.String()}, func(p *api.Peer) { live = p })
	return live
}

// ResetPeer hard-resets the session to addr (NOTIFICATION Cease/Administrative
// Reset carrying reason) — but only if the current session was established
// before ifEstablishedBefore. A reset that arrives late (a BFD Down about the
// previous session) is ignored instead of killing the next, healthy session
// (GoBGP #3561). A session that is not Established is left alone. Ignored
// resets return nil and are logged.
func (s *Speaker) ResetPeer(addr netip.Addr, reason string, ifEstablishedBefore time.Time) error {
	addr = addr.Unmap()
	return s.query(func(o *owner) error {
		rt := o.rt[addr]
		if _, ok := o.havePeers[addr]; !ok || rt == nil {
			return fmt.Errorf("reset %s: %w", addr, ErrUnknownPeer)
		}
		// Our event-derived view can lag GoBGP by a few events; GoBGP's own
		// view is authoritative for the state but only has a whole-second
		// start time.
		live := o.livePeer(addr)
		if live == nil {
			return fmt.Errorf("reset %s: %w", addr, ErrUnknownPeer)
		}
		log := o.s.log
		if st := live.GetState().GetSessionState(); st != api.PeerState_SESSION_STATE_ESTABLISHED {
			log.Info("bgp peer reset skipped: session not established", "peer", addr, "reason", reason,
				"state", sessionStateName(st))
			return nil
		}
		start := sessionStart(rt.state, rt.establishedAt, live.GetTimers().GetState().GetUptime().AsTime())
		if !start.Before(ifEstablishedBefore) {
			log.Info("bgp peer reset skipped: stale, session is newer", "peer", addr, "reason", reason,
				"established_at", start, "if_established_before", ifEstablishedBefore)
			return nil
		}
		o.expectDrop(rt, "reset: "+reason, "rsagent_reset")
		if err := o.srv.ResetPeer(context.Background(), &api.ResetPeerRequest{Address: addr.String(), Communication: reason}); err != nil {
			rt.pending, rt.pendingKind = "", ""
			return fmt.Errorf("reset %s: %w", addr, err)
		}
		log.Warn("bgp peer reset", "peer", addr, "reason", reason, "established_at", start)
		return nil
	})
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
// Before Run and after it the states are those last seen (idle after Run).
func (s *Speaker) Peers() []PeerStatus {
	var out []PeerStatus
	err := s.query(func(o *owner) error {
		out = o.peerStatuses(o.listPeers(true))
		return nil
	})
	if err != nil {
		return slices.Clone(s.snap.Load().peers)
	}
	return out
}

// listPeers is GoBGP's view of every peer, by address; it also folds the
// malformed-message counters. Empty when GoBGP does not run.
func (o *owner) listPeers(advertised bool) map[netip.Addr]*api.Peer {
	live := map[netip.Addr]*api.Peer{}
	if o.srv == nil {
		return live
	}
	_ = o.srv.ListPeer(context.Background(), &api.ListPeerRequest{EnableAdvertised: advertised}, func(p *api.Peer) {
		if a, err := netip.ParseAddr(p.GetState().GetNeighborAddress()); err == nil {
			live[a.Unmap()] = p
		}
	})
	o.foldCounters(live)
	return live
}

// foldCounters adds what GoBGP's per-peer Received.Discarded counter grew by
// to our own running total, which survives GoBGP clearing it.
func (o *owner) foldCounters(live map[netip.Addr]*api.Peer) {
	for a, p := range live {
		rt := o.rt[a]
		if rt == nil {
			continue
		}
		raw := p.GetState().GetMessages().GetReceived().GetDiscarded()
		if raw < rt.discardedSeen {
			rt.discardedSeen = 0
		}
		rt.malformed += raw - rt.discardedSeen
		rt.discardedSeen = raw
	}
}

// peerStatuses merges our runtime with GoBGP's view (nil: ours only).
func (o *owner) peerStatuses(live map[netip.Addr]*api.Peer) []PeerStatus {
	cfgs := make([]PeerConfig, 0, len(o.wantPeers))
	for _, p := range o.wantPeers {
		cfgs = append(cfgs, p)
	}
	slices.SortFunc(cfgs, func(a, b PeerConfig) int { return a.Address.Compare(b.Address) })
	now := time.Now()
	out := make([]PeerStatus, 0, len(cfgs))
	for _, c := range cfgs {
		st := PeerStatus{Address: c.Address, ASN: c.ASN, State: StateIdle}
		if rt := o.rt[c.Address]; rt != nil {
			st.State, st.Since, st.LastReason, st.EstablishedCount = rt.state, rt.since, rt.lastReason, rt.establishedCount
			st.MalformedMessages = rt.malformed
			if rt.state == StateEstablished {
				st.EstablishedSince = rt.establishedAt
			}
			for k, n := range rt.resets {
				st.Resets = append(st.Resets, ResetCount{Cause: k.cause, Notification: k.notification, Count: n})
			}
			slices.SortFunc(st.Resets, func(a, b ResetCount) int {
				if a.Cause != b.Cause {
					return cmp.Compare(a.Cause, b.Cause)
				}
				return cmp.Compare(a.Notification, b.Notification)
			})
		}
		if p := live[c.Address]; p != nil {
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

func sessionStateName(st api.PeerState_SessionState) string {
	switch st {
	case api.PeerState_SESSION_STATE_CONNECT:
		return StateConnect
	case api.PeerState_SESSION_STATE_ACTIVE:
		return StateActive
	case api.PeerState_SESSION_STATE_OPENSENT:
		return StateOpenSent
	case api.PeerState_SESSION_STATE_OPENCONFIRM:
		return StateOpenConfirm
	case api.PeerState_SESSION_STATE_ESTABLISHED:
		return StateEstablished
	default:
		return StateIdle
	}
}
