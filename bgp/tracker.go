package bgp

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	api "github.com/osrg/gobgp/v4/api"
)

// tracker answers "have these UPDATEs reached the peers?" for drain and for
// shutdown: one mechanism, polled by the owner every pollInterval while
// anyone waits.
//
// Two steps per peer. Written: GoBGP counts a message as sent after the
// socket write, so a peer's sent-UPDATE counter tells when a change has left
// GoBGP. GoBGP v4 packs queued changes into as few UPDATEs as fit, so a
// withdrawal of k prefixes of one address family is between 1 and k UPDATEs:
// this step is done when the counter grew by the minimum the caller expects,
// or when it moved and then stood still for settleQuiet. Delivered: a socket
// write only means the kernel buffered the bytes; the change has reached the
// peer once the connection's send queue is empty, i.e. the peer's TCP stack
// acknowledged everything written (unackedBytes).
//
// A peer whose session ends before delivery is confirmed fails the wait: a
// peer with persistent routes (Route Server's PersistRoutes) keeps our route
// across a lost session, so "the session dropped" is not "withdrawn".
type tracker struct {
	quiet []*quietWait
	waits []*updateWait
}

// quietWait waits until every peer's sent-UPDATE counter stood still for one
// poll, or until, so that UPDATEs queued before a mark are not counted as if
// they carried the change that follows it.
type quietWait struct {
	until time.Time
	prev  map[netip.Addr]uint64
	then  func()
}

type updateWait struct {
	ctx  context.Context
	base map[netip.Addr]uint64 // peer → sent UPDATEs at the mark
	want map[netip.Addr]uint64 // peer → at least this many more
	last map[netip.Addr]progress
	done map[netip.Addr]bool   // delivered
	lost map[netip.Addr]string // will never be confirmed, and why
	then func(err error)
}

// ErrNotDelivered: a withdrawal (or other change) could not be confirmed as
// received by every peer that had our routes.
var ErrNotDelivered = errors.New("not confirmed delivered")

type progress struct {
	sent  uint64
	since time.Time
}

// settleQuiet is how long a peer's sent-UPDATE counter must stand still,
// after it moved past the mark, before the change counts as sent even though
// fewer UPDATEs than expected were written.
const settleQuiet = 200 * time.Millisecond

// quietLimit bounds the wait for counters to stand still before a mark.
const quietLimit = 250 * time.Millisecond

func (t *tracker) busy() bool { return len(t.quiet)+len(t.waits) > 0 }

func (t *tracker) addQuiet(then func()) {
	t.quiet = append(t.quiet, &quietWait{until: time.Now().Add(quietLimit), then: then})
}

func (t *tracker) addWait(ctx context.Context, base, want map[netip.Addr]uint64, then func(error)) {
	if len(base) == 0 {
		then(nil)
		return
	}
	t.waits = append(t.waits, &updateWait{ctx: ctx, base: base, want: want, last: map[netip.Addr]progress{},
		done: map[netip.Addr]bool{}, lost: map[netip.Addr]string{}, then: then})
}

// poll reads GoBGP's counters once and completes every wait that is done.
func (t *tracker) poll(o *owner) {
	if !t.busy() || o.srv == nil {
		t.abort()
		return
	}
	peers := o.listPeers(false)
	sent := map[netip.Addr]uint64{}
	for a, p := range peers {
		sent[a] = p.GetState().GetMessages().GetSent().GetUpdate()
	}
	now := time.Now()
	quiet := t.quiet[:0]
	var ready []func()
	for _, q := range t.quiet {
		if (q.prev != nil && maps.Equal(q.prev, sent)) || now.After(q.until) {
			ready = append(ready, q.then)
			continue
		}
		q.prev = sent
		quiet = append(quiet, q)
	}
	t.quiet = quiet
	waits := t.waits[:0]
	var finished []func()
	for _, w := range t.waits {
		pending := w.pending(o, peers, now)
		switch {
		case len(pending) == 0 && len(w.lost) == 0:
			finished = append(finished, func() { w.then(nil) })
		case len(pending) == 0:
			err := fmt.Errorf("%s: %w", joinReasons(w.lost), ErrNotDelivered)
			finished = append(finished, func() { w.then(err) })
		case w.ctx.Err() != nil:
			for a, why := range pending {
				w.lost[a] = why
			}
			err := fmt.Errorf("%s: %w: %w", joinReasons(w.lost), ErrNotDelivered, w.ctx.Err())
			finished = append(finished, func() { w.then(err) })
		default:
			waits = append(waits, w)
		}
	}
	t.waits = waits
	// Callbacks run after the lists are consistent: they may add waits.
	for _, f := range ready {
		f()
	}
	for _, f := range finished {
		f()
	}
}

