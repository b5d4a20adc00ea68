package direct

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/rsagent/rsagent/routetable"
)

// Route-level states of a planned destination.
const (
	// RouteOK: a target was chosen; the tables are or will be on it.
	RouteOK = "ok"
	// RouteNoHealthyHost: no listed host may be the target; the routes
	// are left exactly as they are.
	RouteNoHealthyHost = "no_healthy_host"
	// RouteIgnored: the destination lies inside ignore_routes.
	RouteIgnored = "ignored"
)

// Table-level states of a planned destination.
const (
	TableInStep     = "in_step"     // the route already targets the chosen ENI
	TableCreate     = "create"      // no route yet: created
	TableReplace    = "replace"     // our route to another ENI: replaced
	TableNotManaged = "not_managed" // a gateway, local or propagated route: reported, left alone
	TableLeftAlone  = "left_alone"  // no healthy host, or ignored: untouched
)

// Input is everything Plan decides from.
type Input struct {
	// Tables are the managed route tables, as read this pass.
	Tables []routetable.RouteTable
	Spec   Spec
	// Hosts describes every host of the spec; a host missing here has no
	// ENI and is never chosen.
	Hosts map[netip.Addr]HostView
	// Ignore lists CIDRs never touched: a route whose destination equals
	// or lies inside one of them.
	Ignore []netip.Prefix
	// Preempt returns routes to the first listed host once it is eligible.
	Preempt bool
	// RemoveUnlisted deletes our-shaped ENI routes whose destination is not
	// in the spec (vpc-router's behaviour), except ignored ones, and never
	// with an empty spec.
	RemoveUnlisted bool
}

// Result is a plan: the changes, and what was decided per destination.
type Result struct {
	// Changes come sorted by table and destination; skips are advisory
	// (a not-managed route) and make no call.
	Changes []routetable.Change `json:"changes"`
	// Routes has one entry per spec destination, in Spec.Destinations order.
	Routes []RoutePlan `json:"routes"`
}

// RoutePlan is the decision for one spec destination.
type RoutePlan struct {
	Destination netip.Prefix `json:"destination"`
	Hosts       []netip.Addr `json:"hosts"`
	State       string       `json:"state"`
	// Target is the chosen host and TargetENI its ENI; zero without one.
	Target    netip.Addr   `json:"target,omitzero"`
	TargetENI string       `json:"target_eni,omitempty"`
	Tables    []TableRoute `json:"tables"`
}

