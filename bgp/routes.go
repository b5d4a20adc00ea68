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

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// appliedPath is an advertisement GoBGP holds, with the UUID AddPath gave it.
type appliedPath struct {
	adv  Advertisement
	uuid []byte
}

// Set replaces the whole desired set of advertisements. Only the difference
// from what GoBGP already holds is applied: new or changed prefixes are
// (re-)added, which GoBGP treats as an implicit replace, and missing ones are
// withdrawn; an identical set sends nothing. Before Run is ready the set is
// stored and applied on start. On a partial failure the next Set retries
// what is still missing.
func (s *Speaker) Set(advs []Advertisement) error {
	want, err := normalizeAdvertisements(advs, s.cfg)
	if err != nil {
		return fmt.Errorf("set bgp advertisements: %w", err)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closing {
		return ErrClosed
	}
	s.desired = want
	srv := s.server()
	if srv == nil {
		return nil
	}
	return s.applyAdvertisementsLocked(srv)
}

// Advertised returns the advertisements GoBGP currently holds, sorted by prefix.
func (s *Speaker) Advertised() []Advertisement {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	out := make([]Advertisement, 0, len(s.applied))
	for _, a := range s.applied {
		out = append(out, a.adv)
	}
	slices.SortFunc(out, func(a, b Advertisement) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out
}

func (s *Speaker) applyAdvertisementsLocked(srv *server.BgpServer) error {
	have := make(map[netip.Prefix]Advertisement, len(s.applied))
	for p, a := range s.applied {
		have[p] = a.adv
	}
	d := diffAdvertisements(have, s.desired)
	if d.empty() {
		return nil
	}
	ctx := context.Background()
	var errs []error
	// Withdraw first: with the 100-routes-per-peer limit of Route Server a
	// replace-heavy set should never be briefly over the limit.
	for _, p := range d.del {
		if err := srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Uuid: s.applied[p].uuid}); err != nil {
			errs = append(errs, fmt.Errorf("withdraw %s: %w", p, err))
			continue
		}
		delete(s.applied, p)
		s.log.Info("bgp prefix withdrawn", "prefix", p)
	}
	for _, a := range d.put {
		path, err := apiPath(a, s.cfg.ASN)
		if err != nil {
			errs = append(errs, fmt.Errorf("build path for %s: %w", a.Prefix, err))
			continue
		}
		resp, err := srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path})
		if err != nil {
			errs = append(errs, fmt.Errorf("advertise %s: %w", a.Prefix, err))
			continue
		}
		_, replaced := s.applied[a.Prefix]
		s.applied[a.Prefix] = appliedPath{adv: a, uuid: resp.GetUuid()}
		s.log.Info("bgp prefix advertised", "prefix", a.Prefix, "next_hop", a.NextHop,
			"med", a.MED, "as_path_prepend", a.ASPathPrepend, "replaced", replaced)
	}
	return errors.Join(errs...)
}

// apiPath builds the GoBGP path for a: ORIGIN IGP, NEXT_HOP (IPv4) or
// MP_REACH_NLRI (IPv6), MED, and an AS_PATH of prepend copies of asn (GoBGP
// adds asn once more on eBGP export).
func apiPath(a Advertisement, asn uint32) (*api.Path, error) {
	nlri, err := anypb.New(&api.IPAddressPrefix{
		Prefix:    a.Prefix.Addr().String(),
		PrefixLen: uint32(a.Prefix.Bits()),
	})
	if err != nil {
		return nil, err
	}
	segments := []*api.AsSegment{}
	if a.ASPathPrepend > 0 {
		nums := make([]uint32, a.ASPathPrepend)
		for i := range nums {
			nums[i] = asn
		}
		segments = append(segments, &api.AsSegment{Type: api.AsSegment_AS_SEQUENCE, Numbers: nums})
	}
	attrs := []proto.Message{
		&api.OriginAttribute{Origin: 0},
		&api.MultiExitDiscAttribute{Med: a.MED},
		&api.AsPathAttribute{Segments: segments},
	}
	family := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	if a.Prefix.Addr().Is4() {
		attrs = append(attrs, &api.NextHopAttribute{NextHop: a.NextHop.String()})
	} else {
		family = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
		attrs = append(attrs, &api.MpReachNLRIAttribute{
			Family:   family,
			NextHops: []string{a.NextHop.String()},
			Nlris:    []*anypb.Any{nlri},
		})
	}
	pattrs := make([]*anypb.Any, 0, len(attrs))
	for _, m := range attrs {
		x, err := anypb.New(m)
		if err != nil {
			return nil, err
		}
		pattrs = append(pattrs, x)
	}
	return &api.Path{Family: family, Nlri: nlri, Pattrs: pattrs}, nil
}

