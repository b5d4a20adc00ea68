package vpcsim

import (
	"fmt"
	"net/netip"
	"slices"
)

// RouteServerEndpoint is one route server endpoint: an ENI in a subnet that
// the appliance's BGP session connects to.
type RouteServerEndpoint struct {
	ID            string // "rse-…"
	RouteServerID string
	SubnetID      string
	ENI           string // "eni-…", created with the endpoint
	Address       netip.Addr
}

// Route server peer liveness modes and BGP/BFD states as EC2 reports them.
const (
	LivenessBGPKeepalive = "bgp-keepalive"
	LivenessBFD          = "bfd"
	PeerStatusUp         = "up"
	PeerStatusDown       = "down"
)

// RouteServerPeer is an appliance as a route server endpoint knows it.
type RouteServerPeer struct {
	ID            string // "rsp-…"
	RouteServerID string
	EndpointID    string
	PeerAddress   netip.Addr
	PeerASN       uint32
	Liveness      string // LivenessBGPKeepalive or LivenessBFD
	BGPStatus     string // PeerStatusUp or PeerStatusDown
	BFDStatus     string // PeerStatusUp or PeerStatusDown; meaningful with LivenessBFD
}

// RIBRoute is one entry of a route server's routing database.
type RIBRoute struct {
	Prefix     netip.Prefix
	PeerID     string
	EndpointID string
	NextHop    netip.Addr
	ASPath     []uint32
	MED        uint32
	// InFIB marks the best path Route Server installs; the others are in-rib.
	InFIB bool
}

// AddRouteServerEndpoint creates an endpoint of the route server in subnet,
// with its own ENI at addr, and returns the endpoint id.
func (v *VPC) AddRouteServerEndpoint(rsID, subnetID string, addr netip.Addr) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.routeServers[rsID]; !ok {
		return "", fmt.Errorf("add endpoint to %s: %w", rsID, errRouteServerNotFound(rsID))
	}
	e := RouteServerEndpoint{ID: v.newIDLocked("rse"), RouteServerID: rsID, SubnetID: subnetID, ENI: v.newIDLocked("eni"), Address: addr}
	v.enis[e.ENI] = addr
	v.endpoints[e.ID] = e
	v.bumpLocked()
	return e.ID, nil
}

// AddRouteServerPeer creates a peer on the endpoint and returns its id. The
// BGP (and BFD) status starts down.
func (v *VPC) AddRouteServerPeer(endpointID string, addr netip.Addr, asn uint32, liveness string) (string, error) {
	if liveness == "" {
		liveness = LivenessBGPKeepalive
	}
	if liveness != LivenessBGPKeepalive && liveness != LivenessBFD {
		return "", fmt.Errorf("add peer %s to %s: liveness %q is neither %s nor %s", addr, endpointID, liveness, LivenessBGPKeepalive, LivenessBFD)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	e, ok := v.endpoints[endpointID]
	if !ok {
		return "", fmt.Errorf("add peer %s: route server endpoint %s does not exist", addr, endpointID)
	}
	p := RouteServerPeer{ID: v.newIDLocked("rsp"), RouteServerID: e.RouteServerID, EndpointID: endpointID,
		PeerAddress: addr, PeerASN: asn, Liveness: liveness, BGPStatus: PeerStatusDown, BFDStatus: PeerStatusDown}
	v.peers[p.ID] = p
	v.bumpLocked()
	return p.ID, nil
}

// SetPeerStatus records the BGP and BFD status an emulated endpoint observes.
func (v *VPC) SetPeerStatus(peerID, bgp, bfd string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	p, ok := v.peers[peerID]
	if !ok {
		return fmt.Errorf("set status of peer %s: it does not exist", peerID)
	}
	p.BGPStatus, p.BFDStatus = bgp, bfd
	v.peers[peerID] = p
	v.bumpLocked()
	return nil
}

// RouteServerEndpoints returns all endpoints, sorted by id.
func (v *VPC) RouteServerEndpoints() []RouteServerEndpoint {
	v.mu.Lock()
	defer v.mu.Unlock()
	return byID(v.endpoints)
}

// RouteServerPeers returns all peers, sorted by id.
func (v *VPC) RouteServerPeers() []RouteServerPeer {
	v.mu.Lock()
	defer v.mu.Unlock()
	return byID(v.peers)
}

// SetRoutingDatabase replaces the route server's routing database, which
// GetRouteServerRoutingDatabase reports. It does not touch route tables:
// whoever emulates Route Server installs the best paths with PutRoute.
func (v *VPC) SetRoutingDatabase(rsID string, routes []RIBRoute) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.routeServers[rsID]; !ok {
		return fmt.Errorf("set routing database of %s: %w", rsID, errRouteServerNotFound(rsID))
	}
	cp := make([]RIBRoute, len(routes))
	for i, r := range routes {
		r.Prefix = r.Prefix.Masked()
		r.ASPath = slices.Clone(r.ASPath)
		cp[i] = r
	}
	slices.SortStableFunc(cp, func(a, b RIBRoute) int { return comparePrefix(a.Prefix, b.Prefix) })
	v.ribs[rsID] = cp
	v.bumpLocked()
	return nil
}

// installation is whether an in-fib route is in one propagated table.
type installation struct {
	table, status, reason string
}

type ribView struct {
	route    RIBRoute
	installs []installation
}

// routingDatabase reports the RIB with, for each in-fib route, whether each
// propagated table really holds it: a test that breaks a table sees
// "rejected" here, as an operator would.
func (v *VPC) routingDatabase(rsID string) ([]ribView, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.routeServers[rsID]; !ok {
		return nil, false
	}
	tables := make([]string, 0, len(v.propagations[rsID]))
	for id := range v.propagations[rsID] {
		tables = append(tables, id)
	}
	slices.Sort(tables)
	out := make([]ribView, 0, len(v.ribs[rsID]))
	for _, r := range v.ribs[rsID] {
		view := ribView{route: r}
		if r.InFIB {
			for _, id := range tables {
				inst := installation{table: id, status: "installed"}
				got, ok := v.tables[id].routes[r.Prefix]
				if !ok || got.Origin != OriginAdvertisement || got.IPAddress != r.NextHop.String() {
					inst.status, inst.reason = "rejected", "the route table holds another route for this prefix"
				}
				view.installs = append(view.installs, inst)
			}
		}
		out = append(out, view)
	}
	return out, true
}
