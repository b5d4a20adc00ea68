package vpcsim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/rsagent/rsagent/bfd"
	"github.com/rsagent/rsagent/bgp"
)

// RouteServerPeerConfig is one appliance the emulated Route Server accepts.
type RouteServerPeerConfig struct {
	Address netip.Addr
	ASN     uint32
	// BFD selects liveness bfd: the peer's routes count only while the BFD
	// session from each endpoint is Up. False is bgp-keepalive.
	BFD bool
}

// RouteServerConfig configures an emulated Amazon VPC Route Server.
type RouteServerConfig struct {
	// RouteServerID is an existing route server of the VPC; "" creates one
	// with ASN.
	RouteServerID string
	// ASN is the Amazon-side ASN; default 65000.
	ASN uint32
	// Endpoints are the endpoint addresses, each its own GoBGP server and BFD
	// manager. Loopback only (127.0.0.0/8).
	Endpoints []netip.Addr
	// SubnetID is the subnet the endpoints are recorded in.
	SubnetID string
	// Port is the BGP port every endpoint listens on (a high port: the lab
	// runs without root).
	Port uint16
	// BFDPort is the BFD control port of endpoints and peers; required when
	// a peer has BFD.
	BFDPort int
	// BFD timers of the endpoints' sessions; default 300ms × 3, a guess at
	// what Route Server uses (not documented).
	BFDMinTx, BFDMinRx time.Duration
	BFDMultiplier      uint8
	// HoldTime the endpoints propose; default 90s (whole seconds).
	HoldTime time.Duration
	Peers    []RouteServerPeerConfig
	// HoldPeers starts the endpoints without their peers, so that every
	// session attempt is refused until AdmitPeers. Several GoBGP servers in
	// one process need it: GoBGP v4.8.0's StartBgp still writes package
	// globals that running servers read when they compute best paths, so no
	// session may come up until every server in the process has started.
	HoldPeers bool
	// PollInterval is how often the endpoints' adj-RIB-in and BFD state are
	// read; default 10ms. It bounds the emulator's own reaction time.
	PollInterval time.Duration
	Logger       *slog.Logger
}

type rsEndpoint struct {
	id      string
	addr    netip.Addr
	peerIDs map[netip.Addr]string // peer address → "rsp-…"
	srv     *server.BgpServer
	bfd     *bfd.Manager
	// up is whether each peer's session was Established at the last poll;
	// only Run's goroutine touches it.
	up map[netip.Addr]bool
}

// RouteServer emulates Amazon VPC Route Server: BGP endpoints that accept
// the appliances' sessions (they never initiate), BFD on each session, one
// best path per prefix across all endpoints, installed into every route
// table with propagation enabled as an Advertisement route to the ENI of the
// next hop, and removed when withdrawn or when the peer's BFD goes Down.
// Peer status and the routing database are mirrored into the VPC, so the
// EC2 emulator's DescribeRouteServerPeers and GetRouteServerRoutingDatabase
// report them.
type RouteServer struct {
	vpc       *VPC
	cfg       RouteServerConfig
	log       *slog.Logger
	id        string
	endpoints []*rsEndpoint
	peerCfg   map[netip.Addr]RouteServerPeerConfig
	part      *partition
	ready     chan struct{}
	started   atomic.Bool
	admitted  atomic.Bool

	mu        sync.Mutex
	best      []Candidate
	installed map[string]map[netip.Prefix]bool // table → prefixes we installed
	status    map[string][2]string             // peer id → last BGP, BFD status written
	rib       []RIBRoute                       // last routing database written
}

