package routetable

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// RunOnce does one pass and returns when the target tables are in step as
// far as this reconciler is concerned, or it gave up. A pass is rounds of:
// one DescribeRouteTables (plus the propagation and own-ENI lookups when
// due), a pure Plan, the deferral rule, and paced writes. An idle pass is
// one round and one API call. Another round follows when writes were
// throttled or planned from a stale read (the tables are read again, so
// what another writer did meanwhile is not done twice), when a round's
// budget of writes ran out, or when changes owned by another appliance are
// waiting for it (the pass lock is released while it waits). Throttled
// changes are retried, paced, while the pass makes progress; the pass gives
// up on one only for a non-throttling error or after StallTimeout without
// any write accepted. The error is non-nil when anything failed; Result is
// filled either way.
func (r *Reconciler) RunOnce(ctx context.Context) (Result, error) {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PassTimeout)
	defer cancel()
	res := Result{Start: start, VPCID: r.cfg.VPCID, DryRun: r.cfg.DryRun, Targets: []string{}, Changes: []Outcome{}, Drift: []Drift{}}
	b := newBook(start)
	err := r.rounds(ctx, &res, b)
	res.Changes = b.outcomes()
	res.Writes, res.Throttled = b.writes, b.throttled
	res.DurationSeconds = time.Since(start).Seconds()
	for _, o := range res.Changes {
		switch {
		case o.Deferred:
			res.Deferred++
		case o.Error != "":
			res.Failures = append(res.Failures, o.Error)
		}
	}
	changed := false
	for _, o := range res.Changes {
		changed = changed || o.Applied
	}
	switch {
	case err != nil || len(res.Failures) > 0:
		res.Result = "error"
		if err == nil {
			err = fmt.Errorf("%w: %d of %d changes failed, first: %s", ErrPass, len(res.Failures), len(res.Changes), res.Failures[0])
		}
	case changed:
		res.Result = "changed"
	default:
		res.Result = "ok"
	}
	r.obs.PassDone(res.Result, time.Since(start))
	r.logLeftAlone(res.Changes)
	r.recordStatus(res, err)
	return res, err
}

// rounds is the body of a pass.
func (r *Reconciler) rounds(ctx context.Context, res *Result, b *book) (err error) {
	// Configured targets missing from the VPC fail the pass, after the
	// others were reconciled.
	var missing error
	defer func() {
		if err == nil {
			err = missing
		}
	}()
	for {
		res.Rounds++
		src, targets, absent, err := r.observe(ctx, res)
		if err != nil {
			return err
		}
		if len(absent) > 0 && missing == nil {
			for _, id := range absent {
				res.Failures = append(res.Failures, fmt.Sprintf("target route table %s is not in %s", id, r.cfg.VPCID))
			}
			missing = fmt.Errorf("%w: %d configured target tables not found", ErrPass, len(absent))
		}
		owners := r.resolveOwners(ctx)
		rules := Rules{Origins: r.cfg.Origins, Prefixes: r.cfg.Prefixes, Ignore: r.cfg.Ignore, Prune: r.cfg.Prune, Owned: r.owned}
		changes, drift := PlanDrift(src, targets, rules)
		if !r.cfg.DryRun {
			r.markInStep(src, targets, rules)
		}
		b.forget(changes)

		// Own changes are due now; another appliance's when the deferral
		// rule says so.
		var due, others []Change
		pending := map[string]int{}
		for _, c := range changes {
			switch {
			case c.Action == ActionSkip:
				b.note(Outcome{Change: c})
			case b.settled(c):
			case owners.Own(c):
				due = append(due, c)
			default:
				others = append(others, c)
				pending[c.OwnerENI()]++
			}
		}
		dueOwners, next, recheck := r.deferred.decide(pending, time.Now(), r.cfg.DeferOthers)
		if !r.cfg.DryRun {
			r.logDeferrals(next, pending)
			r.deferred = next
		}
		waiting := 0
		for _, c := range others {
			if dueOwners[c.OwnerENI()] {
				due = append(due, c)
				continue
			}
			waiting++
			c.Reason = r.deferReason(c.OwnerENI(), next[c.OwnerENI()])
			b.note(Outcome{Change: c, Deferred: true})
		}
		r.deferredNow.Store(int64(waiting))
		res.Drift = b.leftOver(drift, r.cfg.DryRun)

		if r.cfg.DryRun {
			r.report(ctx, b.record(r.applier.Apply(ctx, due), true))
			res.Drift = b.leftOver(drift, true)
			return nil
		}
		if len(due) > 0 {
			if b.othersProgressed(len(due)) {
				// Someone else is making these changes: let them,
				// and look again.
				r.log.Debug("another writer is making the changes; yielding", "vpc_id", r.cfg.VPCID, "pending", len(due))
				if err := r.waitUnlocked(ctx, time.Now().Add(yieldWait())); err != nil {
					return err
				}
				continue
			}
			batch := applyOrder(due, r.cfg.OrderSeed)
			more := false
			if n := r.applier.Limiter.roundSize(roundSpan); len(batch) > n {
				batch, more = batch[:n], true
			}
			outs := r.applier.Apply(ctx, batch)
			r.countWrites(outs)
			r.report(ctx, b.record(outs, false))
			b.sent(len(due), outs)
			res.Drift = b.leftOver(drift, false)
			if err := ctx.Err(); err != nil {
				return err
			}
			if wantsRound(outs) && b.stalled(r.cfg.StallTimeout) {
				b.giveUp(r.cfg.StallTimeout)
				res.Drift = b.leftOver(drift, false)
				return nil
			}
			if more || wantsRound(outs) || waiting > 0 {
				continue
			}
			return nil
		}
		if waiting == 0 || recheck.IsZero() {
			return nil
		}
		if err := r.waitUnlocked(ctx, recheck); err != nil {
			return err
		}
	}
}

