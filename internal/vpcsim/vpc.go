package vpcsim

import (
	"cmp"
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"net/netip"
	"slices"
	"sync"
)

// Route origins as EC2 reports them.
const (
	OriginCreateRouteTable = "CreateRouteTable"
	OriginCreateRoute      = "CreateRoute"
	OriginVgwPropagation   = "EnableVgwRoutePropagation"
	OriginAdvertisement    = "Advertisement"
)

// Route states as EC2 reports them.
const (
	StateActive    = "active"
	StateBlackhole = "blackhole"
	StateFiltered  = "filtered"
)

// Route is one entry of a route table.
type Route struct {
	// Destination is the IPv4 or IPv6 destination CIDR, always masked.
	Destination netip.Prefix
	// NetworkInterface is the "eni-…" target, "" for local and gateway routes.
	NetworkInterface string
	// GatewayID is "local" for the VPC local route, "igw-…"/"vgw-…" for gateways.
	GatewayID string
	// IPAddress is the Route Server next hop on routes with origin Advertisement.
	IPAddress string
	// Origin is one of the Origin… constants; "" means CreateRoute in PutRoute.
	Origin string
	// State is one of the State… constants; "" means active in PutRoute. A
	// route whose ENI no longer exists reads back as blackhole.
	State string
}

// RouteTable is a deep copy of one route table.
type RouteTable struct {
	// ID is "rtb-" followed by 17 hex digits.
	ID string
	// VpcID is the owning VPC.
	VpcID string
	// Main is true for the VPC's main route table.
	Main bool
	// Subnets are the explicitly associated subnet ids.
	Subnets []string
	// Routes are sorted by destination, IPv4 first.
	Routes []Route
	// Propagations are the route server ids propagating into this table, sorted.
	Propagations []string

	assocs []association // what DescribeRouteTables shows as associationSet
}

// Route returns the route for dst, if any.
func (t RouteTable) Route(dst netip.Prefix) (Route, bool) {
	for _, r := range t.Routes {
		if r.Destination == dst.Masked() {
			return r, true
		}
	}
	return Route{}, false
}

type association struct {
	id     string
	subnet string // "" for the main association
}

type table struct {
	id     string
	main   bool
	assocs []association
	routes map[netip.Prefix]Route
}

type routeServer struct {
	id  string
	asn uint32
}

// VPC is an in-memory VPC: route tables, network interfaces, route servers
// and their propagations. All methods are safe for concurrent use.
type VPC struct {
	id   string
	cidr netip.Prefix
	salt uint64

	mu           sync.Mutex
	seq          uint64
	gen          uint64
	changed      chan struct{} // closed and replaced on every change
	tables       map[string]*table
	mainID       string
	enis         map[string]netip.Addr
	srcDstCheck  map[string]bool         // ENIs with source/destination check on (SetSourceDestCheck)
	eniV6        map[string][]netip.Addr // IPv6 addresses assigned to an ENI
	routeServers map[string]routeServer
	propagations map[string]map[string]bool // route server id → route table ids
	endpoints    map[string]RouteServerEndpoint
	peers        map[string]RouteServerPeer
	ribs         map[string][]RIBRoute // route server id → routing database
}

// NewVPC returns a VPC with its main route table holding the local route for cidr.
func NewVPC(id string, cidr netip.Prefix) *VPC {
	h := fnv.New64a()
	h.Write([]byte(id))
	v := &VPC{
		id:           id,
		cidr:         cidr.Masked(),
		salt:         h.Sum64() & 0xffffffffff000000,
		changed:      make(chan struct{}),
		tables:       map[string]*table{},
		enis:         map[string]netip.Addr{},
		srcDstCheck:  map[string]bool{},
		eniV6:        map[string][]netip.Addr{},
		routeServers: map[string]routeServer{},
		propagations: map[string]map[string]bool{},
		endpoints:    map[string]RouteServerEndpoint{},
		peers:        map[string]RouteServerPeer{},
		ribs:         map[string][]RIBRoute{},
	}
	v.mainID = v.addTableLocked(true)
	return v
}

// ID returns the VPC id.
func (v *VPC) ID() string { return v.id }

// CIDR returns the VPC's primary IPv4 CIDR.
func (v *VPC) CIDR() netip.Prefix { return v.cidr }

// MainTableID returns the id of the main route table.
func (v *VPC) MainTableID() string { return v.mainID }

