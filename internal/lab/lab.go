package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/rsagent/rsagent/agent"
	"github.com/rsagent/rsagent/internal/loophost"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

// The lab's addresses: all in 127.0.0.0/8, which Linux routes to lo
// without any setup.
var (
	activeAddr  = netip.MustParseAddr("127.0.0.10")
	standbyAddr = netip.MustParseAddr("127.0.0.11")
	endpoints   = []netip.Addr{netip.MustParseAddr("127.0.0.230"), netip.MustParseAddr("127.0.0.231")}
	// An ASN per member, as docs/reconcile.md recommends: Route Server then
	// tells the new owner when it moves the routes.
	applianceASN = map[netip.Addr]uint32{activeAddr: 65010, standbyAddr: 65011}
)

const labVPCID = "vpc-0000000000000a1ab"

// Options tune the lab. Zero fields take the defaults in brackets.
type Options struct {
	// Logger receives the components' logs [discard].
	Logger *slog.Logger
	// Progress, if set, is called with one line per step, for a human
	// watching the lab run.
	Progress func(string)
	// Prefix is the service prefix both appliances announce [203.0.113.10/32].
	Prefix netip.Prefix
	// Health check timers of both agents [200ms, 100ms, 100ms, rise 2, fall 3].
	HealthInterval, HealthFastInterval, HealthTimeout time.Duration
	Rise, Fall                                        int
	// BFD timers of agents and endpoints [100ms × 3].
	BFDInterval   time.Duration
	BFDMultiplier uint8
	// NoBFD runs the pair with liveness bgp-keepalive and skips the BFD
	// scenarios.
	NoBFD bool
	// ReconcileInterval of both agents' reconcilers [1s, the minimum].
	ReconcileInterval time.Duration
	// ScenarioTimeout bounds each scenario's wait for the tables [20s].
	ScenarioTimeout time.Duration
	// DirectInterval and DirectFall are the direct-mode router's host
	// checks [200ms, 2].
	DirectInterval time.Duration
	DirectFall     int
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	if !o.Prefix.IsValid() {
		o.Prefix = netip.MustParsePrefix("203.0.113.10/32")
	}
	set := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	set(&o.HealthInterval, 200*time.Millisecond)
	set(&o.HealthFastInterval, 100*time.Millisecond)
	set(&o.HealthTimeout, 100*time.Millisecond)
	set(&o.BFDInterval, 100*time.Millisecond)
	set(&o.ReconcileInterval, time.Second)
	set(&o.ScenarioTimeout, 20*time.Second)
	set(&o.DirectInterval, 200*time.Millisecond)
	if o.DirectFall == 0 {
		o.DirectFall = 2
	}
	if o.Rise == 0 {
		o.Rise = 2
	}
	if o.Fall == 0 {
		o.Fall = 3
	}
	if o.BFDMultiplier == 0 {
		o.BFDMultiplier = 3
	}
	return o
}

// runningAgent is one in-process rsagent.
type runningAgent struct {
	name   string
	addr   netip.Addr
	eni    string
	agent  *agent.Agent
	cancel context.CancelFunc
	done   chan struct{}
	err    error // valid after done is closed
}

// openHealthPort opens the TCP listener an agent's health check dials;
// closing it is the lab's "the service died". Its port lies outside the
// kernel's ephemeral range: the lab closes and reopens it, and an ephemeral
// port handed to an outgoing connection in between once broke the lab
// (`bind: address already in use`, about one run in 25).
func openHealthPort(addr netip.Addr) (*loophost.Listener, error) {
	port, err := loophost.StablePort("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health listener on %s: %w", addr, err)
	}
	return loophost.Open(netip.AddrPortFrom(addr, port))
}

// env is one lab run: the emulators, the agents and their health ports.
type env struct {
	opts Options
	log  *slog.Logger
	vpcWatch
	ec2      *vpcsim.Server
	rs       *vpcsim.RouteServer
	rsCancel context.CancelFunc
	rsDone   chan error
	custom   []string
	bgpPort  uint16
	bfdPort  int
	// soloBFDPort is the standby's BFD port when BFD is off: the agent's
	// BFD manager listens on the wildcard address even with no session, so
	// two agents in one process cannot share a port.
	soloBFDPort int
	bfd         bool
	active      *runningAgent
	standby     *runningAgent
	health      map[netip.Addr]*loophost.Listener
}