// observe reads the tables and picks the source and targets; missing lists
// configured targets that are not in the VPC.
func (r *Reconciler) observe(ctx context.Context, res *Result) (_ RouteTable, _ []RouteTable, missing []string, _ error) {
	fail := func(err error) (RouteTable, []RouteTable, []string, error) {
		res.Failures = append(res.Failures, err.Error())
		return RouteTable{}, nil, nil, fmt.Errorf("%w: %w", ErrPass, err)
	}
	tables, err := describeTables(ctx, r.api, r.cfg.VPCID, r.opts...)
	if err != nil {
		return fail(err)
	}
	src, err := FindSource(tables, r.cfg.Source)
	if err != nil {
		return fail(fmt.Errorf("find source in %s: %w", r.cfg.VPCID, err))
	}
	res.Source = src.ID
	var propagated map[string]bool
	if r.cfg.Targets == nil {
		if propagated, err = r.propagations(ctx, tables); err != nil {
			return fail(err)
		}
	}
	targets, missing := SelectTargets(tables, src.ID, r.cfg.Targets, propagated)
	res.Targets = res.Targets[:0]
	for _, t := range targets {
		res.Targets = append(res.Targets, t.ID)
	}
	return src, targets, missing, nil
}

func (r *Reconciler) deferReason(owner string, st deferral) string {
	if r.cfg.DeferOthers < 0 {
		return fmt.Sprintf("route points at %s, another appliance's network interface; left to it (defer_others: never)", owner)
	}
	return fmt.Sprintf("route points at %s, another appliance's network interface; left to it while it makes progress, copied after %s without (waiting since %s)",
		owner, r.cfg.DeferOthers, st.Since.Format(time.RFC3339Nano))
}

// countWrites adds a round's writes to the counters in Status at once, not
// at the end of the pass, so they can be read while a pass runs.
func (r *Reconciler) countWrites(outs []Outcome) {
	var w, th uint64
	for _, o := range outs {
		if o.Applied {
			w++
		}
		if o.Code == "RequestLimitExceeded" {
			th++
		}
	}
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	r.status.Writes += w
	r.status.Throttled += th
}

// logDeferrals logs, one line per owner and state change, that its routes
// are left to it, or taken over.
func (r *Reconciler) logDeferrals(next deferrals, pending map[string]int) {
	for owner, st := range next {
		prev, known := r.deferred[owner]
		switch {
		case st.TakenOver && (!known || !prev.TakenOver) && r.cfg.DeferOthers > 0:
			r.log.Warn("the appliance owning these routes made no progress; copying them", "vpc_id", r.cfg.VPCID,
				"owner_network_interface_id", owner, "pending", pending[owner], "defer_others", r.cfg.DeferOthers)
		case !known && !st.TakenOver:
			r.log.Info("routes left to the appliance that owns them", "vpc_id", r.cfg.VPCID,
				"owner_network_interface_id", owner, "pending", pending[owner], "defer_others", r.cfg.DeferOthers)
		}
	}
}

