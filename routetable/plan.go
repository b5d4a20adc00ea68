package routetable

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// Action is what a Change does to a target table.
type Action string

// The actions a plan can hold. Skip is advisory: a route for the
// destination exists in the target but is not ours, so it is left alone;
// Apply makes no call for it.
const (
	ActionCreate  Action = "create"
	ActionReplace Action = "replace"
	ActionDelete  Action = "delete"
	ActionSkip    Action = "skip"
)

// Change is one route operation on one target table.
type Change struct {
	Table       string       `json:"table"`
	Action      Action       `json:"action"`
	Destination netip.Prefix `json:"destination"`
	ENI         string       `json:"eni,omitempty"`
	PrevENI     string       `json:"prev_eni,omitempty"`
	Reason      string       `json:"reason,omitempty"`
}

// String is the change as one line of a printed plan.
func (c Change) String() string {
	s := fmt.Sprintf("%s %s %s", c.Table, c.Action, c.Destination)
	switch {
	case c.PrevENI != "" && c.ENI != "":
		s += fmt.Sprintf(" %s -> %s", c.PrevENI, c.ENI)
	case c.ENI != "":
		s += " -> " + c.ENI
	case c.PrevENI != "":
		s += " (was " + c.PrevENI + ")"
	}
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return s
}

// TableDest names one destination in one table.
type TableDest struct {
	Table       string
	Destination netip.Prefix
}

// Rules decide which source routes are copied and which target routes are
// ours.
type Rules struct {
	// Ignore lists destinations never touched: a route whose destination
	// lies inside one of them is neither created, replaced nor deleted in
	// any target, whoever wrote it (reconcile.ignore_routes).
	Ignore []netip.Prefix
	// Origins of source routes to copy; empty means Advertisement.
	Origins []string
	// Prefixes limits the managed destinations: a destination is managed
	// when it lies inside one of them. Empty means every eligible route.
	Prefixes []netip.Prefix
	// Prune deletes managed copies whose destination is gone from the
	// source table.
	Prune bool
	// Owned lists copies this process has created, replaced or seen in
	// step with the source. With Prefixes empty, only these may be pruned.
	Owned map[TableDest]bool
}

func (rl Rules) origins() []string {
	if len(rl.Origins) == 0 {
		return []string{OriginAdvertisement}
	}
	return rl.Origins
}

func (rl Rules) inPrefixes(dst netip.Prefix) bool {
	if len(rl.Prefixes) == 0 {
		return true
	}
	return inAny(rl.Prefixes, dst)
}

func inAny(ps []netip.Prefix, dst netip.Prefix) bool {
	for _, p := range ps {
		if p.Addr().Is4() == dst.Addr().Is4() && p.Bits() <= dst.Bits() && p.Contains(dst.Addr()) {
			return true
		}
	}
	return false
}

// Ignored reports whether dst lies inside one of the ignored CIDRs.
func (rl Rules) Ignored(dst netip.Prefix) bool { return inAny(rl.Ignore, dst) }

// Eligible reports whether a source route is copied to the targets.
func (rl Rules) Eligible(r Route) bool {
	return slices.Contains(rl.origins(), r.Origin) &&
		r.State == StateActive &&
		r.ENITarget() &&
		!r.Local() &&
		r.Destination.IsValid() &&
		rl.inPrefixes(r.Destination)
}

// ourShape reports whether a target route could have been written by us: a
// static route (origin CreateRoute) to an ENI. Anything else — propagated,
// local, gateway targets — is never modified.
func ourShape(r Route) bool {
	return r.Origin == OriginCreateRoute && r.ENITarget() && !r.Local()
}

// provablyOurs is the prune guard: the destination is inside the
// configured prefixes, or this process has managed it in that table.
func (rl Rules) provablyOurs(table string, dst netip.Prefix) bool {
	if len(rl.Prefixes) > 0 {
		return inAny(rl.Prefixes, dst)
	}
	return rl.Owned[TableDest{table, dst}]
}

// Reasons a change or a drift entry gives.
const (
	ReasonBlackhole = "the copy points at the right network interface but is blackhole"
	ReasonIgnored   = "inside reconcile.ignore_routes: never touched"
)

// Drift is one target route out of step with the source, and why. A pass
// reports every one it leaves behind (in /status and `reconcile -o json`),
// so an operator sees what is not copied as well as what was.
type Drift struct {
	Table       string       `json:"route_table_id"`
	Destination netip.Prefix `json:"destination"`
	// Want is the network interface the source routes the destination to
	// ("" when the source has no route for it: a copy prune would delete).
	Want string `json:"want_network_interface_id,omitempty"`
	// Have is what the target routes it to now: an ENI, a gateway, or ""
	// when it has no route.
	Have   string `json:"have,omitempty"`
	State  string `json:"state,omitempty"`
	Origin string `json:"origin,omitempty"`
	// Reason says why the route is out of step.
	Reason string `json:"reason"`
	// Handling is what the reconciler does about it: the planned action
	// (create, replace, delete), "left alone: why" (not ours, or ignored),
	// or, after a pass, "deferred: …", "would …" (dry run), "failed: …" or
	// "throttled: not sent yet".
	Handling string `json:"handling"`
}

// Plan computes the changes that bring every target in line with the
// eligible routes of source. It is pure; changes come sorted by table and
// destination.
func Plan(source RouteTable, targets []RouteTable, rules Rules) []Change {
	changes, _ := PlanDrift(source, targets, rules)
	return changes
}