// NewRouteServer validates cfg and records the route server, its endpoints
// and peers in vpc. It starts nothing: Run does.
func NewRouteServer(vpc *VPC, cfg RouteServerConfig) (*RouteServer, error) {
	if cfg.ASN == 0 {
		cfg.ASN = 65000
	}
	if cfg.SubnetID == "" {
		cfg.SubnetID = "subnet-0000000000000a001"
	}
	if cfg.BFDMinTx == 0 {
		cfg.BFDMinTx = 300 * time.Millisecond
	}
	if cfg.BFDMinRx == 0 {
		cfg.BFDMinRx = 300 * time.Millisecond
	}
	if cfg.BFDMultiplier == 0 {
		cfg.BFDMultiplier = 3
	}
	if cfg.HoldTime == 0 {
		cfg.HoldTime = 90 * time.Second
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("emulated route server: %w", err)
	}
	r := &RouteServer{
		vpc: vpc, cfg: cfg, log: cfg.Logger, id: cfg.RouteServerID,
		peerCfg: map[netip.Addr]RouteServerPeerConfig{}, part: newPartition(),
		ready: make(chan struct{}), installed: map[string]map[netip.Prefix]bool{}, status: map[string][2]string{},
	}
	if r.id == "" {
		r.id = vpc.AddRouteServer(cfg.ASN)
	}
	for _, a := range cfg.Endpoints {
		eid, err := vpc.AddRouteServerEndpoint(r.id, cfg.SubnetID, a)
		if err != nil {
			return nil, fmt.Errorf("emulated route server: %w", err)
		}
		e := &rsEndpoint{id: eid, addr: a, peerIDs: map[netip.Addr]string{}, up: map[netip.Addr]bool{}}
		for _, p := range cfg.Peers {
			liveness := LivenessBGPKeepalive
			if p.BFD {
				liveness = LivenessBFD
			}
			pid, err := vpc.AddRouteServerPeer(eid, p.Address, p.ASN, liveness)
			if err != nil {
				return nil, fmt.Errorf("emulated route server: %w", err)
			}
			e.peerIDs[p.Address] = pid
		}
		r.endpoints = append(r.endpoints, e)
	}
	for _, p := range cfg.Peers {
		r.peerCfg[p.Address] = p
	}
	return r, nil
}

func (c RouteServerConfig) validate() error {
	if len(c.Endpoints) == 0 {
		return errors.New("at least one endpoint is required")
	}
	if c.Port == 0 {
		return errors.New("port is required")
	}
	seen := map[netip.Addr]bool{}
	for _, a := range c.Endpoints {
		if !a.Is4() || !a.IsLoopback() {
			return fmt.Errorf("endpoint %s: only IPv4 loopback addresses (127.0.0.0/8) are allowed", a)
		}
		if seen[a] {
			return fmt.Errorf("endpoint %s listed twice", a)
		}
		seen[a] = true
	}
	for i, p := range c.Peers {
		if !p.Address.Is4() || !p.Address.IsLoopback() {
			return fmt.Errorf("peers[%d]: %s: only IPv4 loopback addresses are allowed", i, p.Address)
		}
		if p.ASN == 0 {
			return fmt.Errorf("peers[%d]: asn is required", i)
		}
		if seen[p.Address] {
			return fmt.Errorf("peers[%d]: %s is listed twice or is an endpoint", i, p.Address)
		}
		seen[p.Address] = true
		if p.BFD && c.BFDPort == 0 {
			return fmt.Errorf("peers[%d]: bfd needs BFDPort", i)
		}
	}
	if c.HoldTime < 3*time.Second || c.HoldTime%time.Second != 0 {
		return fmt.Errorf("hold time %s: whole seconds, at least 3s", c.HoldTime)
	}
	return nil
}

// ID returns the route server id ("rs-…") in the VPC.
func (r *RouteServer) ID() string { return r.id }

// EndpointIDs returns the endpoint ids, in the order of Config.Endpoints.
func (r *RouteServer) EndpointIDs() []string {
	out := make([]string, len(r.endpoints))
	for i, e := range r.endpoints {
		out[i] = e.id
	}
	return out
}

// Ready is closed once every endpoint's GoBGP listens and its BFD manager
// was started. A BFD socket that cannot bind makes Run return an error.
func (r *RouteServer) Ready() <-chan struct{} { return r.ready }

// Start runs r in the background and returns once it is Ready (or Run's
// error if it stopped first). stop ends r and returns Run's error.
func (r *RouteServer) Start() (stop func() error, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.ready:
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("emulated route server: %w", err)
	}
	return func() error {
		cancel()
		return <-done
	}, nil
}

// Routes returns the current best path per prefix (what is in the FIB).
func (r *RouteServer) Routes() []Candidate {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Candidate, len(r.best))
	for i, c := range r.best {
		c.ASPath = slices.Clone(c.ASPath)
		out[i] = c
	}
	return out
}

// RIB returns the routing database as last written into the VPC: every
// path from a live peer, the best ones marked InFIB.
func (r *RouteServer) RIB() []RIBRoute {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RIBRoute, len(r.rib))
	for i, x := range r.rib {
		x.ASPath = slices.Clone(x.ASPath)
		out[i] = x
	}
	return out
}

// SetPartitioned drops (on) or passes (off) every BFD packet between the
// endpoints and peer, both ways, as if the appliance's host had stopped
// answering. BGP's TCP session is not touched: only BFD notices, which is
// what BFD is for.
func (r *RouteServer) SetPartitioned(peer netip.Addr, on bool) { r.part.set(peer, on) }

