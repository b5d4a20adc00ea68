package routetable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"golang.org/x/time/rate"
)

// Config is the reconciler's validated configuration (the agent maps the
// YAML `reconcile` section onto it).
type Config struct {
	VPCID string
	// Interval between passes; default 5 s.
	Interval time.Duration
	// Source is "main" (default) or a route table id.
	Source string
	// Targets lists target route table ids; nil means auto.
	Targets []string
	// Origins of source routes to copy; default [Advertisement].
	Origins  []string
	Prefixes []netip.Prefix
	Prune    bool
	DryRun   bool
	// MutatingBurst and MutatingPerSecond size the client-side bucket;
	// defaults 50 and 5 (EC2's). Ignored when Limiter is set.
	MutatingBurst     int
	MutatingPerSecond float64
	// Limiter, when set, is shared with other writers in the process.
	Limiter *rate.Limiter
	// Concurrency bounds EC2 calls in flight; default the bucket's burst.
	Concurrency int
	// PropagationTTL is how long the Route Server propagation lookup is
	// cached (auto targets only); default 5 min.
	PropagationTTL time.Duration
	// PassTimeout bounds one pass; default 2 min.
	PassTimeout time.Duration
	// NotifyTimeout bounds the notifications of one pass; default 5 s.
	NotifyTimeout time.Duration
	Logger        *slog.Logger
	Observer      Observer
	Notifier      Notifier
}

// Result is one pass, JSON-serialisable for `rsagent reconcile -o json`.
type Result struct {
	Start           time.Time `json:"start"`
	DurationSeconds float64   `json:"duration_seconds"`
	VPCID           string    `json:"vpc_id"`
	DryRun          bool      `json:"dry_run"`
	Source          string    `json:"source_route_table_id,omitempty"`
	Targets         []string  `json:"target_route_table_ids"`
	Changes         []Outcome `json:"changes"`
	// Failures are pass-level problems and failed changes, one line each.
	Failures []string `json:"failures,omitempty"`
	// Result is "ok" (nothing to do), "changed" or "error".
	Result string `json:"result"`
}

// WriteText prints the pass as a plan, one change a line.
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
		case o.Error != "":
			state = "failed: " + o.Error
		case res.DryRun:
			state = "would apply"
		}
		if _, err := fmt.Fprintf(w, "  %s: %s\n", o.Change, state); err != nil {
			return err
		}
	}
	for _, f := range res.Failures {
		if _, err := fmt.Fprintf(w, "  failure: %s\n", f); err != nil {
			return err
		}
	}
	return nil
}

