package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

type subscription struct{ ch chan PeerEvent }

// onPeerEvent applies one GoBGP peer event. The reason of a change is ours
// when we caused it (a reset, hold-down, reconnect or shutdown in flight),
// else GoBGP's from the event itself (its DisconnectReason and message),
// never from GoBGP's log text.
func (o *owner) onPeerEvent(pe peerEvent) {
	ev := pe.ev
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	addr := ev.Peer.State.NeighborAddress.Unmap()
	rt := o.rt[addr]
	if rt == nil {
		return
	}
	if _, ok := o.havePeers[addr]; !ok {
		return // a neighbor being re-created or removed
	}
	to := fsmStateName(ev.Peer.State.SessionState)
	if rt.state == to {
		return
	}
	reason := ev.Peer.State.DisconnectMessage
	cause, notification := "", ""
	if to == StateIdle {
		if sessionStarted(rt.state) {
			// A session, or an attempt past OpenSent, ended: count it.
			notification = notificationCode(reason)
			cause = disconnectCause(ev.Peer.State.DisconnectReason)
			if rt.pending != "" {
				reason, cause = rt.pending, rt.pendingKind
			}
		}
		rt.pending, rt.pendingKind = "", ""
	}
	if to == StateEstablished {
		tr := ev.Peer.Transport
		rt.conn = connTuple{
			local:  netip.AddrPortFrom(tr.LocalAddress.Unmap(), uint16(tr.LocalPort)),
			remote: netip.AddrPortFrom(addr, uint16(tr.RemotePort)),
		}
	}
	o.setState(addr, rt, to, pe.at, reason, cause, notification)
}

// sessionStarted reports whether a drop from state ends a session (or an
// attempt past OpenSent), which is what the reset counters count.
func sessionStarted(state string) bool {
	return state == StateOpenSent || state == StateOpenConfirm || state == StateEstablished
}

// expectDrop makes our reason and cause win over GoBGP's for the drop our
// action is about to cause; a peer with no session to drop gets none.
func (o *owner) expectDrop(rt *peerRuntime, reason, cause string) {
	if sessionStarted(rt.state) {
		rt.pending, rt.pendingKind = reason, cause
	}
}

// setState records a state change, logs it and tells subscribers.
func (o *owner) setState(addr netip.Addr, rt *peerRuntime, to string, at time.Time, reason, cause, notification string) {
	from := rt.state
	rt.state, rt.since = to, at
	if to != StateEstablished {
		rt.conn = connTuple{} // the session's connection is gone (or not yet there)
	}
	if reason != "" {
		rt.lastReason = reason
	}
	if to == StateEstablished {
		rt.establishedAt = at
		rt.establishedCount++
	}
	if cause != "" {
		rt.resets[resetKey{cause, notification}]++
	}
	log := o.s.log.Debug
	if to == StateEstablished || from == StateEstablished || cause != "" {
		log = o.s.log.Info
	}
	log("bgp peer state changed", "peer", addr, "from", from, "to", to, "reason", reason,
		"cause", cause, "notification", notification)
	o.publishEvent(PeerEvent{Peer: addr, From: from, To: to, At: at, Reason: reason, Cause: cause, Notification: notification})
}

// disconnectCause turns GoBGP's DisconnectReason into a metric label value
// ("DISCONNECT_REASON_NOTIFICATION_SENT" → "notification_sent").
func disconnectCause(r api.PeerState_DisconnectReason) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "DISCONNECT_REASON_"))
}

// notificationCodes maps GoBGP's rendering of a NOTIFICATION code and
// subcode back to "code/subcode". It is built with GoBGP's own formatter, so
// it follows its wording.
var notificationCodes = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for c := range 8 {
		for sc := range 256 {
			m[gobgp.NewNotificationErrorCode(uint8(c), uint8(sc)).String()] = fmt.Sprintf("%d/%d", c, sc)
		}
	}
	return m
})

// notificationCode extracts "code/subcode" from GoBGP's disconnect message
// ("notification-sent code 1(header) subcode 3(bad message type)").
func notificationCode(msg string) string {
	for _, prefix := range []string{"notification-sent ", "notification-received "} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			return notificationCodes()[rest]
		}
	}
	return ""
}

func fsmStateName(st gobgp.FSMState) string {
	switch st {
	case gobgp.BGP_FSM_CONNECT:
		return StateConnect
	case gobgp.BGP_FSM_ACTIVE:
		return StateActive
	case gobgp.BGP_FSM_OPENSENT:
		return StateOpenSent
	case gobgp.BGP_FSM_OPENCONFIRM:
		return StateOpenConfirm
	case gobgp.BGP_FSM_ESTABLISHED:
		return StateEstablished
	default:
		return StateIdle
	}
}

// Subscribe returns a channel of peer state changes and a function that
// cancels the subscription. The channel holds SubscriberBuffer events; when
// the consumer falls behind the oldest event is dropped, so GoBGP is never
// blocked. It is closed when Run returns or on cancel.
func (s *Speaker) Subscribe() (<-chan PeerEvent, func()) {
	sub := &subscription{ch: make(chan PeerEvent, SubscriberBuffer)}
	if err := s.do(func(o *owner) error { o.subs[sub] = struct{}{}; return nil }); err != nil {
		close(sub.ch)
		return sub.ch, func() {}
	}
	return sub.ch, sync.OnceFunc(func() {
		_ = s.do(func(o *owner) error {
			if _, ok := o.subs[sub]; ok {
				delete(o.subs, sub)
				close(sub.ch)
			}
			return nil
		})
	})
}

func (o *owner) publishEvent(ev PeerEvent) {
	for sub := range o.subs {
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

// HoldDown keeps the session to addr administratively down while held is
// true: an Established session is closed (Cease/Administrative Shutdown with
// reason) and no new one is attempted until HoldDown(addr, false, "")
// releases it. Release connects at once (the neighbor is re-created, so
// GoBGP's idle hold does not apply). The agent uses it for bfd.strict (BGP
// may not run while BFD is not Up). A hold set before Run, or for a peer
// added later by SetPeers, applies from the peer's first connection attempt.
func (s *Speaker) HoldDown(addr netip.Addr, held bool, reason string) error {
	addr = addr.Unmap()
	if held && reason == "" {
		reason = "held down"
	}
	return s.do(func(o *owner) error {
		if o.closing {
			return ErrClosed
		}
		if (o.held[addr] != "") == held {
			if held {
				o.held[addr] = reason
			}
			return nil
		}
		if held {
			o.held[addr] = reason
		} else {
			delete(o.held, addr)
		}
		if _, configured := o.havePeers[addr]; o.srv == nil || !configured {
			return nil
		}
		if !held {
			if err := o.recreate(addr, "released"); err != nil {
				return fmt.Errorf("release %s: %w", addr, err)
			}
			o.s.log.Info("bgp peer released", "peer", addr)
			return nil
		}
		o.foldCounters(o.listPeers(false))
		o.expectDrop(o.rt[addr], "held down: "+reason, "rsagent_hold_down")
		err := o.srv.DisablePeer(context.Background(), &api.DisablePeerRequest{Address: addr.String(), Communication: reason})
		if err != nil {
			return fmt.Errorf("hold down %s: %w", addr, err)
		}
		o.s.log.Warn("bgp peer held down", "peer", addr, "reason", reason)
		return nil
	})
}

// Held reports whether addr is held down, and why.
func (s *Speaker) Held(addr netip.Addr) (string, bool) {
	r, ok := s.snap.Load().held[addr.Unmap()]
	return r, ok
}