// Run starts the endpoints one after another (GoBGP v4.8.0 writes package
// globals when a server starts), then keeps the route tables in step with
// the best paths until ctx ends. The endpoints then stop; the routes they
// installed stay, as with Route Server's PersistRoutes.
func (r *RouteServer) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("emulated route server: Run called twice")
	}
	bfdCtx, stopBFD := context.WithCancel(context.WithoutCancel(ctx))
	var bfdWG sync.WaitGroup
	bfdErrs := make(chan error, len(r.endpoints))
	defer func() {
		stopBFD()
		bfdWG.Wait()
		for _, e := range r.endpoints {
			if e.srv != nil {
				bgp.StopGoBGP(e.srv, "route server endpoint stopping", time.Second)
			}
		}
	}()
	for _, e := range r.endpoints {
		if err := r.startEndpoint(ctx, e); err != nil {
			return err
		}
		if e.bfd != nil {
			bfdWG.Go(func() {
				if err := e.bfd.Run(bfdCtx); err != nil {
					bfdErrs <- fmt.Errorf("bfd of endpoint %s: %w", e.addr, err)
				}
			})
		}
	}
	close(r.ready)
	r.log.Info("emulated route server running", "route_server_id", r.id, "endpoints", len(r.endpoints), "port", r.cfg.Port)
	tick := time.NewTicker(r.cfg.PollInterval)
	defer tick.Stop()
	for {
		r.sync(ctx)
		select {
		case <-ctx.Done():
			return nil
		case err := <-bfdErrs:
			return err
		case <-tick.C:
		}
	}
}

func (r *RouteServer) startEndpoint(ctx context.Context, e *rsEndpoint) error {
	srv := server.NewBgpServer(server.LoggerOption(bgp.GoBGPLogger(r.log.With("endpoint", e.addr.String()))))
	go srv.Serve()
	err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: r.cfg.ASN, RouterId: e.addr.String(), ListenPort: int32(r.cfg.Port), ListenAddresses: []string{e.addr.String()},
		Families: bgp.UnicastFamilies(),
	}})
	if err != nil {
		bgp.StopGoBGP(srv, "route server endpoint stopping", time.Second)
		return fmt.Errorf("start route server endpoint %s:%d: %w", e.addr, r.cfg.Port, err)
	}
	e.srv = srv
	if !r.cfg.HoldPeers {
		if err := r.addPeers(ctx, e); err != nil {
			return err
		}
	}
	var bfdPeers []RouteServerPeerConfig
	for _, p := range r.cfg.Peers {
		if p.BFD {
			bfdPeers = append(bfdPeers, p)
		}
	}
	if len(bfdPeers) == 0 {
		return nil
	}
	e.bfd = bfd.NewManager(bfd.ManagerConfig{
		Port: r.cfg.BFDPort, ListenAddrs: []netip.Addr{e.addr},
		Logger: r.log.With("component", "bfd", "endpoint", e.addr.String()), ListenPacket: r.part.listenPacket,
	})
	for _, p := range bfdPeers {
		err := e.bfd.AddSession(bfd.SessionConfig{Peer: p.Address, Local: e.addr,
			DesiredMinTx: r.cfg.BFDMinTx, RequiredMinRx: r.cfg.BFDMinRx, DetectMult: r.cfg.BFDMultiplier})
		if err != nil {
			return fmt.Errorf("bfd session from endpoint %s to %s: %w", e.addr, p.Address, err)
		}
	}
	return nil
}

// addPeers configures the appliances as passive neighbors of endpoint e.
func (r *RouteServer) addPeers(ctx context.Context, e *rsEndpoint) error {
	for _, p := range r.cfg.Peers {
		if err := r.addPeer(ctx, e, p); err != nil {
			return err
		}
	}
	return nil
}

func (r *RouteServer) addPeer(ctx context.Context, e *rsEndpoint, p RouteServerPeerConfig) error {
	hold := uint64(r.cfg.HoldTime / time.Second)
	err := e.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Address.String(), PeerAsn: p.ASN},
		// The endpoint never initiates: the appliance must.
		Transport: &api.Transport{PassiveMode: true, LocalAddress: e.addr.String()},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: hold, KeepaliveInterval: max(hold/3, 1)}},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
		},
	}})
	if err != nil {
		return fmt.Errorf("add peer %s to route server endpoint %s: %w", p.Address, e.addr, err)
	}
	return nil
}

