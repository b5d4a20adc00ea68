package vpcsim

import (
	"slices"
	"strconv"
)

// Filter names for these two actions are not documented by AWS; the ones
// below are the obvious attribute names and are listed in the README.

func peerAttrs(p RouteServerPeer, name string) ([]string, bool) {
	switch name {
	case "route-server-peer-id":
		return []string{p.ID}, true
	case "route-server-id":
		return []string{p.RouteServerID}, true
	case "route-server-endpoint-id":
		return []string{p.EndpointID}, true
	case "peer-address":
		return []string{p.PeerAddress.String()}, true
	case "bgp-status":
		return []string{p.BGPStatus}, true
	}
	return nil, false
}

func describeRouteServerPeers(r *request) (response, *APIError) {
	ids, fs, e := r.describeArgs("RouteServerPeerId", func(n string) bool { _, ok := peerAttrs(RouteServerPeer{}, n); return ok })
	if e != nil {
		return nil, e
	}
	list, e := selectItems(r.vpc.RouteServerPeers(), ids, fs, func(p RouteServerPeer) string { return p.ID },
		func(p RouteServerPeer, n string) []string { a, _ := peerAttrs(p, n); return a },
		func(id string) *APIError { return errInvalid("The route server peer ID '%s' does not exist", id) })
	if e != nil {
		return nil, e
	}
	start, end, next, e := r.page(len(list), 5, 1000)
	if e != nil {
		return nil, e
	}
	endpoints := r.vpc.RouteServerEndpoints()
	resp := &describeRouteServerPeersResponse{NextToken: next, Peers: []xmlRouteServerPeer{}}
	for _, p := range list[start:end] {
		x := xmlRouteServerPeer{ID: p.ID, RouteServerID: p.RouteServerID, EndpointID: p.EndpointID, VpcID: r.vpc.ID(),
			State: "available", PeerAddress: p.PeerAddress.String(),
			BGPOptions: xmlBGPOptions{PeerASN: p.PeerASN, Liveness: p.Liveness}, BGPStatus: xmlStatus{Status: p.BGPStatus}}
		if i := slices.IndexFunc(endpoints, func(e RouteServerEndpoint) bool { return e.ID == p.EndpointID }); i >= 0 {
			x.SubnetID, x.EndpointENI, x.EndpointENIAddress = endpoints[i].SubnetID, endpoints[i].ENI, endpoints[i].Address.String()
		}
		if p.Liveness == LivenessBFD {
			x.BFDStatus = &xmlStatus{Status: p.BFDStatus}
		}
		resp.Peers = append(resp.Peers, x)
	}
	return resp, nil
}

func ribAttrs(v ribView, name string) ([]string, bool) {
	switch name {
	case "route-search.exact-match":
		return []string{v.route.Prefix.String()}, true
	case "route-status":
		if v.route.InFIB {
			return []string{"in-fib"}, true
		}
		return []string{"in-rib"}, true
	case "route-server-peer-id":
		return []string{v.route.PeerID}, true
	case "route-server-endpoint-id":
		return []string{v.route.EndpointID}, true
	case "next-hop-ip":
		return []string{v.route.NextHop.String()}, true
	}
	return nil, false
}

func getRouteServerRoutingDatabase(r *request) (response, *APIError) {
	dry, e := r.dryRun()
	if e != nil {
		return nil, e
	}
	rs := r.form.Get("RouteServerId")
	if rs == "" {
		return nil, errMissing("RouteServerId")
	}
	fs, e := r.filters(func(n string) bool { _, ok := ribAttrs(ribView{}, n); return ok })
	if e != nil {
		return nil, e
	}
	if dry {
		return nil, errDryRun()
	}
	rib, ok := r.vpc.routingDatabase(rs)
	if !ok {
		return nil, errRouteServerNotFound(rs)
	}
	rib = slices.DeleteFunc(rib, func(v ribView) bool {
		return !matches(fs, func(n string) []string { a, _ := ribAttrs(v, n); return a })
	})
	start, end, next, e := r.page(len(rib), 5, 1000)
	if e != nil {
		return nil, e
	}
	resp := &getRouteServerRoutingDatabaseResponse{NextToken: next, Routes: []xmlRIBRoute{}}
	for _, v := range rib[start:end] {
		status, _ := ribAttrs(v, "route-status")
		x := xmlRIBRoute{Prefix: v.route.Prefix.String(), RouteStatus: status[0], EndpointID: v.route.EndpointID,
			PeerID: v.route.PeerID, NextHop: v.route.NextHop.String(), MED: v.route.MED}
		for _, asn := range v.route.ASPath {
			x.ASPath = append(x.ASPath, strconv.FormatUint(uint64(asn), 10))
		}
		for _, in := range v.installs {
			x.Installations = append(x.Installations, xmlInstallation{RouteTableID: in.table, Status: in.status, Reason: in.reason})
		}
		resp.Routes = append(resp.Routes, x)
	}
	return resp, nil
}
