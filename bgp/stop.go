package bgp

import (
	"context"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// StopGoBGP closes every session of an embedded GoBGP server with Cease /
// Administrative Shutdown carrying communication (so the peer's log says
// why), waits until they are down, then stops the server. Each step gives up
// after grace: StopBgp waits for every peer goroutine, and a write to a dead
// peer can block. For GoBGP servers other than the speaker's (the emulated
// Route Server, test peers); the speaker shuts down through its owner.
func StopGoBGP(srv *server.BgpServer, communication string, grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var addrs []string
	_ = srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) { addrs = append(addrs, p.GetConf().GetNeighborAddress()) })
	for _, a := range addrs {
		_ = srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: a, Communication: communication})
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for ctx.Err() == nil {
		up := 0
		_ = srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			if p.GetState().GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED {
				up++
			}
		})
		if up == 0 {
			break
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	stopWithin(srv, grace)
}

// stopWithin stops srv and reports whether it stopped within grace; when it
// did not, the stop goes on in the background.
func stopWithin(srv *server.BgpServer, grace time.Duration) bool {
	done := make(chan struct{})
	go func() {
		srv.Stop()
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