// readmit re-creates the neighbor of a session that just ended, so the
// endpoint accepts the appliance's next connection at once. A GoBGP neighbor
// refuses connections for a fixed 5 s idle hold after a drop it did not
// start; Route Server's own behaviour is not documented, and an endpoint
// that makes a recovered appliance wait 5 s would hide what the agent does.
func (r *RouteServer) readmit(ctx context.Context, e *rsEndpoint, p RouteServerPeerConfig) {
	if err := e.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: p.Address.String()}); err != nil {
		r.log.Warn("re-admit peer: delete", "endpoint", e.addr, "peer", p.Address, "error", err)
		return
	}
	if err := r.addPeer(ctx, e, p); err != nil {
		r.log.Warn("re-admit peer", "error", err)
	}
}

// AdmitPeers configures the peers on every endpoint when the route server
// was started with HoldPeers; until then every session attempt is refused.
// Call it once, after Ready.
func (r *RouteServer) AdmitPeers(ctx context.Context) error {
	if !r.cfg.HoldPeers {
		return errors.New("emulated route server: AdmitPeers without HoldPeers")
	}
	select {
	case <-r.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	if !r.admitted.CompareAndSwap(false, true) {
		return errors.New("emulated route server: AdmitPeers called twice")
	}
	for _, e := range r.endpoints {
		if err := r.addPeers(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// peerView is what one endpoint knows about one peer in one poll.
type peerView struct {
	endpoint    *rsEndpoint
	peer        netip.Addr
	established bool
	bfdUp       bool
}

// sync reads every endpoint's sessions and adj-RIB-in, picks the best paths
// and brings the propagated tables, peer status and routing database in step.
// Reading the adj-RIB-in (not GoBGP's own RIB) keeps GoBGP's best-path rules
// out of it: Route Server's are applied here.
func (r *RouteServer) sync(ctx context.Context) {
	var cands []Candidate
	var views []peerView
	for _, e := range r.endpoints {
		est := map[netip.Addr]bool{}
		err := e.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
			a, err := netip.ParseAddr(p.GetConf().GetNeighborAddress())
			if err == nil {
				est[a] = p.GetState().GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED
			}
		})
		if err != nil {
			// A partial view (GoBGP stopping, ctx ending) would look like
			// every session down and wipe the tables: skip this poll.
			return
		}
		for _, p := range r.cfg.Peers {
			if e.up[p.Address] && !est[p.Address] && r.admitted.Load() == r.cfg.HoldPeers {
				r.readmit(ctx, e, p)
			}
			e.up[p.Address] = est[p.Address]
			v := peerView{endpoint: e, peer: p.Address, established: est[p.Address]}
			if e.bfd != nil && p.BFD {
				st, ok := e.bfd.Session(p.Address)
				v.bfdUp = ok && st.State == bfd.StateUp
			}
			views = append(views, v)
			if !v.established {
				continue
			}
			live := !p.BFD || v.bfdUp
			cands = append(cands, r.adjIn(e, p.Address, live)...)
		}
	}
	if ctx.Err() != nil {
		return
	}
	best := BestPaths(cands)
	r.install(best)
	r.mirror(views, cands, best)
}

func (r *RouteServer) adjIn(e *rsEndpoint, peer netip.Addr, live bool) []Candidate {
	var out []Candidate
	for _, fam := range []gobgp.Family{gobgp.RF_IPv4_UC, gobgp.RF_IPv6_UC} {
		_ = e.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_ADJ_IN, Name: peer.String(), Family: fam},
			func(n gobgp.NLRI, paths []*apiutil.Path) {
				pfx, ok := n.(*gobgp.IPAddrPrefix)
				if !ok {
					return
				}
				for _, p := range paths {
					if p.Withdrawal {
						continue
					}
					c, ok := candidateFromPath(p.Attrs)
					if !ok {
						continue
					}
					c.Prefix, c.PeerID, c.EndpointID, c.Live = pfx.Prefix.Masked(), e.peerIDs[peer], e.id, live
					out = append(out, c)
				}
			})
	}
	return out
}

