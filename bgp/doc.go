// Package bgp wraps an embedded GoBGP v4 server as a declarative speaker:
// callers hand it the whole desired set of advertisements and it applies the
// difference. It owns peers (the agent always initiates), per-peer timers,
// peer state events, peer resets and the GoBGP gRPC API used by the stock
// gobgp CLI.
//
// bgp is a leaf: it must not import bfd, routetable, agent, prometheus or
// cobra. The agent package decides when a peer is reset and why.
package bgp
