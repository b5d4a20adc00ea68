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

// Plan computes the changes that bring every target in line with the
// eligible routes of source. It is pure; changes come sorted by table and
// destination.
func Plan(source RouteTable, targets []RouteTable, rules Rules) []Change {
	var eligible []Route
	inSource := make(map[netip.Prefix]bool, len(source.Routes))
	for _, r := range source.Routes {
		inSource[r.Destination] = true
		if rules.Eligible(r) {
			eligible = append(eligible, r)
		}
	}
	var out []Change
	for _, t := range targets {
		if t.ID == source.ID {
			continue
		}
		for _, want := range eligible {
			have, ok := t.Route(want.Destination)
			switch {
			case !ok:
				out = append(out, Change{Table: t.ID, Action: ActionCreate, Destination: want.Destination, ENI: want.NetworkInterface})
			case have.NetworkInterface == want.NetworkInterface && have.Gateway == "":
			case !ourShape(have):
				out = append(out, Change{Table: t.ID, Action: ActionSkip, Destination: want.Destination, ENI: want.NetworkInterface,
					Reason: describeForeign(have)})
			default:
				out = append(out, Change{Table: t.ID, Action: ActionReplace, Destination: want.Destination, ENI: want.NetworkInterface, PrevENI: have.NetworkInterface})
			}
		}
		if !rules.Prune {
			continue
		}
		for _, have := range t.Routes {
			if !ourShape(have) || inSource[have.Destination] || !rules.provablyOurs(t.ID, have.Destination) {
				continue
			}
			out = append(out, Change{Table: t.ID, Action: ActionDelete, Destination: have.Destination, PrevENI: have.NetworkInterface})
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		if c := cmp.Compare(a.Table, b.Table); c != 0 {
			return c
		}
		return a.Destination.Compare(b.Destination)
	})
	return out
}

func describeForeign(r Route) string {
	target := r.NetworkInterface
	if r.Gateway != "" {
		target = r.Gateway
	}
	return fmt.Sprintf("existing route via %s with origin %s is not managed", target, r.Origin)
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