// install writes the best paths into every propagated table and removes the
// Advertisement routes it wrote before that are no longer best. A table
// route of another origin for the same prefix is left alone (it wins in
// EC2; the routing database reports the propagated route as rejected).
func (r *RouteServer) install(best []Candidate) {
	byIP := map[netip.Addr]string{}
	for _, e := range r.vpc.networkInterfaces() {
		if _, ok := byIP[e.ip]; !ok {
			byIP[e.ip] = e.id
		}
	}
	want := map[netip.Prefix]Route{}
	for _, c := range best {
		eni, ok := byIP[c.NextHop]
		if !ok {
			continue // no ENI owns the next hop: nothing to point the route at
		}
		want[c.Prefix] = Route{Destination: c.Prefix, NetworkInterface: eni, IPAddress: c.NextHop.String(),
			Origin: OriginAdvertisement, State: StateActive}
	}
	propagated := map[string]bool{}
	for _, id := range r.vpc.PropagatedTables(r.id) {
		propagated[id] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.installed {
		if !propagated[id] {
			r.withdrawLocked(id, nil)
		}
	}
	for id := range propagated {
		t, ok := r.vpc.Table(id)
		if !ok {
			continue
		}
		mine := r.installed[id]
		if mine == nil {
			mine = map[netip.Prefix]bool{}
			r.installed[id] = mine
		}
		for dst, w := range want {
			cur, ok := t.Route(dst)
			if ok && cur.Origin != OriginAdvertisement {
				continue
			}
			if !ok || cur != w {
				if err := r.vpc.PutRoute(id, w); err != nil {
					r.log.Warn("install route", "table", id, "prefix", dst, "error", err)
					continue
				}
				r.log.Debug("route installed", "table", id, "prefix", dst, "next_hop", w.IPAddress, "eni", w.NetworkInterface)
			}
			mine[dst] = true
		}
		r.withdrawLocked(id, want)
	}
}

// withdrawLocked removes the routes it installed in table that are not in keep.
func (r *RouteServer) withdrawLocked(table string, keep map[netip.Prefix]Route) {
	mine := r.installed[table]
	t, ok := r.vpc.Table(table)
	for dst := range mine {
		if _, kept := keep[dst]; kept {
			continue
		}
		delete(mine, dst)
		if !ok {
			continue
		}
		if cur, found := t.Route(dst); found && cur.Origin == OriginAdvertisement {
			if err := r.vpc.RemoveRoute(table, dst); err != nil {
				r.log.Warn("remove route", "table", table, "prefix", dst, "error", err)
				continue
			}
			r.log.Debug("route removed", "table", table, "prefix", dst)
		}
	}
	if len(mine) == 0 {
		delete(r.installed, table)
	}
}

// mirror writes peer status and the routing database into the VPC, only
// when they changed, so that VPC generation waits are not woken for nothing.
//
// best is published in the same critical section as the routing database,
// so that Routes and RIB never disagree for an observer.
func (r *RouteServer) mirror(views []peerView, cands, best []Candidate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.best = best
	for _, v := range views {
		id := v.endpoint.peerIDs[v.peer]
		st := [2]string{PeerStatusDown, PeerStatusDown}
		if v.established {
			st[0] = PeerStatusUp
		}
		if v.bfdUp {
			st[1] = PeerStatusUp
		}
		if r.status[id] == st {
			continue
		}
		if err := r.vpc.SetPeerStatus(id, st[0], st[1]); err == nil {
			r.status[id] = st
		}
	}
	var rib []RIBRoute
	for _, c := range cands {
		if !c.Live {
			continue
		}
		in := slices.ContainsFunc(best, func(b Candidate) bool {
			return b.Prefix == c.Prefix && b.PeerID == c.PeerID && b.EndpointID == c.EndpointID
		})
		rib = append(rib, RIBRoute{Prefix: c.Prefix, PeerID: c.PeerID, EndpointID: c.EndpointID, NextHop: c.NextHop,
			ASPath: c.ASPath, MED: c.MED, InFIB: in})
	}
	slices.SortStableFunc(rib, func(a, b RIBRoute) int {
		if c := comparePrefix(a.Prefix, b.Prefix); c != 0 {
			return c
		}
		if a.PeerID != b.PeerID {
			return cmp.Compare(a.PeerID, b.PeerID)
		}
		return cmp.Compare(a.EndpointID, b.EndpointID)
	})
	if slices.EqualFunc(rib, r.rib, ribEqual) {
		return
	}
	if err := r.vpc.SetRoutingDatabase(r.id, rib); err == nil {
		r.rib = rib
	}
}

func ribEqual(a, b RIBRoute) bool {
	return a.Prefix == b.Prefix && a.PeerID == b.PeerID && a.EndpointID == b.EndpointID && a.NextHop == b.NextHop &&
		a.MED == b.MED && a.InFIB == b.InFIB && slices.Equal(a.ASPath, b.ASPath)
}
