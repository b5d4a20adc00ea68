package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"golang.org/x/sync/errgroup"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/bfd"
	"github.com/rsagent/rsagent/routetable"
	"github.com/rsagent/rsagent/routetable/direct"
)

// Router is direct mode (`rsagent router`): it checks every host of the
// route spec, picks one target per destination with direct.Plan, and
// writes the VPC's route tables through routetable's paced Applier.
//
// Goroutines (all in Run's errgroup, or in its probe WaitGroup): one probe
// per host (its checks, every health interval), the pass loop (every
// interval and on every trigger), the spec file watcher, the BFD manager
// and its event watcher when a bfd check is configured, and the HTTP
// server. r.mu guards the state below it and is never held across I/O.
type Router struct {
	log     *slog.Logger
	opts    Options
	met     *metrics
	api     direct.API
	applier *routetable.Applier
	ec2opts []func(*ec2.Options)
	bfd     *bfd.Manager // nil without a bfd check
	bfdUp   *bfdStates
	trigger chan struct{}
	ready   atomic.Bool
	passMu  sync.Mutex // one pass at a time

	mu       sync.Mutex
	started  time.Time
	model    *Model
	spec     direct.Spec
	specInfo specInfo
	probes   map[netip.Addr]*hostProbe
	states   map[netip.Addr]direct.HostState
	checks   map[netip.Addr][]health.CheckStatus
	enis     map[netip.Addr]direct.ENI
	problems map[netip.Addr][]string
	last     passRecord
	changes  []RouterChange
	run      *runState // set while Run is running
}

// runState is what Run hands to the probes it starts while running.
type runState struct {
	ctx context.Context
	wg  *sync.WaitGroup
}

// specInfo says where the spec in force came from.
type specInfo struct {
	source    string // "file", "http", "config" or "" (none yet)
	loaded    time.Time
	fileHash  [32]byte // of the file content last applied or refused
	refused   string   // the last refused spec and why
	refusedAt time.Time
}