// Status is the last pass, for /status.
type Status struct {
	LastPass            time.Time `json:"last_pass"`
	LastResult          string    `json:"last_result"`
	LastError           string    `json:"last_error,omitempty"`
	LastDurationSeconds float64   `json:"last_duration_seconds"`
	LastChanges         int       `json:"last_changes"`
	Passes              uint64    `json:"passes"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
}

// Reconciler copies eligible source routes into the target tables.
type Reconciler struct {
	api     API
	cfg     Config
	log     *slog.Logger
	obs     Observer
	applier *Applier
	opts    []func(*ec2.Options)
	trigger chan struct{}

	passMu    sync.Mutex // one pass at a time; guards the fields below
	owned     map[TableDest]bool
	skipped   map[TableDest]string // reasons already logged, so a conflict logs once
	propagate map[string]bool
	propUntil time.Time
	propSeen  map[string]bool // tables that existed when propagate was filled

	statusMu sync.Mutex
	status   Status
}

// PassLock is held for the whole of every pass. Other writers of the same
// tables (the Sync Routes API) take it so that they never interleave with a
// pass.
func (r *Reconciler) PassLock() sync.Locker { return &r.passMu }

// ErrPass means a pass did not fully succeed; Result says what failed.
var ErrPass = errors.New("reconcile pass failed")

// NewReconciler validates cfg and fills defaults. It starts nothing.
func NewReconciler(api API, cfg Config) (*Reconciler, error) {
	if cfg.VPCID == "" {
		return nil, errors.New("reconcile: vpc_id is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Source == "" {
		cfg.Source = "main"
	}
	if len(cfg.Origins) == 0 {
		cfg.Origins = []string{OriginAdvertisement}
	}
	for i, o := range cfg.Origins {
		if o != OriginAdvertisement && o != OriginCreateRoute {
			return nil, fmt.Errorf("reconcile: origins[%d]: %q is not Advertisement or CreateRoute", i, o)
		}
	}
	for i, p := range cfg.Prefixes {
		if !p.IsValid() || p.Masked() != p {
			return nil, fmt.Errorf("reconcile: prefixes[%d]: %q is not a canonical prefix", i, p)
		}
	}
	if cfg.Targets != nil && slices.Contains(cfg.Targets, cfg.Source) {
		return nil, fmt.Errorf("reconcile: target_route_tables contains the source %s", cfg.Source)
	}
	if cfg.PropagationTTL <= 0 {
		cfg.PropagationTTL = 5 * time.Minute
	}
	if cfg.PassTimeout <= 0 {
		cfg.PassTimeout = 2 * time.Minute
	}
	if cfg.NotifyTimeout <= 0 {
		cfg.NotifyTimeout = 5 * time.Second
	}
	if api.DescribeRouteTables == nil || api.CreateRoute == nil || api.ReplaceRoute == nil ||
		cfg.Prune && api.DeleteRoute == nil ||
		cfg.Targets == nil && (api.DescribeRouteServers == nil || api.GetRouteServerPropagations == nil) {
		return nil, errors.New("reconcile: the EC2 API lacks a call this configuration needs")
	}
	r := &Reconciler{api: api, cfg: cfg, log: cfg.Logger, obs: cfg.Observer, trigger: make(chan struct{}, 1),
		owned: map[TableDest]bool{}, skipped: map[TableDest]string{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.obs == nil {
		r.obs = NopObserver{}
	}
	r.opts = []func(*ec2.Options){countRequests(r.obs)}
	lim := cfg.Limiter
	if lim == nil {
		lim = NewMutatingLimiter(cfg.MutatingBurst, cfg.MutatingPerSecond)
	}
	r.applier = &Applier{API: api, Limiter: lim, Concurrency: cfg.Concurrency, DryRun: cfg.DryRun, Options: r.opts}
	return r, nil
}

// Trigger asks for a pass now. It never blocks; triggers that arrive while
// one is pending coalesce into it.
func (r *Reconciler) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Run does a pass at once, then every Interval and on every Trigger, until
// ctx ends. A failed pass is logged and retried at the next tick.
func (r *Reconciler) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile pass failed", "vpc_id", r.cfg.VPCID, "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.trigger:
		}
	}
}

// Status returns the last pass's outcome.
func (r *Reconciler) Status() Status {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	return r.status
}

// RunOnce does one pass: one DescribeRouteTables (plus the propagation
// lookup when its cache has expired), Plan, Apply, notify. The error is
// non-nil when anything failed; Result is filled either way.
func (r *Reconciler) RunOnce(ctx context.Context) (Result, error) {
	r.passMu.Lock()
	defer r.passMu.Unlock()
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.PassTimeout)
	defer cancel()
	res := Result{Start: start, VPCID: r.cfg.VPCID, DryRun: r.cfg.DryRun, Targets: []string{}, Changes: []Outcome{}}
	err := r.pass(ctx, &res)
	res.DurationSeconds = time.Since(start).Seconds()
	for _, o := range res.Changes {
		if o.Error != "" {
			res.Failures = append(res.Failures, o.Error)
		}
	}
	switch {
	case err != nil || len(res.Failures) > 0:
		res.Result = "error"
		if err == nil {
			err = fmt.Errorf("%w: %d of %d changes failed, first: %s", ErrPass, len(res.Failures), len(res.Changes), res.Failures[0])
		}
	case slices.ContainsFunc(res.Changes, func(o Outcome) bool { return o.Action != ActionSkip }):
		res.Result = "changed"
	default:
		res.Result = "ok"
	}
	r.obs.PassDone(res.Result, time.Since(start))
	r.recordStatus(res, err)
	return res, err
}

func (r *Reconciler) pass(ctx context.Context, res *Result) error {
	tables, err := describeTables(ctx, r.api, r.cfg.VPCID, r.opts...)
	if err != nil {
		res.Failures = append(res.Failures, err.Error())
		return fmt.Errorf("%w: %w", ErrPass, err)
	}
	src, err := FindSource(tables, r.cfg.Source)
	if err != nil {
		err = fmt.Errorf("find source in %s: %w", r.cfg.VPCID, err)
		res.Failures = append(res.Failures, err.Error())
		return fmt.Errorf("%w: %w", ErrPass, err)
	}
	res.Source = src.ID
	var propagated map[string]bool
	if r.cfg.Targets == nil {
		if propagated, err = r.propagations(ctx, tables); err != nil {
			res.Failures = append(res.Failures, err.Error())
			return fmt.Errorf("%w: %w", ErrPass, err)
		}
	}
	targets, missing := SelectTargets(tables, src.ID, r.cfg.Targets, propagated)
	for _, id := range missing {
		res.Failures = append(res.Failures, fmt.Sprintf("target route table %s is not in %s", id, r.cfg.VPCID))
	}
	for _, t := range targets {
		res.Targets = append(res.Targets, t.ID)
	}
	rules := Rules{Origins: r.cfg.Origins, Prefixes: r.cfg.Prefixes, Prune: r.cfg.Prune, Owned: r.owned}
	changes := Plan(src, targets, rules)
	if !r.cfg.DryRun {
		r.markInStep(src, targets, rules)
	}
	res.Changes = r.applier.Apply(ctx, changes)
	r.report(ctx, "reconcile", r.cfg.VPCID, res.Changes)
	if len(missing) > 0 {
		return fmt.Errorf("%w: %d configured target tables not found", ErrPass, len(missing))
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

// report logs, counts and notifies every change, and keeps the owned set
// in step with what was applied.
func (r *Reconciler) report(ctx context.Context, source, vpcID string, outs []Outcome) {
	r.owned = updateOwned(r.owned, outs, r.cfg.DryRun)
	seen := map[TableDest]string{}
	for _, o := range outs {
		if o.Action == ActionSkip {
			seen[TableDest{o.Table, o.Destination}] = o.Reason
		}
	}
	known := r.skipped
	r.skipped = seen
	logChanges(r.log, r.obs, source, vpcID, r.cfg.DryRun, outs, func(c Change) bool {
		return known[TableDest{c.Table, c.Destination}] == c.Reason
	})
	deliver(ctx, r.cfg.Notifier, events(source, vpcID, r.cfg.DryRun, outs), r.cfg.NotifyTimeout, r.log, r.obs)
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

// logChanges logs one line per change. A skip that known reports as logged
// before goes to debug level: a standing conflict must not log every pass.
func logChanges(log *slog.Logger, obs Observer, source, vpcID string, dryRun bool, outs []Outcome, known func(Change) bool) {
	for _, o := range outs {
		attrs := []any{"source", source, "vpc_id", vpcID, "route_table_id", o.Table, "action", string(o.Action),
			"destination", o.Destination.String(), "network_interface_id", o.ENI, "previous_network_interface_id", o.PrevENI, "dry_run", dryRun}
		switch {
		case o.Action == ActionSkip && known != nil && known(o.Change):
			log.Debug("route left alone", append(attrs, "reason", o.Reason)...)
		case o.Action == ActionSkip:
			log.Info("route left alone", append(attrs, "reason", o.Reason)...)
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
		if o.Action == ActionSkip {
			continue
		}
		evs = append(evs, Event{Time: now, Source: source, VPCID: vpcID, Table: o.Table, Action: o.Action,
			Destination: o.Destination.String(), ENI: o.ENI, PrevENI: o.PrevENI, DryRun: dryRun, Error: o.Error})
	}
	return evs
}

// propagations returns the tables with a Route Server propagation, cached
// for PropagationTTL so an idle pass costs one call. A table unknown to the
// cache refreshes it early: a new table is the likeliest to have just got
// a propagation. A lookup failure fails the pass: without it auto targets
// could include a propagated table.
func (r *Reconciler) propagations(ctx context.Context, tables []RouteTable) (map[string]bool, error) {
	fresh := r.propagate != nil && time.Now().Before(r.propUntil)
	for _, t := range tables {
		if !r.propSeen[t.ID] {
			fresh = false
		}
	}
	if fresh {
		return r.propagate, nil
	}
	p, err := propagatedTables(ctx, r.api, r.opts...)
	if err != nil {
		return nil, err
	}
	r.propagate, r.propUntil = p, time.Now().Add(r.cfg.PropagationTTL)
	r.propSeen = make(map[string]bool, len(tables))
	for _, t := range tables {
		r.propSeen[t.ID] = true
	}
	return p, nil
}

func (r *Reconciler) recordStatus(res Result, err error) {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	r.status.LastPass = res.Start
	r.status.LastResult = res.Result
	r.status.LastDurationSeconds = res.DurationSeconds
	r.status.LastChanges = 0
	for _, o := range res.Changes {
		if o.Applied {
			r.status.LastChanges++
		}
	}
	r.status.Passes++
	r.status.LastError = ""
	if err != nil {
		r.status.LastError = err.Error()
		r.status.ConsecutiveFailures++
	} else {
		r.status.ConsecutiveFailures = 0
	}
}