// newIDLocked makes ids that are unique within the VPC, differ between VPCs
// with different ids, and sort in creation order.
func (v *VPC) newIDLocked(prefix string) string {
	v.seq++
	return fmt.Sprintf("%s-0%016x", prefix, v.salt|v.seq)
}

func (v *VPC) bumpLocked() {
	v.gen++
	close(v.changed)
	v.changed = make(chan struct{})
}

func (v *VPC) addTableLocked(main bool) string {
	t := &table{id: v.newIDLocked("rtb"), main: main, routes: map[netip.Prefix]Route{}}
	if main {
		t.assocs = []association{{id: v.newIDLocked("rtbassoc")}}
	}
	t.routes[v.cidr] = Route{Destination: v.cidr, GatewayID: "local", Origin: OriginCreateRouteTable, State: StateActive}
	v.tables[t.id] = t
	v.bumpLocked()
	return t.id
}

// AddRouteTable creates a custom route table with the local route and returns its id.
func (v *VPC) AddRouteTable() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.addTableLocked(false)
}

// AssociateSubnet associates subnet with the route table, moving it away from
// any table it was associated with before.
func (v *VPC) AssociateSubnet(rtbID, subnet string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.tables[rtbID]
	if !ok {
		return fmt.Errorf("associate %s with route table %s: %w", subnet, rtbID, errTableNotFound(rtbID))
	}
	for _, other := range v.tables {
		other.assocs = slices.DeleteFunc(other.assocs, func(a association) bool { return a.subnet == subnet })
	}
	t.assocs = append(t.assocs, association{id: v.newIDLocked("rtbassoc"), subnet: subnet})
	v.bumpLocked()
	return nil
}

// AddNetworkInterface creates a network interface with primary address ip and returns its id.
func (v *VPC) AddNetworkInterface(ip netip.Addr) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	id := v.newIDLocked("eni")
	v.enis[id] = ip
	v.bumpLocked()
	return id
}

// RemoveNetworkInterface deletes a network interface. Routes pointing at it
// stay and read back as blackhole, as in EC2.
func (v *VPC) RemoveNetworkInterface(id string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.enis[id]; !ok {
		return fmt.Errorf("remove network interface: %w", errENINotFound(id))
	}
	delete(v.enis, id)
	delete(v.srcDstCheck, id)
	delete(v.eniV6, id)
	v.bumpLocked()
	return nil
}

// AssignIPv6Address gives an ENI an IPv6 address (an appliance's
// bgp.local_address_v6), as AssignIpv6Addresses does.
func (v *VPC) AssignIPv6Address(id string, ip netip.Addr) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.enis[id]; !ok {
		return fmt.Errorf("assign %s: %w", ip, errENINotFound(id))
	}
	if !ip.Is6() || ip.Is4In6() {
		return fmt.Errorf("assign %s to %s: %w", ip, id, errInvalid("%s is not an IPv6 address", ip))
	}
	v.eniV6[id] = append(v.eniV6[id], ip)
	v.bumpLocked()
	return nil
}

// NetworkInterface returns the primary address of an ENI.
func (v *VPC) NetworkInterface(id string) (netip.Addr, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	ip, ok := v.enis[id]
	return ip, ok
}

// AddRouteServer creates a route server with the Amazon-side ASN and returns its id.
func (v *VPC) AddRouteServer(asn uint32) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	id := v.newIDLocked("rs")
	v.routeServers[id] = routeServer{id: id, asn: asn}
	v.propagations[id] = map[string]bool{}
	v.bumpLocked()
	return id
}

// EnablePropagation makes the route server propagate into the route table.
func (v *VPC) EnablePropagation(rsID, rtbID string) error {
	return v.setPropagation(rsID, rtbID, true)
}

// DisablePropagation stops the route server propagating into the route table.
func (v *VPC) DisablePropagation(rsID, rtbID string) error {
	return v.setPropagation(rsID, rtbID, false)
}

func (v *VPC) setPropagation(rsID, rtbID string, on bool) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	props, ok := v.propagations[rsID]
	if !ok {
		return fmt.Errorf("set propagation of %s into %s: %w", rsID, rtbID, errRouteServerNotFound(rsID))
	}
	if _, ok := v.tables[rtbID]; !ok {
		return fmt.Errorf("set propagation of %s into %s: %w", rsID, rtbID, errTableNotFound(rtbID))
	}
	if on {
		props[rtbID] = true
	} else {
		delete(props, rtbID)
	}
	v.bumpLocked()
	return nil
}

