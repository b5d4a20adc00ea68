package bgp

import (
	"context"
	"fmt"
	"net/netip"

	api "github.com/osrg/gobgp/v3/api"
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