// abort completes every wait at once; GoBGP is gone.
func (t *tracker) abort() {
	q, w := t.quiet, t.waits
	t.quiet, t.waits = nil, nil
	for _, x := range q {
		x.then()
	}
	for _, x := range w {
		x.then(errSpeakerStopped)
	}
}

var errSpeakerStopped = fmt.Errorf("the bgp speaker stopped before delivery was confirmed: %w", ErrNotDelivered)

// pending returns the peers whose UPDATEs have not yet reached them, with
// what is missing. Peers whose session ended first move to w.lost.
func (w *updateWait) pending(o *owner, peers map[netip.Addr]*api.Peer, now time.Time) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for a, before := range w.base {
		if w.done[a] || w.lost[a] != "" {
			continue
		}
		p := peers[a]
		if p == nil || p.GetState().GetSessionState() != api.PeerState_SESSION_STATE_ESTABLISHED {
			w.lost[a] = "the session ended before the peer acknowledged the update"
			continue
		}
		sent := p.GetState().GetMessages().GetSent().GetUpdate()
		if sent < before+w.want[a] {
			pr, ok := w.last[a]
			if !ok || pr.sent != sent {
				pr = progress{sent: sent, since: now}
				w.last[a] = pr
			}
			if sent == before || now.Sub(pr.since) < settleQuiet {
				out[a] = "the update was not written to the session"
				continue
			}
		}
		why, err := o.unacked(a)
		switch {
		case errors.Is(err, errSocketGone):
			w.lost[a] = "the session's connection closed before the peer acknowledged the update"
		case err != nil:
			out[a] = "delivery unknown: " + err.Error()
		case why != "":
			out[a] = why
		default:
			w.done[a] = true
		}
	}
	return out
}

// unacked reports what keeps the peer's connection from having delivered
// everything written to it ("" when nothing does).
func (o *owner) unacked(a netip.Addr) (string, error) {
	rt := o.rt[a]
	switch {
	case rt == nil:
		return "", errSocketGone
	case !rt.conn.valid():
		// GoBGP says Established but its event (which carries the ports)
		// has not reached us yet: ask again at the next poll.
		return "the session's connection is not known yet", nil
	}
	n, err := unackedBytes(rt.conn.local, rt.conn.remote)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return "", nil // no sock_diag: the socket write is all we can know
	case err != nil:
		return "", err
	case n > 0:
		return fmt.Sprintf("%d bytes written but not acknowledged by the peer's TCP stack", n), nil
	}
	return "", nil
}

func joinReasons(m map[netip.Addr]string) string {
	addrs := slices.SortedFunc(maps.Keys(m), netip.Addr.Compare)
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = fmt.Sprintf("peer %s: %s", a, m[a])
	}
	return strings.Join(s, "; ")
}

// UpdatesMark snapshots, for every Established peer that we announce
// something to, how many UPDATEs it has been sent, once the counters have
// stood still (at most 250 ms). Pass it to WaitUpdatesSent after a Set to
// learn when that change has left. Before Run and after it the mark is empty.
func (s *Speaker) UpdatesMark() map[netip.Addr]uint64 {
	res := make(chan map[netip.Addr]uint64, 1)
	err := s.query(func(o *owner) error {
		o.tracker.addQuiet(func() { res <- o.markAdvertised(nil) })
		return nil
	})
	if err != nil {
		return map[netip.Addr]uint64{}
	}
	select {
	case m := <-res:
		return m
	case <-s.done:
		return map[netip.Addr]uint64{}
	}
}

// markAdvertised returns the sent-UPDATE counter of every Established peer
// that has routes from us; with families non-nil it also fills, per peer, how
// many address families carry them.
func (o *owner) markAdvertised(families map[netip.Addr]uint64) map[netip.Addr]uint64 {
	out := map[netip.Addr]uint64{}
	for a, p := range o.listPeers(true) {
		if p.GetState().GetSessionState() != api.PeerState_SESSION_STATE_ESTABLISHED {
			continue
		}
		n := uint64(0)
		for _, af := range p.GetAfiSafis() {
			if af.GetState().GetAdvertised() > 0 {
				n++
			}
		}
		if n == 0 {
			continue
		}
		out[a] = p.GetState().GetMessages().GetSent().GetUpdate()
		if families != nil {
			families[a] = n
		}
	}
	return out
}