// PropagatedTables returns the ids of the tables the route server propagates into, sorted.
func (v *VPC) PropagatedTables(rsID string) []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	ids := make([]string, 0, len(v.propagations[rsID]))
	for id := range v.propagations[rsID] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// PutRoute creates or replaces a route without any API accounting: for test
// setup and for an emulated Route Server installing its best paths.
func (v *VPC) PutRoute(rtbID string, r Route) error {
	if !r.Destination.IsValid() {
		return fmt.Errorf("put route into %s: invalid destination", rtbID)
	}
	r.Destination = r.Destination.Masked()
	if r.Origin == "" {
		r.Origin = OriginCreateRoute
	}
	if r.State == "" {
		r.State = StateActive
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.tables[rtbID]
	if !ok {
		return fmt.Errorf("put route %s into %s: %w", r.Destination, rtbID, errTableNotFound(rtbID))
	}
	t.routes[r.Destination] = r
	v.bumpLocked()
	return nil
}

// RemoveRoute deletes a route without any API accounting.
func (v *VPC) RemoveRoute(rtbID string, dst netip.Prefix) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.tables[rtbID]
	if !ok {
		return fmt.Errorf("remove route %s from %s: %w", dst, rtbID, errTableNotFound(rtbID))
	}
	if _, ok := t.routes[dst.Masked()]; !ok {
		return fmt.Errorf("remove route %s from %s: %w", dst, rtbID, errRouteNotFound(rtbID, dst.Masked()))
	}
	delete(t.routes, dst.Masked())
	v.bumpLocked()
	return nil
}

// Table returns a deep copy of one route table.
func (v *VPC) Table(rtbID string) (RouteTable, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.tables[rtbID]
	if !ok {
		return RouteTable{}, false
	}
	return v.copyLocked(t), true
}

// Tables returns deep copies of all route tables, sorted by id.
func (v *VPC) Tables() []RouteTable {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]RouteTable, 0, len(v.tables))
	for _, t := range v.tables {
		out = append(out, v.copyLocked(t))
	}
	slices.SortFunc(out, func(a, b RouteTable) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Generation is a counter that moves on every change to the VPC.
func (v *VPC) Generation() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.gen
}

// WaitGeneration blocks until the generation differs from gen or ctx ends,
// and returns the generation it saw. Tests use it instead of sleeping.
func (v *VPC) WaitGeneration(ctx context.Context, gen uint64) (uint64, error) {
	for {
		v.mu.Lock()
		cur, ch := v.gen, v.changed
		v.mu.Unlock()
		if cur != gen {
			return cur, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return cur, fmt.Errorf("wait for vpc %s to change from generation %d: %w", v.id, gen, ctx.Err())
		}
	}
}

func (v *VPC) copyLocked(t *table) RouteTable {
	rt := RouteTable{ID: t.id, VpcID: v.id, Main: t.main, Routes: make([]Route, 0, len(t.routes))}
	rt.assocs = slices.Clone(t.assocs)
	for _, a := range t.assocs {
		if a.subnet != "" {
			rt.Subnets = append(rt.Subnets, a.subnet)
		}
	}
	for _, r := range t.routes {
		if r.NetworkInterface != "" {
			if _, ok := v.enis[r.NetworkInterface]; !ok {
				r.State = StateBlackhole
			}
		}
		rt.Routes = append(rt.Routes, r)
	}
	slices.SortFunc(rt.Routes, func(a, b Route) int { return comparePrefix(a.Destination, b.Destination) })
	for rs, tables := range v.propagations {
		if tables[t.id] {
			rt.Propagations = append(rt.Propagations, rs)
		}
	}
	slices.Sort(rt.Propagations)
	return rt
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

type eniInfo struct {
	id          string
	ip          netip.Addr
	srcDstCheck bool
	ipv6        []netip.Addr
}

func (v *VPC) networkInterfaces() []eniInfo {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]eniInfo, 0, len(v.enis))
	for id, ip := range v.enis {
		out = append(out, eniInfo{id: id, ip: ip, srcDstCheck: v.srcDstCheck[id], ipv6: slices.Clone(v.eniV6[id])})
	}
	slices.SortFunc(out, func(a, b eniInfo) int { return cmp.Compare(a.id, b.id) })
	return out
}

func (v *VPC) routeServerList() []routeServer {
	v.mu.Lock()
	defer v.mu.Unlock()
	return byID(v.routeServers)
}

// byID returns the values of a map keyed by id, in id order.
func byID[T any](m map[string]T) []T {
	out := make([]T, 0, len(m))
	for _, id := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[id])
	}
	return out
}
