package vpcsim

import (
	"cmp"
	"net/netip"
	"slices"
)

// Candidate is one path a route server endpoint received from a peer, as
// the best-path choice sees it.
type Candidate struct {
	Prefix     netip.Prefix
	NextHop    netip.Addr
	ASPathLen  int
	ASPath     []uint32
	MED        uint32
	PeerID     string // "rsp-…"
	EndpointID string // "rse-…"
	// Live is false while the peer's BFD session (liveness bfd) is not Up:
	// Route Server then ignores its routes even if BGP is still Established.
	Live bool
}

// BestPaths picks one path per prefix the way Amazon VPC Route Server is
// documented to: shortest AS path, then lowest MED; one next hop, no ECMP.
// Paths of peers that are not live are ignored. Ties go to the lowest next
// hop, then the lowest peer and endpoint id, so the choice is repeatable
// (Route Server's own tie-break is not documented). The result is sorted by
// prefix.
func BestPaths(cands []Candidate) []Candidate {
	best := map[netip.Prefix]Candidate{}
	for _, c := range cands {
		if !c.Live {
			continue
		}
		c.Prefix = c.Prefix.Masked()
		cur, ok := best[c.Prefix]
		if !ok || compareCandidates(c, cur) < 0 {
			best[c.Prefix] = c
		}
	}
	out := make([]Candidate, 0, len(best))
	for _, c := range best {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Candidate) int { return comparePrefix(a.Prefix, b.Prefix) })
	return out
}

func compareCandidates(a, b Candidate) int {
	return cmp.Or(
		cmp.Compare(a.ASPathLen, b.ASPathLen),
		cmp.Compare(a.MED, b.MED),
		a.NextHop.Compare(b.NextHop),
		cmp.Compare(a.PeerID, b.PeerID),
		cmp.Compare(a.EndpointID, b.EndpointID),
	)
}