// Run builds the lab, runs every scenario in order and tears it all down.
// The Report holds what was measured even when an error is returned; the
// error says which step failed. The process environment gets static AWS
// credentials and AWS_EC2_METADATA_DISABLED for the duration of Run, so the
// agents' AWS SDK never looks for real credentials or IMDS.
func Run(ctx context.Context, opts Options) (Report, error) {
	opts = opts.withDefaults()
	start := time.Now()
	restore := labEnvironment()
	defer restore()

	rep := Report{Settings: settingsOf(opts)}
	e, err := setup(ctx, opts, !opts.NoBFD)
	if err != nil {
		rep.Took = time.Since(start)
		return rep, err
	}
	rep.BFD = e.bfd
	rep.Results, err = e.runScenarios(ctx)
	e.teardown()
	if err == nil {
		// Direct mode needs no Route Server: its own VPC, router and hosts.
		d := directScenario(opts)
		opts.Progress(fmt.Sprintf("[%d/%d] %s: %s", len(scenarios)+1, len(scenarios)+1, d.Scenario, d.Fault))
		var r Result
		r, err = runDirect(ctx, opts)
		rep.Results = append(rep.Results, r)
		if err == nil {
			opts.Progress(fmt.Sprintf("      main table after %s, all custom tables after %s", round(r.Main), round(r.Custom)))
		} else {
			err = fmt.Errorf("scenario %q: %w", r.Scenario, err)
		}
	}
	rep.Took = time.Since(start)
	return rep, err
}

// labEnvironment points the AWS SDK at nothing real: static credentials,
// no IMDS, no shared config files. It returns a function that restores the
// previous values.
func labEnvironment() func() {
	vars := vpcsim.OfflineAWSEnv()
	type old struct {
		v  string
		ok bool
	}
	saved := map[string]old{}
	for k, v := range vars {
		pv, ok := os.LookupEnv(k)
		saved[k] = old{pv, ok}
		if v == "" {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, v)
		}
	}
	return func() {
		for k, o := range saved {
			if o.ok {
				os.Setenv(k, o.v)
			} else {
				os.Unsetenv(k)
			}
		}
	}
}