// WaitUpdatesSent waits until every peer in mark has received the change:
// it has been sent n more UPDATEs, or its counter moved and then stood still
// for settleQuiet (GoBGP packs several changes into one UPDATE), and the
// peer's TCP stack has acknowledged everything written to the session. It
// returns an error wrapping ErrNotDelivered, naming each peer and what is
// missing, when a session ends first or ctx ends first.
func (s *Speaker) WaitUpdatesSent(ctx context.Context, mark map[netip.Addr]uint64, n uint64) error {
	if len(mark) == 0 {
		return nil
	}
	res := make(chan error, 1)
	err := s.query(func(o *owner) error {
		want := make(map[netip.Addr]uint64, len(mark))
		for a := range mark {
			want[a] = n
		}
		o.tracker.addWait(ctx, maps.Clone(mark), want, func(err error) { res <- err })
		return nil
	})
	if err != nil {
		return err
	}
	select {
	case err := <-res:
		return err
	case <-s.done:
		return errSpeakerStopped
	}
}

// shutdownCommunication is the RFC 8203 text peers log when we shut down.
const shutdownCommunication = "rsagent shutting down"

// closeGrace bounds the wait for sessions to go down after our Cease.
const closeGrace = 500 * time.Millisecond

// shutdown is the state of the shutdown sequence: withdraw everything, wait
// (bounded by ctx) for the withdrawals to leave, close every session with
// Cease/Administrative Shutdown, wait (bounded) until they are down, stop
// GoBGP.
type shutdown struct {
	ctx     context.Context
	replies []chan error
	werr    error
	closeBy time.Time // zero until the sessions are being closed
}

// beginShutdown starts the sequence; res (if not nil) receives its result.
func (o *owner) beginShutdown(ctx context.Context, res chan error) {
	if o.stop != nil {
		if res != nil {
			o.stop.replies = append(o.stop.replies, res)
		}
		return
	}
	o.closing = true
	o.stop = &shutdown{ctx: ctx}
	if res != nil {
		o.stop.replies = append(o.stop.replies, res)
	}
	if o.srv == nil {
		o.endShutdown()
		return
	}
	if len(o.applied) == 0 {
		o.closeSessions()
		return
	}
	o.tracker.addQuiet(o.withdrawAll)
}

// withdrawAll removes every advertisement with one DeletePath (so GoBGP
// packs each family into as few UPDATEs as fit) and waits for them to leave.
func (o *owner) withdrawAll() {
	families := map[netip.Addr]uint64{}
	base := o.markAdvertised(families)
	if err := o.srv.DeletePath(deleteAll()); err != nil {
		o.stop.werr = fmt.Errorf("withdraw all prefixes: %w", err)
		o.closeSessions()
		return
	}
	withdrawn := len(o.applied)
	clear(o.applied)
	o.s.log.Info("bgp prefixes withdrawn for shutdown", "count", withdrawn, "peers_waited_for", len(base))
	o.tracker.addWait(o.stop.ctx, base, families, func(err error) {
		if err != nil {
			o.stop.werr = err
		}
		o.closeSessions()
	})
}

// closeSessions sends every configured peer Cease/Administrative Shutdown
// with shutdownCommunication, so the peer's log says why the session ended.
// StopBgp alone would send Cease/Peer De-configured without a reason.
func (o *owner) closeSessions() {
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	for addr := range o.havePeers {
		if o.held[addr] != "" {
			continue // already administratively down
		}
		o.expectDrop(o.rt[addr], "shutdown", "rsagent_shutdown")
		if err := o.srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: addr.String(), Communication: shutdownCommunication}); err != nil {
			o.s.log.Debug("bgp shutdown: disable peer", "peer", addr, "err", err)
		}
	}
	o.stop.closeBy = time.Now().Add(closeGrace)
	o.stepShutdown()
}

// stepShutdown ends the sequence once no session is Established any more,
// or closeGrace has passed.
func (o *owner) stepShutdown() {
	if o.stop == nil || o.stop.closeBy.IsZero() || o.finished {
		return
	}
	up := 0
	for _, p := range o.listPeers(false) {
		if p.GetState().GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED {
			up++
		}
	}
	if up > 0 && time.Now().Before(o.stop.closeBy) {
		return
	}
	if up > 0 {
		o.s.log.Warn("bgp shutdown: sessions still up after Cease; stopping anyway", "established", up, "grace", closeGrace)
	}
	o.endShutdown()
}

func (o *owner) endShutdown() {
	if o.srv != nil {
		o.s.stopServer(o.srv, time.Second)
		o.srv = nil
		o.s.log.Info("bgp speaker stopped")
	}
	o.tracker.abort()
	if o.stop.werr != nil && len(o.stop.replies) == 0 {
		o.s.log.Warn("bgp drain incomplete", "error", o.stop.werr)
	}
	o.s.drainErr.Store(&boxedErr{err: o.stop.werr})
	for _, r := range o.stop.replies {
		r <- o.stop.werr
	}
	o.finished = true
}
