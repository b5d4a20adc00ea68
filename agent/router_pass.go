package agent

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/routetable"
	"github.com/rsagent/rsagent/routetable/direct"
)

const (
	// routerPassTimeout bounds one pass (reads and paced writes).
	routerPassTimeout = 2 * time.Minute
	// maxRouterChanges is how many recent changes /status keeps.
	maxRouterChanges = 50
	// firstRoundSlack is added to the check timeout (and the round's own
	// late grace) while a pass waits for a new host's first verdict.
	firstRoundSlack = 600 * time.Millisecond
)

// The host problems direct mode reports (status, metric, log).
const (
	problemNoENI           = "no_eni"
	problemNotAttached     = "eni_not_attached"
	problemSourceDestCheck = "source_dest_check"
)

var allHostProblems = []string{problemNoENI, problemNotAttached, problemSourceDestCheck}

// passRecord is the last pass, for /status.
type passRecord struct {
	at                  time.Time
	duration            time.Duration
	result, err         string
	plan                direct.Result
	tables, missing     []string
	passes              uint64
	consecutiveFailures int
	skips               map[routetable.TableDest]string // skip reasons already logged
	routeStates         map[netip.Prefix]string         // per destination, to log changes once
}

// RouterChange is one route write (or dry-run plan), for /status.
type RouterChange struct {
	At          time.Time    `json:"at"`
	Table       string       `json:"table"`
	Destination netip.Prefix `json:"destination"`
	Action      string       `json:"action"`
	ENI         string       `json:"eni,omitempty"`
	PrevENI     string       `json:"prev_eni,omitempty"`
	Reason      string       `json:"reason,omitempty"`
	// Result is applied, planned (dry run), throttled (EC2 refused it for the
	// account's rate, or it was not sent; planned again next pass) or failed.
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// loop runs a pass at once, then every interval and on every trigger.
func (r *Router) loop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-r.trigger:
		}
		next := r.pass(ctx)
		timer.Stop()
		timer.Reset(next)
	}
}

// pass reads the hosts' ENIs and the route tables, plans and applies. It
// returns when the next pass is due unless something triggers one sooner.
// While a host has had no verdict yet (start-up, a new spec host, checks
// changed by a reload) the pass waits, at most until that host's first
// round must have ended: deciding before would move routes away from a
// host nobody has looked at.
func (r *Router) pass(ctx context.Context) time.Duration {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	r.mu.Lock()
	rm := r.model.Router
	spec := r.spec.Clone()
	hosts := spec.Hosts()
	var waitUntil time.Time
	states := make(map[netip.Addr]direct.HostState, len(hosts))
	for _, h := range hosts {
		st := r.states[h]
		states[h] = st
		if p := r.probes[h]; p != nil && !st.Checked && p.firstBy.After(waitUntil) {
			waitUntil = p.firstBy
		}
	}
	r.mu.Unlock()
	if wait := time.Until(waitUntil); wait > 0 {
		return wait
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, routerPassTimeout)
	defer cancel()
	enis, err := direct.LookupENIs(ctx, r.api, rm.VPCID, hosts, r.ec2opts...)
	var all []routetable.RouteTable
	if err == nil {
		all, err = direct.DescribeTables(ctx, r.api, rm.VPCID, r.ec2opts...)
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("router pass failed", "vpc_id", rm.VPCID, "error", err)
		}
		r.recordFailedPass(start, err)
		return rm.Interval
	}
	tables, missing := direct.SelectTables(all, rm.Tables)
	views := make(map[netip.Addr]direct.HostView, len(hosts))
	for _, h := range hosts {
		st := states[h]
		v := direct.HostView{Healthy: st.Healthy(), Eligible: st.Eligible()}
		if e, ok := enis[h]; ok && e.InUse() {
			v.ENI = e.ID
		}
		views[h] = v
	}
	plan := direct.Plan(direct.Input{Tables: tables, Spec: spec, Hosts: views, Ignore: rm.Ignore,
		Preempt: rm.Preempt, RemoveUnlisted: rm.RemoveUnlisted})
	applier := *r.applier
	applier.DryRun = rm.DryRun
	outs := applier.Apply(ctx, plan.Changes)
	r.recordPass(start, rm, spec, enis, plan, outs, tables, missing)
	r.ready.Store(true)
	if slices.ContainsFunc(outs, func(o routetable.Outcome) bool { return o.Throttled }) {
		// Another writer is spending the account's tokens: the limiter has
		// slowed down; read the tables again soon and plan what is left.
		return min(rm.Interval, throttledRetry)
	}
	return rm.Interval
}