// waitUnlocked waits, without the pass lock, until at or a trigger.
func (r *Reconciler) waitUnlocked(ctx context.Context, at time.Time) error {
	r.passMu.Unlock()
	defer r.passMu.Lock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-r.trigger:
	}
	return nil
}

// markInStep records copies that already match the source, so prune may
// later remove them when prefixes is empty.
func (r *Reconciler) markInStep(src RouteTable, targets []RouteTable, rules Rules) {
	for _, s := range src.Routes {
		if !rules.Eligible(s) {
			continue
		}
		for _, t := range targets {
			if have, ok := t.Route(s.Destination); ok && ourShape(have) && have.NetworkInterface == s.NetworkInterface {
				r.owned[TableDest{t.ID, s.Destination}] = true
			}
		}
	}
}

// report logs, counts and notifies the changes a round settled, and keeps
// the owned set in step with what was applied.
func (r *Reconciler) report(ctx context.Context, final []Outcome) {
	r.owned = updateOwned(r.owned, final, r.cfg.DryRun)
	logChanges(r.log, r.obs, "reconcile", r.cfg.VPCID, r.cfg.DryRun, final, nil)
	deliver(ctx, r.cfg.Notifier, events("reconcile", r.cfg.VPCID, r.cfg.DryRun, final), r.cfg.NotifyTimeout, r.log, r.obs)
}

// logLeftAlone logs the skips and deferrals of a pass: at info the first
// time, at debug while they stand, so a standing conflict does not log
// every pass.
func (r *Reconciler) logLeftAlone(outs []Outcome) {
	seen := map[TableDest]string{}
	var left []Outcome
	for _, o := range outs {
		if o.Action == ActionSkip || o.Deferred {
			seen[keyOf(o.Change)] = string(o.Action) + o.OwnerENI() + fmt.Sprint(o.Deferred) + skipReason(o)
			left = append(left, o)
		}
	}
	known := r.skipped
	r.skipped = seen
	logChanges(r.log, r.obs, "reconcile", r.cfg.VPCID, r.cfg.DryRun, left, func(o Outcome) bool {
		return known[keyOf(o.Change)] == seen[keyOf(o.Change)]
	})
}

// skipReason is a skip's reason; a deferral's changes with its window, so
// only the owner is compared.
func skipReason(o Outcome) string {
	if o.Deferred {
		return ""
	}
	return o.Reason
}

func updateOwned(owned map[TableDest]bool, outs []Outcome, dryRun bool) map[TableDest]bool {
	if dryRun {
		return owned
	}
	for _, o := range outs {
		if !o.Applied {
			continue
		}
		k := TableDest{o.Table, o.Destination}
		switch o.Action {
		case ActionCreate, ActionReplace:
			owned[k] = true
		case ActionDelete:
			delete(owned, k)
		}
	}
	return owned
}

// logChanges logs one line per outcome. A skip or deferral that known
// reports as logged before goes to debug level.
func logChanges(log *slog.Logger, obs Observer, source, vpcID string, dryRun bool, outs []Outcome, known func(Outcome) bool) {
	for _, o := range outs {
		attrs := []any{"source", source, "vpc_id", vpcID, "route_table_id", o.Table, "action", string(o.Action),
			"destination", o.Destination.String(), "network_interface_id", o.ENI, "previous_network_interface_id", o.PrevENI, "dry_run", dryRun}
		level := slog.LevelInfo
		if known != nil && known(o) {
			level = slog.LevelDebug
		}
		switch {
		case o.Action == ActionSkip:
			log.Log(context.Background(), level, "route left alone", append(attrs, "reason", o.Reason)...)
		case o.Deferred:
			log.Debug("route left to its owner", append(attrs, "reason", o.Reason)...)
		case o.Error != "":
			log.Warn("route change failed", append(attrs, "code", o.Code, "error", o.Error)...)
		default:
			log.Info("route changed", attrs...)
			if !dryRun {
				obs.Changed(string(o.Action))
			}
		}
	}
}

func events(source, vpcID string, dryRun bool, outs []Outcome) []Event {
	var evs []Event
	now := time.Now()
	for _, o := range outs {
		if o.Action == ActionSkip || o.Deferred {
			continue
		}
		evs = append(evs, Event{Time: now, Source: source, VPCID: vpcID, Table: o.Table, Action: o.Action,
			Destination: o.Destination.String(), ENI: o.ENI, PrevENI: o.PrevENI, DryRun: dryRun, Error: o.Error})
	}
	return evs
}
