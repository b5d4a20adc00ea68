package vpcsim

import (
	"cmp"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ownerID is the account every emulated resource belongs to.
const ownerID = "111122223333"

type request struct {
	form url.Values
	vpc  *VPC
	fail failRule
}

type handler func(*request) (response, *APIError)

// handlerFor is a switch rather than a map so that the package holds no
// mutable state.
func handlerFor(action string) (handler, bool) {
	switch action {
	case "DescribeRouteTables":
		return describeRouteTables, true
	case "CreateRoute":
		return routeMutation(opCreate), true
	case "ReplaceRoute":
		return routeMutation(opReplace), true
	case "DeleteRoute":
		return routeMutation(opDelete), true
	case "GetRouteServerPropagations":
		return getRouteServerPropagations, true
	case "DescribeRouteServers":
		return describeRouteServers, true
	case "DescribeNetworkInterfaces":
		return describeNetworkInterfaces, true
	case "DescribeRouteServerPeers":
		return describeRouteServerPeers, true
	case "GetRouteServerRoutingDatabase":
		return getRouteServerRoutingDatabase, true
	}
	return nil, false
}

func (r *request) dryRun() (bool, *APIError) {
	switch v := r.form.Get("DryRun"); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, errInvalid("Value (%s) for parameter DryRun is invalid. Expected a boolean.", v)
	}
}

// describeArgs parses what every Describe… action takes: DryRun, the id
// list named idParam and filters the action knows. A valid DryRun request is
// answered with DryRunOperation.
func (r *request) describeArgs(idParam string, known func(name string) bool) ([]string, []filter, *APIError) {
	dry, e := r.dryRun()
	if e != nil {
		return nil, nil, e
	}
	ids, e := r.list(idParam)
	if e != nil {
		return nil, nil, e
	}
	fs, e := r.filters(known)
	if e != nil {
		return nil, nil, e
	}
	if dry {
		return nil, nil, errDryRun()
	}
	return ids, fs, nil
}

// list collects the flattened list name.1, name.2, … in index order.
func (r *request) list(name string) ([]string, *APIError) {
	type item struct {
		i int
		v string
	}
	var items []item
	for k, vs := range r.form {
		rest, ok := strings.CutPrefix(k, name+".")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(rest)
		if err != nil || i < 1 {
			return nil, errInvalid("Parameter %s is not a valid list index", k)
		}
		items = append(items, item{i, vs[0]})
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.i, b.i) })
	out := make([]string, len(items))
	for j, it := range items {
		out[j] = it.v
	}
	return out, nil
}

type filter struct {
	name   string
	values []string
}