// throttledRetry is how soon a pass with throttled changes is followed by
// another, which re-reads the tables and plans what is still needed.
const throttledRetry = time.Second

func (r *Router) recordFailedPass(start time.Time, err error) {
	r.met.routerPasses.WithLabelValues("error").Inc()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last.at, r.last.duration, r.last.result, r.last.err = start, time.Since(start), "error", err.Error()
	r.last.passes++
	r.last.consecutiveFailures++
}

// recordPass logs, counts and keeps what one pass saw and did.
func (r *Router) recordPass(start time.Time, rm *RouterModel, spec direct.Spec, enis map[netip.Addr]direct.ENI,
	plan direct.Result, outs []routetable.Outcome, tables []routetable.RouteTable, missing []string) {
	result, firstErr := "ok", ""
	var changes []RouterChange
	skips := map[routetable.TableDest]string{}
	for _, o := range outs {
		attrs := []any{"vpc_id", rm.VPCID, "route_table_id", o.Table, "action", string(o.Action), "destination", o.Destination.String(),
			"network_interface_id", o.ENI, "previous_network_interface_id", o.PrevENI, "reason", o.Reason, "dry_run", rm.DryRun}
		if o.Action == routetable.ActionSkip {
			k := routetable.TableDest{Table: o.Table, Destination: o.Destination}
			skips[k] = o.Reason
			if r.last.skips[k] != o.Reason {
				r.log.Info("route left alone", attrs...)
			}
			continue
		}
		c := RouterChange{At: time.Now(), Table: o.Table, Destination: o.Destination, Action: string(o.Action),
			ENI: o.ENI, PrevENI: o.PrevENI, Reason: o.Reason, Result: "applied"}
		switch {
		case o.Throttled:
			// Not written (or refused for the account's rate): the next
			// pass re-reads the tables and plans it again.
			c.Result = "throttled"
			r.log.Info("route change throttled by EC2; planned again on the next pass", attrs...)
		case o.Error != "":
			c.Result, c.Error = "failed", o.Error
			result = "error"
			if firstErr == "" {
				firstErr = o.Error
			}
			r.log.Warn("route change failed", append(attrs, "code", o.Code, "error", o.Error)...)
		case rm.DryRun:
			c.Result = "planned"
			r.log.Info("route change planned (dry run)", attrs...)
		default:
			r.met.routerChanges.WithLabelValues(string(o.Action)).Inc()
			r.log.Info("route changed", attrs...)
		}
		if result == "ok" {
			result = "changed"
		}
		changes = append(changes, c)
	}
	if len(missing) > 0 {
		result = "error"
		if firstErr == "" {
			firstErr = fmt.Sprintf("route tables not in %s: %v", rm.VPCID, missing)
		}
	}
	r.met.routerPasses.WithLabelValues(result).Inc()
	afterWrites(plan, outs, rm.DryRun)
	r.reportRoutes(plan, spec)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.reportHostsLocked(spec, enis)
	r.last.at, r.last.duration, r.last.result, r.last.err = start, time.Since(start), result, firstErr
	r.last.plan, r.last.missing, r.last.skips = plan, missing, skips
	r.last.tables = r.last.tables[:0]
	for _, t := range tables {
		r.last.tables = append(r.last.tables, t.ID)
	}
	r.last.passes++
	if result == "error" {
		r.last.consecutiveFailures++
	} else {
		r.last.consecutiveFailures = 0
	}
	r.changes = append(r.changes, changes...)
	if n := len(r.changes); n > maxRouterChanges {
		r.changes = slices.Clone(r.changes[n-maxRouterChanges:])
	}
}