// TableRoute is one managed table's route for a spec destination.
type TableRoute struct {
	Table string `json:"table"`
	// Current is the route's target now: an ENI id, a gateway id, or ""
	// when the table has no route for the destination.
	Current string `json:"current,omitempty"`
	// CurrentHost is the listed host whose ENI Current is, if any.
	CurrentHost netip.Addr `json:"current_host,omitzero"`
	// RouteState and Origin are EC2's, for the route that exists.
	RouteState string `json:"route_state,omitempty"`
	Origin     string `json:"origin,omitempty"`
	// Desired is the ENI the table should point at; "" when left alone.
	Desired string `json:"desired,omitempty"`
	// Action is one of the Table… states.
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// Managed reports whether a route is of the shape direct mode writes and
// may therefore change: a static route (origin CreateRoute) to an ENI.
// Local, gateway and propagated routes never are.
func Managed(r routetable.Route) bool {
	return r.Origin == routetable.OriginCreateRoute && r.ENITarget() && !r.Local()
}

// Ignored reports whether dst equals or lies inside one of ignore.
func Ignored(ignore []netip.Prefix, dst netip.Prefix) bool {
	for _, p := range ignore {
		if p.Addr().Is4() == dst.Addr().Is4() && p.Bits() <= dst.Bits() && p.Contains(dst.Addr()) {
			return true
		}
	}
	return false
}

// Plan decides, for every spec destination, the target host and what each
// managed table needs. It is pure: the same input gives the same plan, in
// every router that sees it.
func Plan(in Input) Result {
	view := func(h netip.Addr) HostView { return in.Hosts[h] }
	byENI := map[string]netip.Addr{}
	for _, dst := range in.Spec.Destinations() {
		for _, h := range in.Spec[dst] {
			if v := view(h); v.ENI != "" {
				byENI[v.ENI] = h
			}
		}
	}
	res := Result{Changes: []routetable.Change{}, Routes: []RoutePlan{}}
	for _, dst := range in.Spec.Destinations() {
		rp := RoutePlan{Destination: dst, Hosts: in.Spec[dst], Tables: []TableRoute{}}
		ignored := Ignored(in.Ignore, dst)
		current := map[netip.Addr]bool{}
		for _, t := range in.Tables {
			if r, ok := t.Route(dst); ok && Managed(r) {
				if h, listed := byENI[r.NetworkInterface]; listed && slices.Contains(rp.Hosts, h) {
					current[h] = true
				}
			}
		}
		target, found := Choose(rp.Hosts, current, view, in.Preempt)
		switch {
		case ignored:
			rp.State = RouteIgnored
		case !found:
			rp.State = RouteNoHealthyHost
		default:
			rp.State, rp.Target, rp.TargetENI = RouteOK, target, view(target).ENI
		}
		for _, t := range in.Tables {
			tr, change := planTable(t, dst, rp, byENI)
			rp.Tables = append(rp.Tables, tr)
			if change != nil {
				res.Changes = append(res.Changes, *change)
			}
		}
		res.Routes = append(res.Routes, rp)
	}
	if in.RemoveUnlisted && len(in.Spec) > 0 {
		for _, t := range in.Tables {
			for _, r := range t.Routes {
				if _, listed := in.Spec[r.Destination]; listed || !Managed(r) || Ignored(in.Ignore, r.Destination) {
					continue
				}
				res.Changes = append(res.Changes, routetable.Change{Table: t.ID, Action: routetable.ActionDelete,
					Destination: r.Destination, PrevENI: r.NetworkInterface, Reason: "not in the route spec (remove_unlisted)"})
			}
		}
	}
	slices.SortFunc(res.Changes, func(a, b routetable.Change) int {
		if c := cmp.Compare(a.Table, b.Table); c != 0 {
			return c
		}
		return comparePrefix(a.Destination, b.Destination)
	})
	return res
}

func planTable(t routetable.RouteTable, dst netip.Prefix, rp RoutePlan, byENI map[string]netip.Addr) (TableRoute, *routetable.Change) {
	tr := TableRoute{Table: t.ID}
	r, exists := t.Route(dst)
	if exists {
		tr.Current, tr.RouteState, tr.Origin = r.NetworkInterface, r.State, r.Origin
		if r.Gateway != "" {
			tr.Current = r.Gateway
		}
		if h, ok := byENI[r.NetworkInterface]; ok && r.Gateway == "" {
			tr.CurrentHost = h
		}
	}
	switch {
	case rp.State == RouteIgnored:
		tr.Action, tr.Reason = TableLeftAlone, "inside ignore_routes"
		return tr, nil
	case exists && !Managed(r):
		tr.Action, tr.Reason = TableNotManaged, describeForeign(r)
		return tr, &routetable.Change{Table: t.ID, Action: routetable.ActionSkip, Destination: dst, ENI: rp.TargetENI, Reason: tr.Reason}
	case rp.State == RouteNoHealthyHost:
		tr.Action, tr.Reason = TableLeftAlone, "no healthy host: the route is left as it is"
		return tr, nil
	}
	tr.Desired = rp.TargetENI
	switch {
	case !exists:
		tr.Action = TableCreate
		return tr, &routetable.Change{Table: t.ID, Action: routetable.ActionCreate, Destination: dst, ENI: rp.TargetENI,
			Reason: "to " + rp.Target.String()}
	case r.NetworkInterface == rp.TargetENI:
		tr.Action = TableInStep
		return tr, nil
	}
	tr.Action = TableReplace
	tr.Reason = replaceReason(r, tr.CurrentHost, rp.Target)
	return tr, &routetable.Change{Table: t.ID, Action: routetable.ActionReplace, Destination: dst, ENI: rp.TargetENI,
		PrevENI: r.NetworkInterface, Reason: tr.Reason}
}

func replaceReason(r routetable.Route, from, to netip.Addr) string {
	switch {
	case from.IsValid():
		return fmt.Sprintf("%s -> %s", from, to)
	case r.State == routetable.StateBlackhole:
		return fmt.Sprintf("blackhole via %s (gone or replaced) -> %s", r.NetworkInterface, to)
	}
	return fmt.Sprintf("%s is no listed host's ENI -> %s", r.NetworkInterface, to)
}

func describeForeign(r routetable.Route) string {
	target := r.NetworkInterface
	if r.Gateway != "" {
		target = r.Gateway
	}
	return fmt.Sprintf("existing route via %s with origin %s is not managed", target, r.Origin)
}
