package routetable

import (
	"math/rand/v2"
	"slices"
	"time"
)

// DeferNever, as Config.DeferOthers, leaves routes owned by another
// appliance to it for good (reconcile.defer_others: never).
const DeferNever time.Duration = -1

// Owners says which changes this appliance makes at once: those for routes
// pointing at one of its own network interfaces. No list means every route
// counts as its own (a standalone reconciler, the Lambda form).
type Owners struct {
	// All is set when every route counts as this appliance's own.
	All bool
	// ENIs are this appliance's network interfaces.
	ENIs []string
}

// Own reports whether c is this appliance's to make.
func (o Owners) Own(c Change) bool { return o.All || slices.Contains(o.ENIs, c.OwnerENI()) }

// deferral is what a reconciler remembers about the pending changes of one
// other appliance (one owner ENI).
type deferral struct {
	// Since starts the current window of DeferOthers; Pending is how many
	// of the owner's changes were pending then.
	Since   time.Time
	Pending int
	// TakenOver is set once a window ended without progress: this
	// reconciler makes the owner's changes until none is pending.
	TakenOver bool
}

// deferrals maps an owner ENI to its deferral.
type deferrals map[string]deferral

// decide is the backstop rule, pure: pending counts the changes each other
// appliance owns that are still needed (from a fresh read). An owner's
// changes are due when wait is 0, or when a whole window of wait passed in
// which the number of its pending changes did not fall (no progress by the
// owner); then they stay due until none is pending. A negative wait
// (DeferNever) never makes them due. It returns the owners whose changes
// are due now, the state to keep, and when to look again (zero: nothing is
// waited for).
func (d deferrals) decide(pending map[string]int, now time.Time, wait time.Duration) (due map[string]bool, next deferrals, recheck time.Time) {
	due = map[string]bool{}
	next = deferrals{}
	for owner, n := range pending {
		if n == 0 {
			continue
		}
		if wait < 0 {
			continue
		}
		st, known := d[owner]
		switch {
		case !known:
			st = deferral{Since: now, Pending: n, TakenOver: wait == 0}
		case st.TakenOver:
		case now.Sub(st.Since) < wait:
		case n < st.Pending:
			st = deferral{Since: now, Pending: n}
		default:
			st.TakenOver = true
		}
		next[owner] = st
		if st.TakenOver {
			due[owner] = true
			continue
		}
		if at := st.Since.Add(wait); recheck.IsZero() || at.Before(recheck) {
			recheck = at
		}
	}
	return due, next, recheck
}

// applyOrder returns changes in the order this writer sends them: the
// sorted plan rotated by an offset drawn from seed. Writers that do not
// know of each other (no ownership configured) then start on different
// routes, and a re-read between rounds finds more of the work done rather
// than the same routes written three times.
func applyOrder(changes []Change, seed uint64) []Change {
	if len(changes) < 2 {
		return changes
	}
	k := int(rand.New(rand.NewPCG(seed, uint64(len(changes)))).IntN(len(changes)))
	return append(slices.Clone(changes[k:]), changes[:k]...)
}