// afterWrites updates the plan's table routes with the writes that
// succeeded, so that /status shows each table's target after the pass (and
// the action that got it there); a failed write shows its error.
func afterWrites(plan direct.Result, outs []routetable.Outcome, dryRun bool) {
	at := map[routetable.TableDest]*direct.TableRoute{}
	for i := range plan.Routes {
		for j := range plan.Routes[i].Tables {
			tr := &plan.Routes[i].Tables[j]
			at[routetable.TableDest{Table: tr.Table, Destination: plan.Routes[i].Destination}] = tr
		}
	}
	for _, o := range outs {
		tr, ok := at[routetable.TableDest{Table: o.Table, Destination: o.Destination}]
		if !ok || o.Action == routetable.ActionSkip {
			continue
		}
		switch {
		case o.Throttled:
			tr.Reason = strings.TrimSpace(tr.Reason + " throttled: planned again on the next pass")
		case o.Error != "":
			tr.Reason = strings.TrimSpace(tr.Reason + " failed: " + o.Error)
		case !dryRun:
			tr.Current, tr.RouteState, tr.Origin = o.ENI, routetable.StateActive, routetable.OriginCreateRoute
			tr.CurrentHost = plan.Routes[routeIndex(plan, o.Destination)].Target
		}
	}
}

func routeIndex(plan direct.Result, dst netip.Prefix) int {
	return slices.IndexFunc(plan.Routes, func(rp direct.RoutePlan) bool { return rp.Destination == dst })
}

// reportRoutes sets the per-destination metrics and logs a destination
// entering or leaving no_healthy_host once.
func (r *Router) reportRoutes(plan direct.Result, spec direct.Spec) {
	prev := r.routeStates()
	next := make(map[netip.Prefix]string, len(plan.Routes))
	for _, rp := range plan.Routes {
		dst := rp.Destination.String()
		next[rp.Destination] = rp.State
		for _, h := range spec[rp.Destination] {
			v := 0.0
			if rp.Target == h {
				v = 1
			}
			r.met.routerRouteTarget.WithLabelValues(dst, h.String()).Set(v)
		}
		noHost := 0.0
		if rp.State == direct.RouteNoHealthyHost {
			noHost = 1
		}
		r.met.routerNoHealthyHost.WithLabelValues(dst).Set(noHost)
		switch was := prev[rp.Destination]; {
		case rp.State == direct.RouteNoHealthyHost && was != direct.RouteNoHealthyHost:
			r.log.Error("no healthy host: the route is left as it is", "destination", dst, "hosts", fmt.Sprint(rp.Hosts))
		case rp.State == direct.RouteOK && was == direct.RouteNoHealthyHost:
			r.log.Info("a healthy host is back", "destination", dst, "target", rp.Target)
		}
	}
	r.mu.Lock()
	r.last.routeStates = next
	r.mu.Unlock()
}

func (r *Router) routeStates() map[netip.Prefix]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last.routeStates
}

// reportHostsLocked keeps every host's ENI and its problems, and logs a
// change of problems once (loudly for the source/destination check: a
// route to such an instance "works" and the traffic dies). r.mu held.
func (r *Router) reportHostsLocked(spec direct.Spec, enis map[netip.Addr]direct.ENI) {
	for _, h := range spec.Hosts() {
		e, ok := enis[h]
		if ok {
			r.enis[h] = e
		} else {
			delete(r.enis, h)
		}
		probs := hostProblems(e, ok)
		for _, p := range allHostProblems {
			v := 0.0
			if slices.Contains(probs, p) {
				v = 1
			}
			r.met.routerHostProblem.WithLabelValues(h.String(), p).Set(v)
		}
		if slices.Equal(probs, r.problems[h]) {
			continue
		}
		r.problems[h] = probs
		switch {
		case slices.Contains(probs, problemNoENI):
			r.log.Error("host has no network interface in the VPC: it is never chosen", "host", h)
		case slices.Contains(probs, problemNotAttached):
			r.log.Error("host's network interface is not attached: it is never chosen", "host", h, "network_interface_id", e.ID, "status", e.Status)
		}
		if slices.Contains(probs, problemSourceDestCheck) {
			r.log.Error("SOURCE/DEST CHECK IS ENABLED on the host's network interface: the instance drops traffic routed through it; "+
				"disable it (aws ec2 modify-network-interface-attribute --no-source-dest-check)",
				"host", h, "network_interface_id", e.ID)
		}
		if len(probs) == 0 {
			r.log.Info("host's network interface is fine", "host", h, "network_interface_id", e.ID)
		}
	}
}

func hostProblems(e direct.ENI, found bool) []string {
	switch {
	case !found:
		return []string{problemNoENI}
	case !e.InUse():
		return []string{problemNotAttached}
	case e.SourceDestCheck:
		return []string{problemSourceDestCheck}
	}
	return nil
}

// checksOf returns a host's last check results, for /status.
func (r *Router) checksOfLocked(h netip.Addr) []health.CheckStatus {
	return slices.Clone(r.checks[h])
}