// withdrawAllLocked removes every advertisement, then waits until each peer
// that was Established and had routes from us has written the UPDATEs that
// carry the withdrawals (GoBGP counts a message as sent after the socket
// write), or has left Established, or ctx ends. GoBGP v3 sends one UPDATE per
// withdrawn path, so the target is one more UPDATE per advertised prefix; in
// case a version packs several into one, a counter that moved and then stayed
// still for settleQuiet also ends the wait.
func (s *Speaker) withdrawAllLocked(ctx context.Context, srv *server.BgpServer) error {
	if len(s.applied) == 0 {
		return nil
	}
	// The target below counts UPDATEs written after this point. UPDATEs
	// still queued from before (a session that just came up) would count
	// towards it, so wait (briefly) until each peer's counter is still.
	s.waitUpdatesQuiet(ctx, srv, 250*time.Millisecond)
	type target struct {
		before, want, last uint64
		lastChange         time.Time
	}
	targets := map[string]*target{}
	err := srv.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) {
		if p.GetState().GetSessionState() != api.PeerState_ESTABLISHED {
			return
		}
		advertised := uint64(0)
		for _, af := range p.GetAfiSafis() {
			advertised += af.GetState().GetAdvertised()
		}
		if advertised > 0 {
			sent := p.GetState().GetMessages().GetSent().GetUpdate()
			targets[p.GetState().GetNeighborAddress()] = &target{before: sent, want: sent + advertised, last: sent, lastChange: time.Now()}
		}
	})
	if err != nil {
		return fmt.Errorf("list peers before withdrawing: %w", err)
	}
	if err := srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL}); err != nil {
		return fmt.Errorf("withdraw all prefixes: %w", err)
	}
	withdrawn := len(s.applied)
	clear(s.applied)
	s.log.Info("bgp prefixes withdrawn for shutdown", "count", withdrawn, "peers_waited_for", len(targets))

	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for len(targets) > 0 {
		now := time.Now()
		err := srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			addr := p.GetState().GetNeighborAddress()
			t, ok := targets[addr]
			if !ok {
				return
			}
			sent := p.GetState().GetMessages().GetSent().GetUpdate()
			if sent != t.last {
				t.last, t.lastChange = sent, now
			}
			if p.GetState().GetSessionState() != api.PeerState_ESTABLISHED || sent >= t.want ||
				(sent > t.before && now.Sub(t.lastChange) >= settleQuiet) {
				delete(targets, addr)
			}
		})
		if err != nil {
			return fmt.Errorf("list peers while withdrawing: %w", err)
		}
		if len(targets) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("withdrawals not confirmed sent to %s: %w",
				strings.Join(slices.Sorted(maps.Keys(targets)), ","), ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// settleQuiet is how long a peer's sent-UPDATE counter must stand still,
// after the withdrawal started moving it, before the withdrawal counts as
// sent even though fewer UPDATEs than prefixes were written.
const settleQuiet = 200 * time.Millisecond

// waitUpdatesQuiet polls every peer's sent-UPDATE counter until two reads
// 20 ms apart agree, or limit passes.
func (s *Speaker) waitUpdatesQuiet(ctx context.Context, srv *server.BgpServer, limit time.Duration) {
	read := func() map[string]uint64 {
		m := map[string]uint64{}
		_ = srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			m[p.GetState().GetNeighborAddress()] = p.GetState().GetMessages().GetSent().GetUpdate()
		})
		return m
	}
	deadline := time.Now().Add(limit)
	prev := read()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
		cur := read()
		if maps.Equal(prev, cur) {
			return
		}
		prev = cur
	}
}