// PlanDrift is Plan together with the drift it found: one entry per target
// route out of step, including those the plan leaves alone. Both come
// sorted by table and destination; every change has its drift entry.
func PlanDrift(source RouteTable, targets []RouteTable, rules Rules) ([]Change, []Drift) {
	var eligible []Route
	inSource := make(map[netip.Prefix]bool, len(source.Routes))
	for _, r := range source.Routes {
		inSource[r.Destination] = true
		if rules.Eligible(r) {
			eligible = append(eligible, r)
		}
	}
	var out []Change
	var drift []Drift
	add := func(c Change, have Route, why string) {
		out = append(out, c)
		d := Drift{Table: c.Table, Destination: c.Destination, Want: c.ENI, Have: target(have), State: have.State, Origin: have.Origin,
			Reason: why, Handling: string(c.Action)}
		if c.Action == ActionSkip {
			d.Handling = "left alone: " + c.Reason
		}
		drift = append(drift, d)
	}
	for _, t := range targets {
		if t.ID == source.ID {
			continue
		}
		for _, want := range eligible {
			have, ok := t.Route(want.Destination)
			c := Change{Table: t.ID, Destination: want.Destination, ENI: want.NetworkInterface}
			inStep := ok && have.NetworkInterface == want.NetworkInterface && have.Gateway == "" && have.State != StateBlackhole
			switch {
			case inStep:
				continue
			case rules.Ignored(want.Destination):
				c.Action, c.Reason = ActionSkip, ReasonIgnored
			case !ok:
				c.Action = ActionCreate
			case !ourShape(have):
				c.Action, c.Reason = ActionSkip, describeForeign(have)
			case have.NetworkInterface == want.NetworkInterface:
				c.Action, c.PrevENI, c.Reason = ActionReplace, have.NetworkInterface, ReasonBlackhole
			default:
				c.Action, c.PrevENI = ActionReplace, have.NetworkInterface
			}
			add(c, have, driftReason(want, have, ok))
		}
		if !rules.Prune {
			continue
		}
		for _, have := range t.Routes {
			if !ourShape(have) || inSource[have.Destination] || !rules.provablyOurs(t.ID, have.Destination) || rules.Ignored(have.Destination) {
				continue
			}
			add(Change{Table: t.ID, Action: ActionDelete, Destination: have.Destination, PrevENI: have.NetworkInterface},
				have, "the source has no route for it (prune)")
		}
	}
	slices.SortFunc(out, func(a, b Change) int { return compareTableDest(a.Table, b.Table, a.Destination, b.Destination) })
	slices.SortFunc(drift, func(a, b Drift) int { return compareTableDest(a.Table, b.Table, a.Destination, b.Destination) })
	return out, drift
}

// compareTableDest orders by table, then destination: the order of plans,
// drift and results.
func compareTableDest(at, bt string, ad, bd netip.Prefix) int {
	if c := cmp.Compare(at, bt); c != 0 {
		return c
	}
	return ad.Compare(bd)
}

// driftReason says why a target route differs from the source's want.
func driftReason(want, have Route, ok bool) string {
	switch {
	case !ok:
		return "no route; the source routes it via " + want.NetworkInterface
	case have.NetworkInterface == want.NetworkInterface && have.Gateway == "":
		return fmt.Sprintf("routes via %s as the source does, but its state is %s", have.NetworkInterface, have.State)
	default:
		return fmt.Sprintf("routes via %s (origin %s); the source routes it via %s", target(have), have.Origin, want.NetworkInterface)
	}
}

// target is what a route points at: its gateway, else its ENI.
func target(r Route) string {
	if r.Gateway != "" {
		return r.Gateway
	}
	return r.NetworkInterface
}

// OwnerENI is the network interface whose appliance should make c: the
// source route's for a create or replace, the copy's for a delete.
func (c Change) OwnerENI() string {
	if c.Action == ActionDelete {
		return c.PrevENI
	}
	return c.ENI
}

func describeForeign(r Route) string {
	return fmt.Sprintf("existing route via %s with origin %s is not managed", target(r), r.Origin)
}

// ErrNoSource means the configured source table is not in the VPC.
var ErrNoSource = errors.New("source route table not found")

// FindSource picks the source table: "main" (or "") for the VPC's main
// table, otherwise the table with that id.
func FindSource(tables []RouteTable, source string) (RouteTable, error) {
	for _, t := range tables {
		if (source == "" || source == "main") && t.Main || t.ID == source {
			return t, nil
		}
	}
	if source == "" {
		source = "main"
	}
	return RouteTable{}, fmt.Errorf("%w: %s", ErrNoSource, source)
}

// SelectTargets picks the target tables. With configured nil (auto) they
// are every table except the source that neither has a Route Server
// propagation nor holds an Advertisement route (belt and braces: a table
// Route Server writes to must not get static copies that would shadow
// later propagations). With a configured list they are those tables, and
// missing lists configured ids not found in the VPC.
func SelectTargets(tables []RouteTable, sourceID string, configured []string, propagated map[string]bool) (targets []RouteTable, missing []string) {
	if configured == nil {
		for _, t := range tables {
			if t.ID == sourceID || propagated[t.ID] || hasOrigin(t, OriginAdvertisement) {
				continue
			}
			targets = append(targets, t)
		}
		return targets, nil
	}
	byID := make(map[string]RouteTable, len(tables))
	for _, t := range tables {
		byID[t.ID] = t
	}
	for _, id := range configured {
		if id == sourceID {
			continue
		}
		t, ok := byID[id]
		if !ok {
			missing = append(missing, id)
			continue
		}
		targets = append(targets, t)
	}
	return targets, missing
}

func hasOrigin(t RouteTable, origin string) bool {
	for _, r := range t.Routes {
		if r.Origin == origin {
			return true
		}
	}
	return false
}
