package routetable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
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
	// Ignore lists CIDRs never touched in any target (see Rules.Ignore).
	Ignore []netip.Prefix
	Prune  bool
	DryRun bool
	// MutatingBurst and MutatingPerSecond size the client-side bucket;
	// defaults 50 and 5 (EC2's). Ignored when Limiter is set.
	MutatingBurst     int
	MutatingPerSecond float64
	// Limiter, when set, is shared with other writers in the process.
	Limiter *Limiter
	// Concurrency bounds EC2 calls in flight; default the bucket's burst.
	Concurrency int
	// NetworkInterfaceIDs are this appliance's ENIs: a change for a route
	// pointing at one of them is made at once; one for a route pointing at
	// another ENI is that appliance's, and is deferred (DeferOthers).
	NetworkInterfaceIDs []string
	// LocalAddresses, when NetworkInterfaceIDs is empty, are this
	// appliance's addresses: the ENIs holding them are looked up with
	// DescribeNetworkInterfaces (retried at most once a minute until one is
	// found; meanwhile every route counts as another appliance's). With
	// neither, every route counts as this reconciler's own.
	LocalAddresses []netip.Addr
	// DeferOthers is how long a change owned by another appliance waits for
	// that appliance to make progress; 0 means at once, DeferNever never.
	DeferOthers time.Duration
	// PropagationTTL is how long the Route Server propagation lookup is
	// cached (auto targets only); default 5 min.
	PropagationTTL time.Duration
	// PassTimeout bounds one pass; default 2 min.
	PassTimeout time.Duration
	// StallTimeout is how long a pass keeps retrying throttled changes with
	// no write getting through before it gives up on them; default 1 min.
	StallTimeout time.Duration
	// NotifyTimeout bounds the notifications of one pass; default 5 s.
	NotifyTimeout time.Duration
	// OrderSeed picks where in a plan this writer starts sending (writers
	// that do not know of each other then start on different routes); 0
	// means a random seed.
	OrderSeed uint64
	Logger    *slog.Logger
	Observer  Observer
	Notifier  Notifier
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
	owners    Owners
	resolved  bool      // owners is final
	lookupAt  time.Time // no ENI lookup before this
	deferred  deferrals

	deferredNow atomic.Int64 // changes left to their owners at the latest read

	statusMu sync.Mutex
	status   Status
}

// PassLock is held for every pass, except while the pass waits for
// another appliance to make its changes. Other writers of the same tables
// (the Sync Routes API) take it so that they never interleave with a
// pass's writes.
func (r *Reconciler) PassLock() sync.Locker { return &r.passMu }

// ErrPass means a pass did not fully succeed; Result says what failed.
var ErrPass = errors.New("reconcile pass failed")

// Defaults of a zero Config and SyncRoutesConfig; the agent's config uses
// them too (docs/config.md).
const (
	DefaultInterval       = 5 * time.Second
	DefaultPropagationTTL = 5 * time.Minute
	// Sync Routes' own API Gateway usage plan: 1 request/s, burst 10.
	DefaultAPIRate  = 1.0
	DefaultAPIBurst = 10
)