// filters parses Filter.N.Name / Filter.N.Value.M and checks each name
// against known, which answers whether a filter name exists.
func (r *request) filters(known func(name string) bool) ([]filter, *APIError) {
	byIndex := map[int]*filter{}
	for k, vs := range r.form {
		rest, ok := strings.CutPrefix(k, "Filter.")
		if !ok {
			continue
		}
		idx, field, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(idx)
		if err != nil || i < 1 {
			return nil, errInvalid("Parameter %s is not a valid filter", k)
		}
		f := byIndex[i]
		if f == nil {
			f = &filter{}
			byIndex[i] = f
		}
		switch {
		case field == "Name":
			f.name = vs[0]
		case strings.HasPrefix(field, "Value."):
			if _, err := strconv.Atoi(strings.TrimPrefix(field, "Value.")); err != nil {
				return nil, errInvalid("Parameter %s is not a valid filter value", k)
			}
			f.values = append(f.values, vs[0])
		default:
			return nil, errInvalid("Parameter %s is not a valid filter field", k)
		}
	}
	idx := make([]int, 0, len(byIndex))
	for i := range byIndex {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	out := make([]filter, 0, len(idx))
	for _, i := range idx {
		f := byIndex[i]
		if f.name == "" {
			return nil, errMissing("Filter." + strconv.Itoa(i) + ".Name")
		}
		if !known(f.name) {
			return nil, errInvalid("The filter '%s' is invalid", f.name)
		}
		out = append(out, *f)
	}
	return out, nil
}

// matches is EC2's filter logic: values of one filter are ORed, filters are ANDed.
// selectItems keeps the items whose id is in ids (all of them when ids is
// empty) and that match every filter. An id that names no item is answered
// with notFound's error, as EC2 does.
func selectItems[T any](all []T, ids []string, fs []filter, id func(T) string,
	attrs func(T, string) []string, notFound func(string) *APIError) ([]T, *APIError) {
	for _, want := range ids {
		if !slices.ContainsFunc(all, func(x T) bool { return id(x) == want }) {
			return nil, notFound(want)
		}
	}
	return slices.DeleteFunc(all, func(x T) bool {
		return (len(ids) > 0 && !slices.Contains(ids, id(x))) ||
			!matches(fs, func(n string) []string { return attrs(x, n) })
	}), nil
}

func matches(fs []filter, attrs func(name string) []string) bool {
	for _, f := range fs {
		if !slices.ContainsFunc(attrs(f.name), func(a string) bool { return slices.Contains(f.values, a) }) {
			return false
		}
	}
	return true
}

// page slices n results by MaxResults/NextToken; the token is the offset.
func (r *request) page(n, minResults, maxResults int) (start, end int, next string, _ *APIError) {
	start, end = 0, n
	if tok := r.form.Get("NextToken"); tok != "" {
		off, err := strconv.Atoi(strings.TrimPrefix(tok, "vpcsim-"))
		if err != nil || !strings.HasPrefix(tok, "vpcsim-") || off < 0 || off > n {
			return 0, 0, "", apiErr(http.StatusBadRequest, CodeInvalidPaginationToken, "The token '%s' is invalid", tok)
		}
		start = off
	}
	if s := r.form.Get("MaxResults"); s != "" {
		m, err := strconv.Atoi(s)
		if err != nil || m < minResults || m > maxResults {
			return 0, 0, "", errInvalid("Value (%s) for parameter maxResults is invalid. Expecting a value between %d and %d.", s, minResults, maxResults)
		}
		if start+m < n {
			end = start + m
			next = "vpcsim-" + strconv.Itoa(end)
		}
	}
	return start, end, next, nil
}

func tableAttrs(t RouteTable, name string) ([]string, bool) {
	switch name {
	case "vpc-id":
		return []string{t.VpcID}, true
	case "route-table-id", "association.route-table-id":
		return []string{t.ID}, true
	case "association.main":
		// A table without any association matches neither true nor false, as in EC2.
		var out []string
		if t.Main {
			out = append(out, "true")
		}
		if len(t.Subnets) > 0 {
			out = append(out, "false")
		}
		return out, true
	case "association.subnet-id":
		return t.Subnets, true
	case "owner-id":
		return []string{ownerID}, true
	case "route.origin", "route.state", "route.destination-cidr-block", "route.destination-ipv6-cidr-block",
		"route.network-interface-id", "route.gateway-id":
		var out []string
		for _, r := range t.Routes {
			switch name {
			case "route.origin":
				out = append(out, r.Origin)
			case "route.state":
				out = append(out, r.State)
			case "route.destination-cidr-block":
				if r.Destination.Addr().Is4() {
					out = append(out, r.Destination.String())
				}
			case "route.destination-ipv6-cidr-block":
				if r.Destination.Addr().Is6() {
					out = append(out, r.Destination.String())
				}
			case "route.network-interface-id":
				out = append(out, r.NetworkInterface)
			case "route.gateway-id":
				out = append(out, r.GatewayID)
			}
		}
		return out, true
	}
	return nil, false
}

func describeRouteTables(r *request) (response, *APIError) {
	ids, fs, e := r.describeArgs("RouteTableId", func(n string) bool { _, ok := tableAttrs(RouteTable{}, n); return ok })
	if e != nil {
		return nil, e
	}
	all := r.vpc.Tables()
	var tables []RouteTable
	if len(ids) > 0 {
		for _, id := range ids {
			i := slices.IndexFunc(all, func(t RouteTable) bool { return t.ID == id })
			if i < 0 {
				return nil, errTableNotFound(id)
			}
			tables = append(tables, all[i])
		}
	} else {
		tables = all
	}
	tables = slices.DeleteFunc(tables, func(t RouteTable) bool {
		return !matches(fs, func(n string) []string { a, _ := tableAttrs(t, n); return a })
	})
	start, end, next, e := r.page(len(tables), 5, 100)
	if e != nil {
		return nil, e
	}
	resp := &describeRouteTablesResponse{NextToken: next, RouteTables: []xmlRouteTable{}}
	for _, t := range tables[start:end] {
		resp.RouteTables = append(resp.RouteTables, toXMLTable(t))
	}
	return resp, nil
}

func toXMLTable(t RouteTable) xmlRouteTable {
	x := xmlRouteTable{RouteTableID: t.ID, VpcID: t.VpcID, OwnerID: ownerID}
	for _, rt := range t.Routes {
		xr := xmlRoute{GatewayID: rt.GatewayID, NetworkInterfaceID: rt.NetworkInterface,
			IPAddress: rt.IPAddress, State: rt.State, Origin: rt.Origin}
		if rt.Destination.Addr().Is4() {
			xr.DestinationCidrBlock = rt.Destination.String()
		} else {
			xr.DestinationIpv6CidrBlock = rt.Destination.String()
		}
		x.Routes = append(x.Routes, xr)
	}
	for _, a := range t.assocs {
		x.Associations = append(x.Associations, xmlAssociation{ID: a.id, RouteTableID: t.ID,
			SubnetID: a.subnet, Main: a.subnet == "", State: xmlAssociationState{State: "associated"}})
	}
	return x
}

// routeParams reads the destination and target of a route mutation.
func (r *request) routeParams(op routeOp) (string, Route, *APIError) {
	rtb := r.form.Get("RouteTableId")
	if rtb == "" {
		return "", Route{}, errMissing("RouteTableId")
	}
	v4, v6 := r.form.Get("DestinationCidrBlock"), r.form.Get("DestinationIpv6CidrBlock")
	if r.form.Get("DestinationPrefixListId") != "" {
		return "", Route{}, errInvalid("vpcsim does not emulate prefix list destinations")
	}
	var route Route
	switch {
	case v4 != "" && v6 != "":
		return "", Route{}, apiErr(http.StatusBadRequest, CodeInvalidParameterCombo,
			"Only one of DestinationCidrBlock and DestinationIpv6CidrBlock may be given")
	case v4 == "" && v6 == "":
		return "", Route{}, errMissing("DestinationCidrBlock")
	}
	dst, err := netip.ParsePrefix(v4 + v6)
	if err != nil || (v4 != "" && !dst.Addr().Is4()) || (v6 != "" && (!dst.Addr().Is6() || dst.Addr().Is4In6())) {
		return "", Route{}, errInvalid("Value (%s) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.", v4+v6)
	}
	// EC2 turns 100.68.0.18/18 into 100.68.0.0/18.
	route.Destination = dst.Masked()
	if op == opDelete {
		return rtb, route, nil
	}
	for _, k := range []string{"InstanceId", "NatGatewayId", "TransitGatewayId", "VpcPeeringConnectionId",
		"EgressOnlyInternetGatewayId", "CarrierGatewayId", "LocalGatewayId", "VpcEndpointId", "CoreNetworkArn", "OdbNetworkArn"} {
		if r.form.Get(k) != "" {
			return "", Route{}, errInvalid("vpcsim does not emulate %s targets", k)
		}
	}
	if r.form.Get("LocalTarget") == "true" {
		return "", Route{}, errInvalid("vpcsim does not emulate LocalTarget")
	}
	route.NetworkInterface, route.GatewayID = r.form.Get("NetworkInterfaceId"), r.form.Get("GatewayId")
	switch {
	case route.NetworkInterface != "" && route.GatewayID != "":
		return "", Route{}, apiErr(http.StatusBadRequest, CodeInvalidParameterCombo,
			"The parameter networkInterfaceId cannot be used with the parameter gatewayId")
	case route.NetworkInterface == "" && route.GatewayID == "":
		return "", Route{}, errMissing("NetworkInterfaceId or GatewayId (a route needs exactly one target)")
	}
	return rtb, route, nil
}

func routeMutation(op routeOp) handler {
	return func(r *request) (response, *APIError) {
		dry, e := r.dryRun()
		if e != nil {
			return nil, e
		}
		rtb, route, e := r.routeParams(op)
		if e != nil {
			return nil, e
		}
		if e := r.vpc.mutateRoute(op, rtb, route, dry, r.fail); e != nil {
			return nil, e
		}
		switch op {
		case opCreate:
			return &createRouteResponse{Return: true}, nil
		case opReplace:
			return &replaceRouteResponse{Return: true}, nil
		default:
			return &deleteRouteResponse{Return: true}, nil
		}
	}
}

func getRouteServerPropagations(r *request) (response, *APIError) {
	dry, e := r.dryRun()
	if e != nil {
		return nil, e
	}
	rs := r.form.Get("RouteServerId")
	if rs == "" {
		return nil, errMissing("RouteServerId")
	}
	if dry {
		return nil, errDryRun()
	}
	if !slices.ContainsFunc(r.vpc.routeServerList(), func(x routeServer) bool { return x.id == rs }) {
		return nil, errRouteServerNotFound(rs)
	}
	only := r.form.Get("RouteTableId")
	resp := &getRouteServerPropagationsResponse{Propagations: []xmlPropagation{}}
	for _, rtb := range r.vpc.PropagatedTables(rs) {
		if only == "" || only == rtb {
			resp.Propagations = append(resp.Propagations, xmlPropagation{RouteServerID: rs, RouteTableID: rtb, State: "available"})
		}
	}
	return resp, nil
}

func routeServerAttrs(rs routeServer, name string) ([]string, bool) {
	switch name {
	case "route-server-id":
		return []string{rs.id}, true
	case "state":
		return []string{"available"}, true
	case "amazon-side-asn":
		return []string{strconv.FormatUint(uint64(rs.asn), 10)}, true
	}
	return nil, false
}

func describeRouteServers(r *request) (response, *APIError) {
	ids, fs, e := r.describeArgs("RouteServerId", func(n string) bool { _, ok := routeServerAttrs(routeServer{}, n); return ok })
	if e != nil {
		return nil, e
	}
	list, e := selectItems(r.vpc.routeServerList(), ids, fs, func(x routeServer) string { return x.id },
		func(x routeServer, n string) []string { a, _ := routeServerAttrs(x, n); return a }, errRouteServerNotFound)
	if e != nil {
		return nil, e
	}
	start, end, next, e := r.page(len(list), 5, 1000)
	if e != nil {
		return nil, e
	}
	resp := &describeRouteServersResponse{NextToken: next, RouteServers: []xmlRouteServer{}}
	for _, rs := range list[start:end] {
		resp.RouteServers = append(resp.RouteServers, xmlRouteServer{RouteServerID: rs.id, AmazonSideAsn: rs.asn,
			State: "available", PersistRoutesState: "disabled"})
	}
	return resp, nil
}

func eniAttrs(vpcID string, e eniInfo, name string) ([]string, bool) {
	switch name {
	case "network-interface-id":
		return []string{e.id}, true
	case "vpc-id":
		return []string{vpcID}, true
	case "private-ip-address", "addresses.private-ip-address":
		return []string{e.ip.String()}, true
	case "ipv6-addresses.ipv6-address":
		out := []string{}
		if e.ip.Is6() {
			out = append(out, e.ip.String())
		}
		for _, a := range e.ipv6 {
			out = append(out, a.String())
		}
		return out, true
	case "status":
		return []string{"in-use"}, true
	case "owner-id":
		return []string{ownerID}, true
	}
	return nil, false
}

func describeNetworkInterfaces(r *request) (response, *APIError) {
	vpcID := r.vpc.ID()
	ids, fs, e := r.describeArgs("NetworkInterfaceId", func(n string) bool { _, ok := eniAttrs(vpcID, eniInfo{}, n); return ok })
	if e != nil {
		return nil, e
	}
	list, e := selectItems(r.vpc.networkInterfaces(), ids, fs, func(x eniInfo) string { return x.id },
		func(x eniInfo, n string) []string { a, _ := eniAttrs(vpcID, x, n); return a }, errENINotFound)
	if e != nil {
		return nil, e
	}
	start, end, next, e := r.page(len(list), 5, 1000)
	if e != nil {
		return nil, e
	}
	resp := &describeNetworkInterfacesResponse{NextToken: next, NetworkInterfaces: []xmlNetworkInterface{}}
	for _, x := range list[start:end] {
		ip := x.ip.String()
		ni := xmlNetworkInterface{
			NetworkInterfaceID: x.id, VpcID: vpcID, OwnerID: ownerID, InterfaceType: "interface",
			Status: "in-use", PrivateIPAddress: ip, PrivateIPs: []xmlPrivateIP{{PrivateIPAddress: ip, Primary: true}},
			SourceDestCheck: x.srcDstCheck,
		}
		for _, a := range x.ipv6 {
			ni.IPv6Addresses = append(ni.IPv6Addresses, xmlIPv6Address{IPv6Address: a.String()})
		}
		resp.NetworkInterfaces = append(resp.NetworkInterfaces, ni)
	}
	return resp, nil
}
