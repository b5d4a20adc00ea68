package agent

import (
	"net/netip"
	"slices"
	"time"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/routetable/direct"
)

// RouterStatus is direct mode's part of GET /status.
type RouterStatus struct {
	VPCID          string      `json:"vpc_id"`
	DryRun         bool        `json:"dry_run"`
	Preempt        bool        `json:"preempt"`
	RemoveUnlisted bool        `json:"remove_unlisted"`
	Spec           direct.Spec `json:"spec"`
	// SpecSource is file, http, config, or "" before any spec.
	SpecSource    string             `json:"spec_source"`
	SpecFile      string             `json:"spec_file,omitempty"`
	SpecLoaded    *time.Time         `json:"spec_loaded,omitempty"`
	SpecRefused   string             `json:"spec_refused,omitempty"`
	SpecRefusedAt *time.Time         `json:"spec_refused_at,omitempty"`
	Hosts         []RouterHostStatus `json:"hosts"`
	// Routes holds, per spec destination, the chosen host and every
	// managed table's current and desired target (from the last pass).
	Routes              []direct.RoutePlan `json:"routes"`
	Tables              []string           `json:"route_tables"`
	MissingTables       []string           `json:"missing_route_tables,omitempty"`
	LastPass            *time.Time         `json:"last_pass,omitempty"`
	LastResult          string             `json:"last_result,omitempty"`
	LastError           string             `json:"last_error,omitempty"`
	LastDurationSeconds float64            `json:"last_duration_seconds"`
	Passes              uint64             `json:"passes"`
	ConsecutiveFailures int                `json:"consecutive_failures"`
	LastChanges         []RouterChange     `json:"last_changes"`
	// Warnings are the things an operator must fix: hosts without an ENI,
	// source/destination check enabled, missing tables, no healthy host.
	Warnings []string `json:"warnings,omitempty"`
}

// RouterHostStatus is one host of the spec.
type RouterHostStatus struct {
	Host     netip.Addr        `json:"host"`
	Status   direct.HostStatus `json:"status"`
	Healthy  bool              `json:"healthy"`
	Eligible bool              `json:"eligible"`
	direct.HostState
	ENI             string               `json:"eni,omitempty"`
	ENIStatus       string               `json:"eni_status,omitempty"`
	SourceDestCheck bool                 `json:"source_dest_check"`
	Problems        []string             `json:"problems,omitempty"`
	Checks          []health.CheckStatus `json:"checks"`
}

// Status snapshots direct mode for GET /status and `rsagent status`.
func (r *Router) Status() Status {
	st := Status{Version: Version, Ready: r.ready.Load()}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started.IsZero() {
		st.UptimeSeconds = time.Since(r.started).Seconds()
	}
	rm := r.model.Router
	rs := &RouterStatus{
		VPCID: rm.VPCID, DryRun: rm.DryRun, Preempt: rm.Preempt, RemoveUnlisted: rm.RemoveUnlisted,
		Spec: r.spec.Clone(), SpecSource: r.specInfo.source, SpecFile: rm.SpecFile, SpecRefused: r.specInfo.refused,
		Hosts: []RouterHostStatus{}, Routes: r.last.plan.Routes, Tables: slices.Clone(r.last.tables),
		MissingTables: slices.Clone(r.last.missing), LastResult: r.last.result, LastError: r.last.err,
		LastDurationSeconds: r.last.duration.Seconds(), Passes: r.last.passes, ConsecutiveFailures: r.last.consecutiveFailures,
		LastChanges: slices.Clone(r.changes),
	}
	if rs.Routes == nil {
		rs.Routes = []direct.RoutePlan{}
	}
	if rs.LastChanges == nil {
		rs.LastChanges = []RouterChange{}
	}
	if t := r.specInfo.loaded; !t.IsZero() {
		rs.SpecLoaded = &t
	}
	if t := r.specInfo.refusedAt; !t.IsZero() {
		rs.SpecRefusedAt = &t
	}
	if t := r.last.at; !t.IsZero() {
		rs.LastPass = &t
	}
	for _, h := range r.spec.Hosts() {
		s := r.states[h]
		hs := RouterHostStatus{Host: h, Status: s.Status(), Healthy: s.Healthy(), Eligible: s.Eligible(), HostState: s,
			Problems: r.problems[h], Checks: r.checksOfLocked(h)}
		if hs.Checks == nil {
			hs.Checks = []health.CheckStatus{}
		}
		if e, ok := r.enis[h]; ok {
			hs.ENI, hs.ENIStatus, hs.SourceDestCheck = e.ID, e.Status, e.SourceDestCheck
		}
		for _, p := range hs.Problems {
			rs.Warnings = append(rs.Warnings, h.String()+": "+problemText(p))
		}
		rs.Hosts = append(rs.Hosts, hs)
	}
	for _, id := range r.last.missing {
		rs.Warnings = append(rs.Warnings, "route table "+id+" is not in "+rm.VPCID)
	}
	for _, rp := range rs.Routes {
		if rp.State == direct.RouteNoHealthyHost {
			rs.Warnings = append(rs.Warnings, rp.Destination.String()+": no healthy host; the route is left as it is")
		}
	}
	st.Router = rs
	return st
}

func problemText(p string) string {
	switch p {
	case problemNoENI:
		return "no network interface in the VPC holds this address; never chosen"
	case problemNotAttached:
		return "its network interface is not attached; never chosen"
	case problemSourceDestCheck:
		return "source/destination check is enabled on its network interface: it drops routed traffic"
	}
	return p
}
