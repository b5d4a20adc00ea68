package routetable

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// roundSpan bounds how much paced work one round sends before the tables
// are read again: the tokens on hand plus this long at the current rate,
// and no more than two windows (about two round trips; see
// Limiter.roundSize). Other writers may be making the same changes: a fresh
// read every few calls lets a writer see that before it duplicates them or
// runs with them into the account's empty bucket.
const roundSpan = 2 * time.Second

// maxAttempts bounds how often one change is sent in one pass when EC2 says
// the plan was stale (RouteAlreadyExists, InvalidRoute.NotFound) or the
// route keeps changing back: a fight with another writer ends in a failure
// the operator sees rather than a loop.
const maxAttempts = 3

// stale reports whether code is EC2's answer to a change planned from a
// read another writer has since made out of date: re-read and plan again.
func stale(code string) bool { return code == "RouteAlreadyExists" || code == "InvalidRoute.NotFound" }

// book keeps the outcome of every change of one pass across its rounds.
type book struct {
	byKey        map[TableDest]Outcome
	attempts     map[TableDest]int
	final        map[TableDest]bool // failed for good, or out of attempts
	lastProgress time.Time
	writes       int // applied, not dry-run
	throttled    int // answered RequestLimitExceeded

	// What the last round sent, to tell another writer's progress from
	// ours: how many changes were due and how many of them we settled.
	lastDue, lastApplied int
}

// yieldWait is how long a writer that lost the race for the account's
// bucket waits before it reads the tables again: about a second, jittered
// so that two writers that yielded together do not resume together.
func yieldWait() time.Duration {
	return time.Duration((0.5 + rand.Float64()) * float64(time.Second))
}

// sent notes what a round sent: due changes were due, outs came back (and
// were recorded). A change that failed for good is not due again, so it
// counts with the applied ones as done by us.
func (b *book) sent(due int, outs []Outcome) {
	b.lastDue, b.lastApplied = due, 0
	for _, o := range outs {
		if o.Applied || b.final[keyOf(o.Change)] {
			b.lastApplied++
		}
	}
}

// othersProgressed reports whether fewer changes are due now than the last
// round left: another writer is making them. Then sending would duplicate
// theirs and, both drawing on the account's bucket, get throttled. It
// counts as progress of the pass (the tables are converging), and the
// writer yields while it lasts; once nobody else makes progress, it sends
// again.
func (b *book) othersProgressed(due int) bool {
	if b.lastDue == 0 || due >= b.lastDue-b.lastApplied {
		return false
	}
	b.lastDue, b.lastApplied = due, 0
	b.lastProgress = time.Now()
	return true
}

func newBook(start time.Time) *book {
	return &book{byKey: map[TableDest]Outcome{}, attempts: map[TableDest]int{}, final: map[TableDest]bool{}, lastProgress: start}
}

func keyOf(c Change) TableDest { return TableDest{c.Table, c.Destination} }

// settled reports whether c is not to be sent again in this pass.
func (b *book) settled(c Change) bool { return b.final[keyOf(c)] }

// note records an outcome that made no call (a skip, a deferral).
func (b *book) note(o Outcome) { b.byKey[keyOf(o.Change)] = o }

// record books what Apply returned and returns the outcomes that are final
// for this pass (applied, or failed for good): those are logged and
// notified; throttled and stale ones come back in a later round.
func (b *book) record(outs []Outcome, dryRun bool) (final []Outcome) {
	for _, o := range outs {
		k := keyOf(o.Change)
		b.byKey[k] = o
		if o.Action == ActionSkip {
			continue
		}
		if o.Code == "RequestLimitExceeded" {
			b.throttled++
		}
		if o.Throttled {
			continue
		}
		b.attempts[k]++
		switch {
		case o.Applied:
			b.lastProgress = time.Now()
			if !dryRun {
				b.writes++
			}
			final = append(final, o)
		case stale(o.Code) && b.attempts[k] < maxAttempts:
		default:
			b.final[k] = true
			final = append(final, o)
		}
		if b.attempts[k] >= maxAttempts {
			b.final[k] = true
		}
	}
	return final
}

