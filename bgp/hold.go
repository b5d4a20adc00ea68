package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"
)

// HoldDown keeps the session to addr administratively down while held is
// true: an Established session is closed (Cease/Administrative Shutdown with
// reason) and no new one is attempted until HoldDown(addr, false, "")
// releases it. The agent uses it for bfd.strict (BGP may not run while BFD is
// not Up). A hold set before Run, or for a peer added later by SetPeers,
// applies from the peer's first connection attempt.
func (s *Speaker) HoldDown(addr netip.Addr, held bool, reason string) error {
	addr = addr.Unmap()
	if held && reason == "" {
		reason = "held down"
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.closing {
		return ErrClosed
	}
	if (s.held[addr] != "") == held {
		if held {
			s.held[addr] = reason
		}
		return nil
	}
	if held {
		s.held[addr] = reason
	} else {
		delete(s.held, addr)
	}
	srv := s.server()
	if _, configured := s.havePeers[addr]; srv == nil || !configured {
		return nil
	}
	ctx := context.Background()
	if held {
		if err := srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: addr.String(), Communication: reason}); err != nil {
			return fmt.Errorf("hold down %s: %w", addr, err)
		}
		s.log.Warn("bgp peer held down", "peer", addr, "reason", reason)
		return nil
	}
	if err := srv.EnablePeer(ctx, &api.EnablePeerRequest{Address: addr.String()}); err != nil {
		return fmt.Errorf("release %s: %w", addr, err)
	}
	s.log.Info("bgp peer released", "peer", addr)
	return nil
}

// Held reports whether addr is held down, and why.
func (s *Speaker) Held(addr netip.Addr) (string, bool) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	r, ok := s.held[addr.Unmap()]
	return r, ok
}

// UpdatesMark snapshots, for every Established peer that we announce
// something to, how many UPDATEs it has been sent. Pass it to
// WaitUpdatesSent after a Set to learn when that change has left.
func (s *Speaker) UpdatesMark() map[netip.Addr]uint64 {
	out := map[netip.Addr]uint64{}
	for _, p := range s.Peers() {
		if p.State == StateEstablished && p.Advertised > 0 {
			out[p.Address] = p.UpdatesSent
		}
	}
	return out
}

// WaitUpdatesSent waits until every peer in mark that is still Established
// has been sent n more UPDATEs (GoBGP v3 sends one per changed prefix), or
// its counter moved and then stood still for settleQuiet (in case several
// changes shared one UPDATE), or ctx ends.
func (s *Speaker) WaitUpdatesSent(ctx context.Context, mark map[netip.Addr]uint64, n uint64) error {
	type progress struct {
		last  uint64
		since time.Time
	}
	seen := map[netip.Addr]*progress{}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		now := time.Now()
		pending := 0
		for _, p := range s.Peers() {
			before, ok := mark[p.Address]
			if !ok || p.State != StateEstablished || p.UpdatesSent >= before+n {
				continue
			}
			pr := seen[p.Address]
			if pr == nil || pr.last != p.UpdatesSent {
				pr = &progress{last: p.UpdatesSent, since: now}
				seen[p.Address] = pr
			}
			if p.UpdatesSent > before && now.Sub(pr.since) >= settleQuiet {
				continue
			}
			pending++
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("updates not confirmed sent to %d peers: %w", pending, ctx.Err())
		case <-tick.C:
		}
	}
}

// shutdownCommunication is the RFC 8203 text peers log when we shut down.
const shutdownCommunication = "rsagent shutting down"

// closeSessionsLocked sends every configured peer Cease/Administrative
// Shutdown with shutdownCommunication, so the peer's log says why the session
// ended, and waits (at most grace) until GoBGP has taken each session down.
// StopBgp alone would send Cease/Peer De-configured, and in GoBGP v3.37 it
// clears the global config while live sessions' receive goroutines still
// read it.
func (s *Speaker) closeSessionsLocked(srv *server.BgpServer, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	for addr := range s.havePeers {
		if s.held[addr] != "" {
			continue // already administratively down
		}
		if err := srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: addr.String(), Communication: shutdownCommunication}); err != nil {
			s.log.Debug("bgp shutdown: disable peer", "peer", addr, "err", err)
		}
	}
	if n, ok := waitSessionsDown(ctx, srv); !ok {
		s.log.Warn("bgp shutdown: sessions still up after Cease; stopping anyway", "established", n, "grace", grace)
	}
}

// waitSessionsDown polls srv every 10 ms until none of its sessions is
// Established. When ctx ends first it returns false and the last count seen.
func waitSessionsDown(ctx context.Context, srv *server.BgpServer) (established int, ok bool) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n := 0
		err := srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			if p.GetState().GetSessionState() == api.PeerState_ESTABLISHED {
				n++
			}
		})
		if err == nil {
			if n == 0 {
				return 0, true
			}
			established = n
		}
		select {
		case <-ctx.Done():
			return established, false
		case <-tick.C:
		}
	}
}
