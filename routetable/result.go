package routetable

import (
	"fmt"
	"io"
	"time"
)

// Result is one pass, JSON-serialisable for `rsagent reconcile -o json`.
type Result struct {
	Start           time.Time `json:"start"`
	DurationSeconds float64   `json:"duration_seconds"`
	VPCID           string    `json:"vpc_id"`
	DryRun          bool      `json:"dry_run"`
	Source          string    `json:"source_route_table_id,omitempty"`
	Targets         []string  `json:"target_route_table_ids"`
	// Changes are what the pass did or decided, one per table and
	// destination: applied, failed, left alone (skip) or deferred to the
	// appliance that owns the route.
	Changes []Outcome `json:"changes"`
	// Drift lists every target route still out of step after the pass
	// (before it, in a dry run) and why; see Drift.
	Drift []Drift `json:"drift"`
	// Deferred counts the changes left to the appliances owning them.
	Deferred int `json:"deferred_routes"`
	// Rounds counts the reads of the pass: one, unless writes were
	// throttled, a round's budget ran out, or it waited for an owner.
	Rounds int `json:"rounds"`
	// Writes counts the changes EC2 accepted (not in a dry run); Throttled
	// the writes it answered RequestLimitExceeded.
	Writes    int `json:"writes"`
	Throttled int `json:"throttled"`
	// Failures are pass-level problems and failed changes, one line each.
	Failures []string `json:"failures,omitempty"`
	// Result is "ok" (nothing to do), "changed" or "error".
	Result string `json:"result"`
}

// WriteText prints the pass as a plan, one change a line, then what is
// still out of step.
func (res Result) WriteText(w io.Writer) error {
	mode := ""
	if res.DryRun {
		mode = " (dry run)"
	}
	if _, err := fmt.Fprintf(w, "vpc %s source %s targets %v: %s%s\n", res.VPCID, res.Source, res.Targets, res.Result, mode); err != nil {
		return err
	}
	for _, o := range res.Changes {
		state := "applied"
		switch {
		case o.Action == ActionSkip:
			state = "left alone"
		case o.Deferred:
			state = "deferred: " + o.Reason
		case o.Error != "":
			state = "failed: " + o.Error
		case o.Throttled:
			state = "throttled, not sent"
		case res.DryRun:
			state = "would apply"
		}
		c := o.Change
		if o.Deferred {
			c.Reason = ""
		}
		if _, err := fmt.Fprintf(w, "  %s: %s\n", c, state); err != nil {
			return err
		}
	}
	for _, f := range res.Failures {
		if _, err := fmt.Fprintf(w, "  failure: %s\n", f); err != nil {
			return err
		}
	}
	if len(res.Drift) > 0 {
		if _, err := fmt.Fprintf(w, "out of step%s: %d\n", map[bool]string{true: " (before the dry run)", false: " after the pass"}[res.DryRun], len(res.Drift)); err != nil {
			return err
		}
		for _, d := range res.Drift {
			if _, err := fmt.Fprintf(w, "  %s %s: %s; %s\n", d.Table, d.Destination, d.Reason, d.Handling); err != nil {
				return err
			}
		}
	}
	return nil
}

// Status is the reconciler's state for /status: the last pass, what it
// left out of step, and the counters since start.
type Status struct {
	LastPass            time.Time `json:"last_pass"`
	LastResult          string    `json:"last_result"`
	LastError           string    `json:"last_error,omitempty"`
	LastDurationSeconds float64   `json:"last_duration_seconds"`
	LastChanges         int       `json:"last_changes"`
	Passes              uint64    `json:"passes"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	// NetworkInterfaceIDs are the ENIs this reconciler counts as its own;
	// OwnsEveryRoute is set when it counts every route as its own.
	NetworkInterfaceIDs []string `json:"network_interface_ids,omitempty"`
	OwnsEveryRoute      bool     `json:"owns_every_route"`
	// DeferredRoutes counts changes left to their owners at the latest read.
	DeferredRoutes int `json:"deferred_routes"`
	// Drift is what the last pass left out of step, and why.
	Drift []Drift `json:"drift"`
	// Writes and Throttled count, since start, the route writes EC2
	// accepted and those it answered RequestLimitExceeded.
	Writes    uint64 `json:"writes"`
	Throttled uint64 `json:"throttled"`
	// MutatingRatePerSecond is the client-side bucket's current refill rate.
	MutatingRatePerSecond float64 `json:"mutating_rate_per_second"`
}