// NewRouter builds direct mode from a validated model. It starts nothing.
func NewRouter(ctx context.Context, m *Model, opts Options) (*Router, error) {
	if m.Router == nil {
		return nil, &ConfigError{Problems: []string{"router: the config has no router section"}}
	}
	switch {
	case !m.RouterOnly:
		return nil, &ConfigError{Problems: []string{"bgp: `rsagent router` runs direct mode only; remove bgp and services (run them with `rsagent run`)"}}
	case m.Reconcile != nil:
		return nil, &ConfigError{Problems: []string{"reconcile: `rsagent router` runs direct mode only; give the reconciler a config file of its own (`rsagent reconcile`)"}}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	rm := m.Router
	log := opts.Logger.With("component", "router")
	awsCfg, err := routetable.LoadAWSConfig(ctx, routetable.ClientOptions{Region: rm.Region, Endpoint: rm.Endpoint})
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	met := newMetrics(Version)
	api := direct.NewEC2API(routetable.NewEC2Client(awsCfg, rm.Endpoint))
	r := &Router{
		log: log, opts: opts, met: met, api: api,
		ec2opts:  []func(*ec2.Options){routetable.CountRequests(reconcileObserver{met})},
		trigger:  make(chan struct{}, 1),
		model:    m,
		probes:   map[netip.Addr]*hostProbe{},
		states:   map[netip.Addr]direct.HostState{},
		checks:   map[netip.Addr][]health.CheckStatus{},
		enis:     map[netip.Addr]direct.ENI{},
		problems: map[netip.Addr][]string{},
		bfdUp:    newBFDStates(),
	}
	// The Applier's limiter mirrors EC2's mutating bucket; every write of
	// this process goes through it.
	r.applier = &routetable.Applier{API: api.Writes(), Limiter: routetable.NewMutatingLimiter(rm.MutatingBurst, rm.MutatingPerSecond), Options: r.ec2opts}
	if c, ok := bfdCheckOf(rm); ok {
		var listen []netip.Addr
		if c.Local.IsValid() {
			listen = []netip.Addr{c.Local}
		}
		r.bfd = bfd.NewManager(bfd.ManagerConfig{Port: m.BFDPort, ListenAddrs: listen, Logger: opts.Logger.With("component", "bfd")})
		met.reg.MustRegister(newBFDCollector(r.bfd.Sessions, r.bfd.Drops))
	}
	spec, source, err := initialSpec(rm)
	if err != nil {
		return nil, err
	}
	r.spec, r.specInfo.source = spec, source
	if rm.SpecFile != "" {
		r.specInfo.fileHash = hashFile(rm.SpecFile)
	}
	return r, nil
}

// initialSpec is the spec a router starts with: the file's, the inline
// one, or none (then only POST /route_spec gives one).
func initialSpec(rm *RouterModel) (direct.Spec, string, error) {
	switch {
	case rm.SpecFile != "":
		spec, err := readSpecFile(rm.SpecFile)
		if err != nil {
			return nil, "", &ConfigError{Problems: []string{"router.route_spec_file: " + err.Error()}}
		}
		return spec, "file", nil
	case rm.Routes != nil:
		return rm.Routes.Clone(), "config", nil
	}
	return direct.Spec{}, "", nil
}

func bfdCheckOf(rm *RouterModel) (RouterCheck, bool) {
	for _, c := range rm.Health.Checks {
		if c.Kind == "bfd" {
			return c, true
		}
	}
	return RouterCheck{}, false
}

// Trigger asks for a pass now; it never blocks, and triggers coalesce.
func (r *Router) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Ready reports whether the first pass has run.
func (r *Router) Ready() bool { return r.ready.Load() }

// Run runs direct mode until ctx ends. The HTTP listener is bound first,
// so a port in use is a start error.
func (r *Router) Run(ctx context.Context) error {
	r.mu.Lock()
	r.started = time.Now()
	r.mu.Unlock()
	m := r.modelSnapshot()
	var srv *httpServer
	if m.HTTP.Listen != "" {
		var err error
		if srv, err = r.newHTTPServer(m); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	var probes sync.WaitGroup
	defer probes.Wait()
	if r.bfd != nil {
		events, unsub := r.bfd.Subscribe()
		defer unsub()
		g.Go(func() error { return r.bfd.Run(gctx) })
		g.Go(func() error { r.watchBFD(gctx, events); return nil })
	}
	r.mu.Lock()
	r.run = &runState{ctx: gctx, wg: &probes}
	r.syncProbesLocked()
	spec := r.spec
	r.mu.Unlock()
	if len(spec) == 0 {
		r.log.Warn("no route spec yet: routes are left alone until one is POSTed to /route_spec", "vpc_id", m.Router.VPCID)
	}
	g.Go(func() error { r.loop(gctx); return nil })
	g.Go(func() error { return r.watchSpecFile(gctx) })
	if srv != nil {
		g.Go(func() error { return srv.run(gctx) })
	}
	r.log.Info("rsagent router running", "version", Version, "vpc_id", m.Router.VPCID, "destinations", len(spec),
		"hosts", len(spec.Hosts()), "dry_run", m.Router.DryRun)
	err := g.Wait()
	r.mu.Lock()
	r.run = nil
	r.mu.Unlock()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func (r *Router) modelSnapshot() *Model {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.model
}

// SetSpec replaces the spec in force (source: "file", "http" or
// "config"). An equal spec changes nothing. The caller has validated it.
func (r *Router) SetSpec(spec direct.Spec, source string) {
	r.mu.Lock()
	if r.spec.Equal(spec) && r.specInfo.source != "" {
		r.specInfo.source = source
		r.mu.Unlock()
		r.met.routerSpecUpdates.WithLabelValues(source, "unchanged").Inc()
		return
	}
	old := r.spec
	r.spec = spec.Clone()
	r.specInfo.source, r.specInfo.loaded = source, time.Now()
	for _, dst := range old.Destinations() {
		hosts, still := spec[dst]
		if !still {
			r.met.routerNoHealthyHost.DeleteLabelValues(dst.String())
			r.met.routerRouteTarget.DeletePartialMatch(map[string]string{"destination": dst.String()})
			continue
		}
		for _, h := range old[dst] {
			if !slices.Contains(hosts, h) {
				r.met.routerRouteTarget.DeleteLabelValues(dst.String(), h.String())
			}
		}
	}
	removed := r.syncProbesLocked()
	r.mu.Unlock()
	r.removeBFDSessions(removed)
	r.met.routerSpecUpdates.WithLabelValues(source, "applied").Inc()
	r.log.Info("route spec applied", "source", source, "destinations", len(spec), "hosts", len(spec.Hosts()))
	r.Trigger()
}

// refuseSpec records a spec that did not parse or validate; the running
// spec stays.
func (r *Router) refuseSpec(source string, err error) {
	r.mu.Lock()
	r.specInfo.refused, r.specInfo.refusedAt = fmt.Sprintf("%s: %v", source, err), time.Now()
	r.mu.Unlock()
	r.met.routerSpecUpdates.WithLabelValues(source, "refused").Inc()
	r.log.Error("route spec refused; the running spec stays", "source", source, "error", err)
}

// Spec returns a copy of the spec in force.
func (r *Router) Spec() direct.Spec {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spec.Clone()
}

// Reload applies a new validated config. Region, VPC, endpoint, the write
// bucket, http, the BFD port and whether there is a bfd check (and its
// local address) need a restart: such a reload is refused whole. The spec
// is re-read only if route_spec_file or routes changed, so a POSTed spec
// survives a reload that does not touch them.
func (r *Router) Reload(next *Model) error {
	if next.Router == nil || !next.RouterOnly {
		return &ConfigError{Problems: []string{"router: the new config is not a direct mode config"}}
	}
	r.mu.Lock()
	cur := r.model
	r.mu.Unlock()
	if err := routerRestartOnly(cur, next); err != nil {
		return err
	}
	var spec direct.Spec
	source := ""
	switch nr, cr := next.Router, cur.Router; {
	case nr.SpecFile != cr.SpecFile || !nr.Routes.Equal(cr.Routes):
		s, src, err := initialSpec(nr)
		if err != nil {
			return err
		}
		spec, source = s, src
	}
	r.mu.Lock()
	r.model = next
	healthChanged := !reflect.DeepEqual(cur.Router.Health, next.Router.Health)
	if healthChanged {
		sameChecks := reflect.DeepEqual(checkKinds(cur.Router.Health.Checks), checkKinds(next.Router.Health.Checks))
		r.restartProbesLocked(!sameChecks)
	}
	r.mu.Unlock()
	if (healthChanged || !bfdAuthEqual(cur.BFDAuth, next.BFDAuth)) && r.bfd != nil {
		r.updateBFDTimers(next)
	}
	if source != "" {
		if source == "file" {
			r.mu.Lock()
			r.specInfo.fileHash = hashFile(next.Router.SpecFile)
			r.mu.Unlock()
		}
		r.SetSpec(spec, source)
	}
	if r.opts.LogLevel != nil && cur.Log.Level != next.Log.Level {
		r.opts.LogLevel.Set(parseLevel(next.Log.Level))
	}
	r.met.configReloads.WithLabelValues("ok").Inc()
	r.met.configReloadTime.SetToCurrentTime()
	r.log.Info("router config reloaded", "health_restarted", healthChanged, "spec_reread", source != "")
	r.Trigger()
	return nil
}

// ReloadFailed records a rejected reload in the metrics.
func (r *Router) ReloadFailed() { r.met.configReloads.WithLabelValues("error").Inc() }

// checkKinds is what decides whether host verdicts still hold after a
// reload: the checks without their BFD timers (changed by a Poll).
func checkKinds(cs []RouterCheck) []RouterCheck {
	out := make([]RouterCheck, len(cs))
	for i, c := range cs {
		c.BFD = BFDTimers{}
		out[i] = c
	}
	return out
}

func routerRestartOnly(cur, next *Model) error {
	var p problems
	c, n := cur.Router, next.Router
	if c.Region != n.Region || c.VPCID != n.VPCID || c.Endpoint != n.Endpoint {
		p.addf("router.region/vpc_id/endpoint", "changed: restart rsagent to apply")
	}
	if c.MutatingBurst != n.MutatingBurst || c.MutatingPerSecond != n.MutatingPerSecond {
		p.addf("router.mutating_rate", "changed: restart rsagent to apply")
	}
	cb, cok := bfdCheckOf(c)
	nb, nok := bfdCheckOf(n)
	if cok != nok || cb.Local != nb.Local {
		p.addf("router.health.checks", "adding or removing the bfd check, or changing its local_address, needs a restart")
	}
	if cur.BFDPort != next.BFDPort {
		p.addf("bfd.port", "changed: restart rsagent to apply")
	}
	if cur.HTTP != next.HTTP {
		p.addf("http", "changed: restart rsagent to apply")
	}
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}