// setup builds the VPC, starts the EC2 emulator, the Route Server and the
// two agents, admits the agents' sessions, and waits until traffic would flow
// to the active appliance in every table.
func setup(ctx context.Context, opts Options, withBFD bool) (_ *env, err error) {
	e := &env{opts: opts, log: opts.Logger, bfd: withBFD, health: map[netip.Addr]*loophost.Listener{}, vpcWatch: vpcWatch{failed: make(chan error, 4)}}
	defer func() {
		if err != nil {
			e.teardown()
		}
	}()
	e.vpc = vpcsim.NewVPC(labVPCID, netip.MustParsePrefix("10.0.0.0/16"))
	e.custom = []string{e.vpc.AddRouteTable(), e.vpc.AddRouteTable()}
	for i, id := range e.custom {
		if err := e.vpc.AssociateSubnet(id, fmt.Sprintf("subnet-000000000000000b%d", i)); err != nil {
			return nil, err
		}
	}
	e.active = &runningAgent{name: "active", addr: activeAddr, eni: e.vpc.AddNetworkInterface(activeAddr)}
	e.standby = &runningAgent{name: "standby", addr: standbyAddr, eni: e.vpc.AddNetworkInterface(standbyAddr)}

	// EC2's default token buckets: with one prefix they never bite.
	e.ec2 = vpcsim.NewServer(e.vpc, vpcsim.Options{})
	if _, err := e.ec2.Start(); err != nil {
		return nil, err
	}
	// GoBGP and BFD need their ports in the config: a probed port is
	// given up before they bind it, so it too comes from outside the
	// ephemeral range.
	if e.bgpPort, err = loophost.StablePort("tcp", endpoints...); err != nil {
		return nil, err
	}
	bfdPort, err := loophost.StablePort("udp", append([]netip.Addr{activeAddr, standbyAddr}, endpoints...)...)
	if err != nil {
		return nil, err
	}
	e.bfdPort = int(bfdPort)
	if !withBFD {
		solo, err := loophost.StablePort("udp", netip.IPv4Unspecified())
		if err != nil {
			return nil, err
		}
		e.soloBFDPort = int(solo)
	}
	peers := []vpcsim.RouteServerPeerConfig{
		{Address: activeAddr, ASN: applianceASN[activeAddr], BFD: withBFD},
		{Address: standbyAddr, ASN: applianceASN[standbyAddr], BFD: withBFD},
	}
	e.rs, err = vpcsim.NewRouteServer(e.vpc, vpcsim.RouteServerConfig{
		Endpoints: endpoints, Port: e.bgpPort, BFDPort: e.bfdPort, Peers: peers,
		BFDMinTx: opts.BFDInterval, BFDMinRx: opts.BFDInterval, BFDMultiplier: opts.BFDMultiplier,
		Logger: e.log.With("component", "routeserver"), HoldPeers: true,
	})
	if err != nil {
		return nil, err
	}
	if err := e.vpc.EnablePropagation(e.rs.ID(), e.vpc.MainTableID()); err != nil {
		return nil, err
	}
	rsCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.rsCancel, e.rsDone = cancel, make(chan error, 1)
	go func() {
		err := e.rs.Run(rsCtx)
		e.rsDone <- err
		if err != nil {
			e.fail(fmt.Errorf("emulated route server: %w", err))
		}
	}()
	select {
	case <-e.rs.Ready():
	case err := <-e.failed:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	opts.Progress(fmt.Sprintf("emulated VPC %s: EC2 API on %s, Route Server endpoints %s and %s on port %d",
		labVPCID, e.ec2.URL(), endpoints[0], endpoints[1], e.bgpPort))

	// GoBGP v3 writes package globals when a server starts and reads them
	// whenever one computes best paths, so no session may come up until all
	// four GoBGP servers of this process have started: the endpoints refuse
	// every session (HoldPeers) until both agents' speakers run and have
	// each answered a request since (which orders the other's start before
	// its next best-path run). Nothing is announced (health listeners
	// closed) until both agents' sessions are up.
	agents := []*runningAgent{e.active, e.standby}
	for _, ra := range agents {
		hp, err := openHealthPort(ra.addr)
		if err != nil {
			return nil, err
		}
		hp.Close()
		e.health[ra.addr] = hp
		if err := e.startAgent(ctx, ra); err != nil {
			return nil, err
		}
	}
	for _, ra := range agents {
		select {
		case <-ra.agent.BGPStarted():
		case err := <-e.failed:
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(15 * time.Second):
			return nil, fmt.Errorf("the %s agent's BGP speaker did not start within 15s", ra.name)
		}
	}
	for _, ra := range agents {
		ra.agent.Status()
	}
	if err := e.rs.AdmitPeers(ctx); err != nil {
		return nil, err
	}
	for _, ra := range agents {
		if err := e.waitFor(ctx, 15*time.Second, ra.name+" agent's sessions up", func() bool { return e.peersUp(ra.addr) }); err != nil {
			return nil, err
		}
		opts.Progress(fmt.Sprintf("%s agent %s: BGP%s up to both endpoints", ra.name, ra.addr, map[bool]string{true: " and BFD"}[withBFD]))
	}
	for _, hp := range e.health {
		if err := hp.Reopen(); err != nil {
			return nil, err
		}
	}
	if err := e.waitSteady(ctx, e.active, 15*time.Second); err != nil {
		return nil, err
	}
	opts.Progress("steady: main and custom route tables point at the active appliance")
	return e, nil
}

func (e *env) startAgent(ctx context.Context, ra *runningAgent) error {
	prepend := 0
	if ra == e.standby {
		prepend = 2
	}
	bfdPort := e.bfdPort
	if ra == e.standby && !e.bfd {
		bfdPort = e.soloBFDPort
	}
	spec := agentSpec{
		Name: ra.name, ASN: applianceASN[ra.addr], Local: ra.addr, Endpoints: endpoints, BGPPort: e.bgpPort, BFD: e.bfd, BFDPort: bfdPort,
		BFDInterval: e.opts.BFDInterval, BFDMultiplier: e.opts.BFDMultiplier, Prepend: prepend,
		HealthAddr: e.health[ra.addr].Addr().String(), Opts: e.opts, VPCID: labVPCID, EC2Endpoint: e.ec2.URL(),
	}
	y, err := spec.yaml()
	if err != nil {
		return err
	}
	_, m, err := agent.Load(y)
	if err != nil {
		return fmt.Errorf("load the %s agent's config: %w", ra.name, err)
	}
	a, err := agent.New(m, agent.Options{Logger: e.log.With("agent", ra.name)})
	if err != nil {
		return fmt.Errorf("build the %s agent: %w", ra.name, err)
	}
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ra.agent, ra.cancel, ra.done = a, cancel, make(chan struct{})
	go func() {
		defer close(ra.done)
		ra.err = a.Run(actx)
		if ra.err != nil {
			e.fail(fmt.Errorf("%s agent: %w", ra.name, ra.err))
		}
	}()
	return nil
}

// vpcWatch follows an emulated VPC's tables and the lab's background
// components, so that every wait also notices a component that failed.
type vpcWatch struct {
	vpc    *vpcsim.VPC
	failed chan error // background components that stopped early
}

// fail reports a component that stopped early; the first few are kept.
func (e *vpcWatch) fail(err error) {
	select {
	case e.failed <- err:
	default:
	}
}

// stop ends an agent the way SIGTERM does and waits for it.
func (ra *runningAgent) stop(timeout time.Duration) {
	if ra == nil || ra.cancel == nil {
		return
	}
	ra.cancel()
	select {
	case <-ra.done:
	case <-time.After(timeout):
	}
}

func (e *env) teardown() {
	var wg sync.WaitGroup
	for _, ra := range []*runningAgent{e.active, e.standby} {
		wg.Go(func() { ra.stop(5 * time.Second) })
	}
	wg.Wait()
	if e.rsCancel != nil {
		e.rsCancel()
		select {
		case <-e.rsDone:
		case <-time.After(5 * time.Second):
		}
	}
	for _, hp := range e.health {
		hp.Close()
	}
	if e.ec2 != nil {
		e.ec2.Close()
	}
}

// peersUp: every endpoint has the appliance's BGP session up, and BFD too
// when the lab runs BFD.
func (e *env) peersUp(addr netip.Addr) bool {
	n := 0
	for _, p := range e.vpc.RouteServerPeers() {
		if p.PeerAddress != addr {
			continue
		}
		if p.BGPStatus != vpcsim.PeerStatusUp || (e.bfd && p.BFDStatus != vpcsim.PeerStatusUp) {
			return false
		}
		n++
	}
	return n == len(endpoints)
}

// pointsAt reports whether the table routes the prefix to the ENI.
func (e *env) pointsAt(table, eni string) bool { return routesTo(e.vpc, table, e.opts.Prefix, eni) }

// routesTo reports whether the table routes dst to the ENI, actively.
func routesTo(vpc *vpcsim.VPC, table string, dst netip.Prefix, eni string) bool {
	t, ok := vpc.Table(table)
	if !ok {
		return false
	}
	r, ok := t.Route(dst)
	return ok && r.NetworkInterface == eni && r.State == vpcsim.StateActive
}

func (e *env) customAt(eni string) bool {
	for _, id := range e.custom {
		if !e.pointsAt(id, eni) {
			return false
		}
	}
	return true
}

// waitSteady waits until every table points at ra, ra's and the standby's
// paths are in the Route Server's RIB and their sessions are up: the state
// a fault must start from for its timing to mean anything. (Before a
// failback the active is the one that is down, so only ra is checked.)
func (e *env) waitSteady(ctx context.Context, ra *runningAgent, timeout time.Duration) error {
	return e.waitFor(ctx, timeout, "steady state on the "+ra.name+" appliance", func() bool {
		if !e.pointsAt(e.vpc.MainTableID(), ra.eni) || !e.customAt(ra.eni) {
			return false
		}
		var hops []netip.Addr
		for _, r := range e.rs.RIB() {
			if r.Prefix == e.opts.Prefix {
				hops = append(hops, r.NextHop)
			}
		}
		return slices.Contains(hops, ra.addr) && slices.Contains(hops, standbyAddr) &&
			e.peersUp(ra.addr) && e.peersUp(standbyAddr)
	})
}

// waitFor re-checks cond on every change of the VPC until it holds, the
// timeout passes, or a component fails.
func (e *vpcWatch) waitFor(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		gen := e.vpc.Generation()
		if cond() {
			return nil
		}
		if err := e.waitChange(ctx, gen, deadline); err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
	}
}

var errTimeout = errors.New("timed out")

// waitChange blocks until the VPC moves past gen, the deadline, a component
// failure or ctx's end.
func (e *vpcWatch) waitChange(ctx context.Context, gen uint64, deadline time.Time) error {
	select {
	case err := <-e.failed:
		return err
	default:
	}
	if time.Now().After(deadline) {
		return errTimeout
	}
	// Short slices keep component failures visible while waiting.
	wctx, cancel := context.WithTimeout(ctx, min(time.Until(deadline), 100*time.Millisecond))
	defer cancel()
	_, err := e.vpc.WaitGeneration(wctx, gen)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}