// NewReconciler validates cfg and fills defaults. It starts nothing.
func NewReconciler(api API, cfg Config) (*Reconciler, error) {
	if cfg.VPCID == "" {
		return nil, errors.New("reconcile: vpc_id is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
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
	for name, ps := range map[string][]netip.Prefix{"prefixes": cfg.Prefixes, "ignore_routes": cfg.Ignore} {
		for i, p := range ps {
			if !p.IsValid() || p.Masked() != p {
				return nil, fmt.Errorf("reconcile: %s[%d]: %q is not a canonical prefix", name, i, p)
			}
		}
	}
	if cfg.Targets != nil && slices.Contains(cfg.Targets, cfg.Source) {
		return nil, fmt.Errorf("reconcile: target_route_tables contains the source %s", cfg.Source)
	}
	if cfg.DeferOthers < 0 {
		cfg.DeferOthers = DeferNever
	}
	if cfg.PropagationTTL <= 0 {
		cfg.PropagationTTL = DefaultPropagationTTL
	}
	if cfg.PassTimeout <= 0 {
		cfg.PassTimeout = 2 * time.Minute
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = time.Minute
	}
	if cfg.NotifyTimeout <= 0 {
		cfg.NotifyTimeout = 5 * time.Second
	}
	if cfg.OrderSeed == 0 {
		cfg.OrderSeed = rand.Uint64()
	}
	if api.DescribeRouteTables == nil || api.CreateRoute == nil || api.ReplaceRoute == nil ||
		cfg.Prune && api.DeleteRoute == nil ||
		cfg.Targets == nil && (api.DescribeRouteServers == nil || api.GetRouteServerPropagations == nil) ||
		len(cfg.NetworkInterfaceIDs) == 0 && len(cfg.LocalAddresses) > 0 && api.DescribeNetworkInterfaces == nil {
		return nil, errors.New("reconcile: the EC2 API lacks a call this configuration needs")
	}
	r := &Reconciler{api: api, cfg: cfg, log: cfg.Logger, obs: cfg.Observer, trigger: make(chan struct{}, 1),
		owned: map[TableDest]bool{}, skipped: map[TableDest]string{}, deferred: deferrals{}}
	switch {
	case len(cfg.NetworkInterfaceIDs) > 0:
		r.owners, r.resolved = Owners{ENIs: slices.Clone(cfg.NetworkInterfaceIDs)}, true
	case len(cfg.LocalAddresses) == 0:
		r.owners, r.resolved = Owners{All: true}, true
	}
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
	r.status.NetworkInterfaceIDs = r.owners.ENIs
	r.status.OwnsEveryRoute = r.owners.All
	return r, nil
}

// Limiter is the client-side bucket the reconciler's writes go through.
func (r *Reconciler) Limiter() *Limiter { return r.applier.Limiter }

// Deferred is how many changes the latest read left to the appliances that
// own them (rsagent_reconcile_deferred_routes).
func (r *Reconciler) Deferred() int { return int(r.deferredNow.Load()) }

// Trigger asks for a pass now. It never blocks; triggers that arrive while
// one is pending coalesce into it. A pass waiting for another appliance
// takes a trigger as a reason to read the tables again at once.
func (r *Reconciler) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// intervalJitter spreads the passes of reconcilers started together (a
// fleet rolled out at once, a pair booted together) over ±10 % of the
// interval, so that their writes after a failover do not all hit the
// account's bucket in the same instant.
const intervalJitter = 0.1

// Run does a pass at once, then one an Interval (±10 %) after each pass
// and one on every Trigger, until ctx ends. A failed pass is logged and
// retried at the next tick: nothing, throttling included, makes Run return
// before ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	for {
		if _, err := r.RunOnce(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("reconcile pass failed", "vpc_id", r.cfg.VPCID, "error", err)
		}
		d := time.Duration(float64(r.cfg.Interval) * (1 + intervalJitter*(2*rand.Float64()-1)))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		case <-r.trigger:
			t.Stop()
		}
	}
}

// Status returns the last pass's outcome.
func (r *Reconciler) Status() Status {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	st := r.status
	st.Drift = slices.Clone(st.Drift)
	st.DeferredRoutes = r.Deferred()
	st.MutatingRatePerSecond = r.applier.Limiter.Rate()
	return st
}

// resolveOwners returns whose routes this reconciler makes at once. With
// only LocalAddresses configured, it looks the ENIs up (once found, never
// again); until then no route counts as its own, so every change waits
// DeferOthers for an owner that may be making it, and is made after that
// when nobody does.
func (r *Reconciler) resolveOwners(ctx context.Context) Owners {
	if r.resolved || time.Now().Before(r.lookupAt) {
		return r.owners
	}
	ids, err := lookupENIs(ctx, r.api, r.cfg.VPCID, r.cfg.LocalAddresses, r.opts...)
	switch {
	case err != nil:
		r.lookupAt = time.Now().Add(time.Minute)
		r.log.Warn("cannot find this appliance's network interfaces; every route counts as another appliance's until they are found (retried in a minute)",
			"vpc_id", r.cfg.VPCID, "local_addresses", r.cfg.LocalAddresses, "error", err)
		return r.owners
	case len(ids) == 0:
		r.lookupAt = time.Now().Add(time.Minute)
		r.log.Warn("no network interface in the VPC holds this appliance's addresses; every route counts as another appliance's (set reconcile.network_interface_ids)",
			"vpc_id", r.cfg.VPCID, "local_addresses", r.cfg.LocalAddresses)
		return r.owners
	}
	r.owners, r.resolved = Owners{ENIs: ids}, true
	r.log.Info("this appliance's network interfaces", "vpc_id", r.cfg.VPCID, "network_interface_ids", ids)
	r.statusMu.Lock()
	r.status.NetworkInterfaceIDs = ids
	r.statusMu.Unlock()
	return r.owners
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
	r.status.Drift = res.Drift
	r.status.LastError = ""
	if err != nil {
		r.status.LastError = err.Error()
		r.status.ConsecutiveFailures++
	} else {
		r.status.ConsecutiveFailures = 0
	}
}