// wantsRound reports whether some outcome of outs wants another round.
func wantsRound(outs []Outcome) bool {
	return slices.ContainsFunc(outs, func(o Outcome) bool {
		return o.Throttled || stale(o.Code)
	})
}

// forget drops the outcomes that were waiting for another round (throttled,
// stale, deferred) of changes the latest plan no longer holds: another
// writer made them, so there is nothing left to report.
func (b *book) forget(plan []Change) {
	inPlan := make(map[TableDest]bool, len(plan))
	for _, c := range plan {
		inPlan[keyOf(c)] = true
	}
	for k, o := range b.byKey {
		if !inPlan[k] && !o.Applied && !b.final[k] {
			delete(b.byKey, k)
		}
	}
}

// stalled reports whether nothing was applied for longer than stall.
func (b *book) stalled(stall time.Duration) bool { return time.Since(b.lastProgress) > stall }

// giveUp turns the changes still throttled into failures.
func (b *book) giveUp(stall time.Duration) {
	for k, o := range b.byKey {
		if o.Throttled && !o.Applied {
			o.Error = fmt.Sprintf("%s route %s in %s: gave up after %s of throttling (RequestLimitExceeded) with no write accepted",
				o.Action, o.Destination, o.Table, stall)
			o.Code = "RequestLimitExceeded"
			b.byKey[k] = o
			b.final[k] = true
		}
	}
}

// outcomes are the pass's outcomes sorted by table and destination.
func (b *book) outcomes() []Outcome {
	out := make([]Outcome, 0, len(b.byKey))
	for _, o := range b.byKey {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b Outcome) int { return compareTableDest(a.Table, b.Table, a.Destination, b.Destination) })
	return out
}

// leftOver is drift (from the last read) minus what the pass fixed since,
// each entry saying how the pass left it.
func (b *book) leftOver(drift []Drift, dryRun bool) []Drift {
	out := []Drift{}
	for _, d := range drift {
		o, ok := b.byKey[TableDest{d.Table, d.Destination}]
		switch {
		case !ok:
		case o.Applied && !dryRun:
			continue
		case o.Applied:
			d.Handling = "would " + string(o.Action)
		case o.Deferred:
			d.Handling = "deferred: " + o.Reason
		case o.Error != "":
			d.Handling = "failed: " + o.Error
		case o.Throttled:
			d.Handling = "throttled: not sent yet"
		}
		out = append(out, d)
	}
	return out
}

// settle applies the changes plan returns and, while some were throttled or
// planned from a stale read, reads and plans again and sends what is still
// needed, paced by the applier's limiter. It stops when nothing is left to
// retry, ctx ends, or no change got through for stall. The Sync Routes
// handler uses it; the reconciler's pass does the same with deferral on
// top. Only outcomes of the last plan and applied ones are returned.
func settle(ctx context.Context, a *Applier, plan func(context.Context) ([]Change, error), stall time.Duration) ([]Outcome, error) {
	b := newBook(time.Now())
	for {
		changes, err := plan(ctx)
		if err != nil {
			return b.outcomes(), err
		}
		b.forget(changes)
		var due []Change
		for _, c := range changes {
			if c.Action == ActionSkip || b.settled(c) {
				b.note(Outcome{Change: c})
				continue
			}
			due = append(due, c)
		}
		outs := a.Apply(ctx, due)
		b.record(outs, a.DryRun)
		if a.DryRun || !wantsRound(outs) {
			return b.outcomes(), nil
		}
		if err := ctx.Err(); err != nil {
			return b.outcomes(), err
		}
		if b.stalled(stall) {
			b.giveUp(stall)
			return b.outcomes(), nil
		}
	}
}
