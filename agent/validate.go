package agent

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/bfd"
	"github.com/rsagent/rsagent/bgp"
	"github.com/rsagent/rsagent/internal/apikey"
	"github.com/rsagent/rsagent/routetable"
)

// Model is a validated configuration in the types the components need.
type Model struct {
	// ReconcileOnly is set for a config without bgp and services: it runs
	// with `rsagent reconcile` only.
	ReconcileOnly bool
	// RouterOnly is set for a config with a router section and no bgp or
	// services: direct mode, `rsagent router`.
	RouterOnly bool
	BGP        BGPModel
	BFDPort    int
	BFDStrict  bool
	BFDAuth    *bfd.AuthConfig // nil = no authentication
	Services   []ServiceModel
	Reconcile  *ReconcileModel
	Router     *RouterModel
	HTTP       HTTPModel
	Log        LogConfig
}

// BGPModel is the validated `bgp` section.
type BGPModel struct {
	ASN            uint32
	RouterID       netip.Addr
	LocalAddress   netip.Addr
	LocalAddressV6 netip.Addr // zero when IPv6 is off
	GRPCListen     string     // "" = off
	ListenPort     uint16     // 0 = do not listen for BGP
	Peers          []PeerModel
}

// PeerModel is one validated peer.
type PeerModel struct {
	Address      netip.Addr
	ASN          uint32
	Port         uint16
	HoldTime     time.Duration
	ConnectRetry time.Duration
	BFD          *BFDTimers // nil = BFD off for this peer
}

// BFDTimers are one BFD session's timers.
type BFDTimers struct {
	MinTx, MinRx time.Duration
	Multiplier   uint8
	Passive      bool
}

// ServiceModel is one validated service.
type ServiceModel struct {
	Name          string
	Prefixes      []netip.Prefix
	MED           uint32
	ASPathPrepend uint8
	Unhealthy     UnhealthyPolicy
	// Health is complete: timings defaulted and checked, the checkers built
	// (they start nothing until a Monitor runs them), the maintenance file.
	Health health.Spec
}

// UnhealthyPolicy is what an unhealthy service still advertises.
type UnhealthyPolicy struct {
	Withdraw      bool
	MED           uint32
	ASPathPrepend uint8
}

// ReconcileModel is the validated `reconcile` section.
type ReconcileModel struct {
	Region, VPCID, Endpoint string
	Interval                time.Duration
	Source                  string   // "main" or an rtb id
	Targets                 []string // nil = auto
	Origins                 []string
	Prefixes                []netip.Prefix
	Prune, DryRun           bool
	MutatingBurst           int
	MutatingPerSecond       float64
	// NetworkInterfaceIDs are this appliance's ENIs as configured;
	// ENIsConfigured is false when the key was left out, and then the
	// command decides (`run`: the ENI holding bgp.local_address).
	NetworkInterfaceIDs []string
	ENIsConfigured      bool
	// DeferOthers is reconcile.defer_others; routetable.DeferNever for
	// `never`.
	DeferOthers          time.Duration
	IgnoreRoutes         []netip.Prefix
	PropagationTTL       time.Duration
	Webhook, SNSTopicARN string
	APIRate              float64
	APIBurst             int
}

// HTTPModel is the validated `http` section.
type HTTPModel struct {
	Listen     string // "" = off
	APIKeyFile string
}

// Defaults for keys the user left out. docs/config.md lists the same values.
// Where a component owns the setting, its constant is the one definition.
const (
	defaultGRPCListen   = "127.0.0.1:50051"
	defaultHTTPListen   = "127.0.0.1:9179"
	defaultBGPPort      = bgp.DefaultPort
	defaultHoldTime     = bgp.DefaultHoldTime
	defaultConnectRetry = bgp.DefaultConnectRetry
	defaultBFDPort      = bfd.DefaultPort
	defaultBFDMinTx     = bfd.DefaultMinTx
	defaultBFDMinRx     = bfd.DefaultMinRx
	defaultBFDMult      = bfd.DefaultDetectMult
	// defaultDeferOthers is reconcile.defer_others: how long a route owned
	// by another appliance's ENI is left to it while it makes progress.
	defaultDeferOthers = 2 * time.Second
	// maxDeferOthers bounds it: a longer wait leaves a silent owner's routes
	// stale for minutes; use never to leave them to it for good.
	maxDeferOthers = 10 * time.Minute
)

// ApplyDefaults fills every key the user left out. It is idempotent.
func (c *Config) ApplyDefaults() {
	b := &c.BGP
	if b.RouterID == "" {
		b.RouterID = b.LocalAddress
	}
	if b.GRPCListen == nil {
		s := defaultGRPCListen
		b.GRPCListen = &s
	}
	if c.BFD.Port == 0 {
		c.BFD.Port = defaultBFDPort
	}
	d := &c.BFD.Defaults
	setDur(&d.MinTx, defaultBFDMinTx)
	setDur(&d.MinRx, defaultBFDMinRx)
	if d.Multiplier == 0 {
		d.Multiplier = defaultBFDMult
	}
	for i := range b.Peers {
		p := &b.Peers[i]
		if p.Port == 0 {
			p.Port = defaultBGPPort
		}
		if p.HoldTime == 0 {
			p.HoldTime = Duration(defaultHoldTime)
		}
		setDur(&p.ConnectRetry, defaultConnectRetry)
		if p.BFD.Enabled {
			setDur(&p.BFD.MinTx, d.MinTx.D())
			setDur(&p.BFD.MinRx, d.MinRx.D())
			if p.BFD.Multiplier == 0 {
				p.BFD.Multiplier = d.Multiplier
			}
			if p.BFD.Passive == nil {
				v := d.Passive
				p.BFD.Passive = &v
			}
		}
	}
	for i := range c.Services {
		s := &c.Services[i]
		if !s.WhenUnhealthy.Withdraw && s.WhenUnhealthy.MED == nil && s.WhenUnhealthy.ASPathPrepend == nil {
			s.WhenUnhealthy.Withdraw = true
		}
		// health's WithDefaults is the one place that knows these defaults
		// (fast_interval and timeout never above interval).
		h := &s.Health
		d := health.Spec{Interval: h.Interval.D(), FastInterval: h.FastInterval.D(), Timeout: h.Timeout.D(), Rise: h.Rise, Fall: h.Fall}.WithDefaults()
		h.Interval, h.FastInterval, h.Timeout, h.Rise, h.Fall = Duration(d.Interval), Duration(d.FastInterval), Duration(d.Timeout), d.Rise, d.Fall
		for j := range h.Checks {
			if hc := h.Checks[j].HTTP; hc != nil && hc.Status == 0 {
				hc.Status = 200
			}
		}
	}
	if r := c.Reconcile; r != nil {
		setDur(&r.Interval, routetable.DefaultInterval)
		if r.SourceRouteTable == "" {
			r.SourceRouteTable = "main"
		}
		if r.TargetRouteTables.IDs == nil {
			r.TargetRouteTables.Auto = true
		}
		if r.Origins == nil {
			r.Origins = []string{routetable.OriginAdvertisement}
		}
		if r.Prefixes == nil {
			r.Prefixes = []string{}
		}
		r.MutatingRate.applyMutatingDefaults()
		if !r.DeferOthers.Set {
			r.DeferOthers = DeferDuration{D: defaultDeferOthers, Set: true}
		}
		if r.IgnoreRoutes == nil {
			r.IgnoreRoutes = []string{}
		}
		setDur(&r.PropagationTTL, routetable.DefaultPropagationTTL)
		if r.SyncRoutes.Rate.Burst == 0 {
			r.SyncRoutes.Rate.Burst = routetable.DefaultAPIBurst
		}
		if r.SyncRoutes.Rate.PerSecond == 0 {
			r.SyncRoutes.Rate.PerSecond = routetable.DefaultAPIRate
		}
	}
	if c.Router != nil {
		c.Router.applyDefaults(c.BFD.Defaults)
	}
	if c.HTTP.Listen == nil {
		s := defaultHTTPListen
		c.HTTP.Listen = &s
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

func setDur(d *Duration, def time.Duration) {
	if *d == 0 {
		*d = Duration(def)
	}
}

type problems []string

func (p *problems) addf(path, format string, args ...any) {
	*p = append(*p, path+": "+fmt.Sprintf(format, args...))
}

var serviceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks a defaulted Config and builds the Model. Every problem is
// reported (not just the first), each naming its field path.
func (c *Config) Validate() (*Model, error) {
	var p problems
	m := &Model{BFDPort: c.BFD.Port, BFDStrict: c.BFD.Strict, Log: c.Log}

	// A config with only a reconcile section is a standalone reconciler
	// (`rsagent reconcile` on a host without BGP); `rsagent run` refuses it.
	// A config with only a router section is direct mode (`rsagent router`).
	speakerless := c.BGP.ASN == 0 && c.BGP.LocalAddress == "" && len(c.BGP.Peers) == 0 && len(c.Services) == 0
	if speakerless && (c.Reconcile != nil || c.Router != nil) {
		m.ReconcileOnly = c.Reconcile != nil
		m.RouterOnly = c.Router != nil
	} else {
		m.BGP = c.validateBGP(&p)
	}
	if c.BFD.Port < 1 || c.BFD.Port > 65535 {
		p.addf("bfd.port", "%d is not a port (1..65535)", c.BFD.Port)
	}
	validateBFDTimers(&p, "bfd.defaults", c.BFD.Defaults.MinTx.D(), c.BFD.Defaults.MinRx.D(), c.BFD.Defaults.Multiplier)
	if c.BFD.Auth != nil {
		m.BFDAuth = c.BFD.Auth.validate(&p, "bfd.auth")
	}
	m.Services = c.validateServices(&p, m.BGP.LocalAddressV6.IsValid())
	if c.Reconcile != nil {
		m.Reconcile = c.Reconcile.validate(&p)
	}
	if c.Router != nil {
		m.Router = c.Router.validate(&p)
	}
	m.HTTP = c.validateHTTP(&p)
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.addf("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		p.addf("log.format", "%q: want text or json", c.Log.Format)
	}
	if len(p) > 0 {
		return nil, &ConfigError{Problems: p}
	}
	return m, nil
}

func (c *Config) validateBGP(p *problems) BGPModel {
	b := c.BGP
	m := BGPModel{ASN: b.ASN}
	if b.ASN == 0 {
		p.addf("bgp.asn", "is required and must be 1..4294967295 (got 0)")
	}
	if b.LocalAddress == "" {
		p.addf("bgp.local_address", "is required: the address the sessions start from and the next hop of every advertisement")
	} else {
		m.LocalAddress = parseAddr(p, "bgp.local_address", b.LocalAddress, 4)
	}
	if b.RouterID != "" {
		m.RouterID = parseAddr(p, "bgp.router_id", b.RouterID, 4)
	}
	if b.LocalAddressV6 != "" {
		m.LocalAddressV6 = parseAddr(p, "bgp.local_address_v6", b.LocalAddressV6, 6)
	}
	if b.GRPCListen != nil && *b.GRPCListen != "" {
		checkHostPort(p, "bgp.grpc_listen", *b.GRPCListen)
		m.GRPCListen = *b.GRPCListen
	}
	m.ListenPort = b.ListenPort
	if len(b.Peers) == 0 {
		p.addf("bgp.peers", "at least one peer is required (the Route Server endpoints)")
	}
	seen := map[netip.Addr]int{}
	for i, pc := range b.Peers {
		path := fmt.Sprintf("bgp.peers[%d]", i)
		pm := PeerModel{ASN: pc.ASN, Port: pc.Port, HoldTime: pc.HoldTime.D(), ConnectRetry: pc.ConnectRetry.D()}
		if err := bgp.CheckConnectRetry(pc.ConnectRetry.D()); err != nil {
			p.addf(path+".connect_retry", "%v", err)
		}
		pm.Address = parseAddr(p, path+".address", pc.Address, 4)
		if pm.Address.IsValid() {
			if j, dup := seen[pm.Address]; dup {
				p.addf(path+".address", "%s is already bgp.peers[%d]", pm.Address, j)
			}
			seen[pm.Address] = i
			if pm.Address == m.LocalAddress {
				p.addf(path+".address", "%s is bgp.local_address itself", pm.Address)
			}
		}
		if pc.ASN == 0 {
			p.addf(path+".asn", "is required and must be 1..4294967295 (got 0)")
		}
		if err := bgp.CheckHoldTime(pc.HoldTime.D()); err != nil {
			p.addf(path+".hold_time", "%v", err)
		}
		if pc.BFD.Enabled {
			validateBFDTimers(p, path+".bfd", pc.BFD.MinTx.D(), pc.BFD.MinRx.D(), pc.BFD.Multiplier)
			pm.BFD = &BFDTimers{MinTx: pc.BFD.MinTx.D(), MinRx: pc.BFD.MinRx.D(), Multiplier: pc.BFD.Multiplier, Passive: pc.BFD.Passive != nil && *pc.BFD.Passive}
		} else if pc.BFD.MinTx != 0 || pc.BFD.MinRx != 0 || pc.BFD.Multiplier != 0 {
			p.addf(path+".bfd", "timers are set but enabled is false")
		}
		m.Peers = append(m.Peers, pm)
	}
	return m
}

func validateBFDTimers(p *problems, path string, tx, rx time.Duration, mult uint8) {
	if tx < 10*time.Millisecond || tx > 60*time.Second {
		p.addf(path+".min_tx", "%s: must be between 10ms and 60s", tx)
	}
	if rx < 10*time.Millisecond || rx > 60*time.Second {
		p.addf(path+".min_rx", "%s: must be between 10ms and 60s", rx)
	}
	if mult == 0 {
		p.addf(path+".multiplier", "must be 1..255")
	}
}

func (c *Config) validateServices(p *problems, haveV6 bool) []ServiceModel {
	var out []ServiceModel
	names := map[string]int{}
	owner := map[netip.Prefix]string{}
	for i, s := range c.Services {
		path := fmt.Sprintf("services[%d]", i)
		sm := ServiceModel{Name: s.Name, MED: s.MED, ASPathPrepend: s.ASPathPrepend}
		switch {
		case s.Name == "":
			p.addf(path+".name", "is required")
		case !serviceNameRE.MatchString(s.Name):
			p.addf(path+".name", "%q: use lowercase letters, digits, '-' and '_' (it becomes a metric label)", s.Name)
		default:
			if j, dup := names[s.Name]; dup {
				p.addf(path+".name", "%q is already services[%d]", s.Name, j)
			}
			names[s.Name] = i
		}
		if len(s.Prefixes) == 0 {
			p.addf(path+".prefixes", "at least one prefix is required")
		}
		for j, raw := range s.Prefixes {
			pp := fmt.Sprintf("%s.prefixes[%d]", path, j)
			pfx, err := netip.ParsePrefix(raw)
			if err != nil {
				p.addf(pp, "%q is not a CIDR", raw)
				continue
			}
			if pfx != pfx.Masked() {
				p.addf(pp, "%q has host bits set (did you mean %s?)", raw, pfx.Masked())
				continue
			}
			if pfx.Addr().Is6() && !haveV6 {
				p.addf(pp, "%s is IPv6 but bgp.local_address_v6 is not set (it is the IPv6 next hop)", pfx)
			}
			if prev, dup := owner[pfx]; dup {
				p.addf(pp, "%s is already announced by %s", pfx, prev)
				continue
			}
			owner[pfx] = fmt.Sprintf("%s (%s)", pp, s.Name)
			sm.Prefixes = append(sm.Prefixes, pfx)
		}
		if s.ASPathPrepend > 32 {
			p.addf(path+".as_path_prepend", "%d: at most 32", s.ASPathPrepend)
		}
		wu := s.WhenUnhealthy
		sm.Unhealthy = UnhealthyPolicy{Withdraw: wu.Withdraw, MED: s.MED, ASPathPrepend: s.ASPathPrepend}
		if !wu.Withdraw {
			if wu.MED != nil {
				sm.Unhealthy.MED = *wu.MED
			}
			if wu.ASPathPrepend != nil {
				if *wu.ASPathPrepend > 32 {
					p.addf(path+".when_unhealthy.as_path_prepend", "%d: at most 32", *wu.ASPathPrepend)
				}
				sm.Unhealthy.ASPathPrepend = *wu.ASPathPrepend
			}
			if sm.Unhealthy.MED <= s.MED && sm.Unhealthy.ASPathPrepend <= s.ASPathPrepend {
				p.addf(path+".when_unhealthy", "must make the route worse than the healthy one (a higher med or a longer as_path_prepend)")
			}
		}
		if s.MaintenanceFile != "" && !filepath.IsAbs(s.MaintenanceFile) {
			p.addf(path+".maintenance_file", "%q must be an absolute path", s.MaintenanceFile)
		}
		sm.Health = validateHealth(p, path+".health", s.Health)
		sm.Health.Name, sm.Health.MaintenanceFile = s.Name, s.MaintenanceFile
		out = append(out, sm)
	}
	return out
}

// validateHealth checks a service's health section and builds its checkers.
// The rules on timing order and on each check's shape are health's own
// (Timing.Validate, the New… constructors); the config adds only its floors
// and ceilings and the exec lookup.
func validateHealth(p *problems, path string, h HealthConfig) health.Spec {
	spec := health.Spec{Interval: h.Interval.D(), FastInterval: h.FastInterval.D(), Timeout: h.Timeout.D(), Rise: h.Rise, Fall: h.Fall}
	if spec.Interval < 100*time.Millisecond {
		p.addf(path+".interval", "%s: at least 100ms", spec.Interval)
	}
	if spec.FastInterval < 100*time.Millisecond {
		p.addf(path+".fast_interval", "%s: at least 100ms", spec.FastInterval)
	}
	if h.Rise > 100 {
		p.addf(path+".rise", "%d: at most 100", h.Rise)
	}
	if h.Fall > 100 {
		p.addf(path+".fall", "%d: at most 100", h.Fall)
	}
	addJoined(p, path, spec.Timing().Validate())
	for i, c := range h.Checks {
		cp := fmt.Sprintf("%s.checks[%d]", path, i)
		var kinds []string
		var ck health.Checker
		var err error
		if c.TCP != "" {
			kinds = append(kinds, "tcp")
			ck, err = health.NewTCP(c.TCP)
		}
		if c.HTTP != nil {
			kinds = append(kinds, "http")
			ck, err = health.NewHTTP(c.HTTP.URL, c.HTTP.Status, c.HTTP.Body)
		}
		if c.Exec != nil {
			kinds = append(kinds, "exec")
			if ck, err = health.NewExec(c.Exec); err == nil {
				if _, lerr := exec.LookPath(c.Exec[0]); lerr != nil {
					err = fmt.Errorf("%q: not found or not executable", c.Exec[0])
				}
			}
		}
		if c.File != "" {
			kinds = append(kinds, "file")
			ck, err = health.NewFile(c.File)
		}
		switch {
		case len(kinds) != 1:
			p.addf(cp, "set exactly one of tcp, http, exec, file (found %d)", len(kinds))
		case err != nil:
			p.addf(cp+"."+kinds[0], "%v", err)
		default:
			spec.Checks = append(spec.Checks, ck)
		}
	}
	return spec
}

// addJoined records each error of an errors.Join under path; each message
// starts with its key.
func addJoined(p *problems, path string, err error) {
	if err == nil {
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			addJoined(p, path, e)
		}
		return
	}
	*p = append(*p, path+"."+err.Error())
}

func (r *ReconcileConfig) validate(p *problems) *ReconcileModel {
	m := &ReconcileModel{
		Region: r.Region, VPCID: r.VPCID, Endpoint: r.Endpoint, Interval: r.Interval.D(),
		Source: r.SourceRouteTable, Origins: r.Origins, Prune: r.Prune, DryRun: r.DryRun,
		MutatingBurst: r.MutatingRate.Burst, MutatingPerSecond: r.MutatingRate.PerSecond,
		PropagationTTL: r.PropagationTTL.D(), Webhook: r.Notify.Webhook, SNSTopicARN: r.Notify.SNSTopicARN,
		APIRate: r.SyncRoutes.Rate.PerSecond, APIBurst: r.SyncRoutes.Rate.Burst,
	}
	validateEC2Section(p, "reconcile", r.Region, r.VPCID, r.Endpoint, m.Interval)
	if r.SourceRouteTable != "main" && !routetable.ValidID("rtb-", r.SourceRouteTable) {
		p.addf("reconcile.source_route_table", "%q: want main or a route table id (rtb-…)", r.SourceRouteTable)
	}
	if !r.TargetRouteTables.Auto {
		if len(r.TargetRouteTables.IDs) == 0 {
			p.addf("reconcile.target_route_tables", "an empty list copies to nothing; use auto or list tables")
		}
		for i, id := range r.TargetRouteTables.IDs {
			if !routetable.ValidID("rtb-", id) {
				p.addf(fmt.Sprintf("reconcile.target_route_tables[%d]", i), "%q is not a route table id (rtb-…)", id)
			}
			if id == r.SourceRouteTable {
				p.addf(fmt.Sprintf("reconcile.target_route_tables[%d]", i), "%q is also the source table", id)
			}
		}
		m.Targets = r.TargetRouteTables.IDs
	}
	if len(r.Origins) == 0 {
		p.addf("reconcile.origins", "at least one origin is required (Advertisement)")
	}
	for i, o := range r.Origins {
		if o != "Advertisement" && o != "CreateRoute" {
			p.addf(fmt.Sprintf("reconcile.origins[%d]", i), "%q: want Advertisement or CreateRoute", o)
		}
	}
	for i, raw := range r.Prefixes {
		pfx, err := netip.ParsePrefix(raw)
		if err != nil || pfx != pfx.Masked() {
			p.addf(fmt.Sprintf("reconcile.prefixes[%d]", i), "%q is not a CIDR without host bits", raw)
			continue
		}
		m.Prefixes = append(m.Prefixes, pfx)
	}
	if r.MutatingRate.Burst < 1 || r.MutatingRate.PerSecond <= 0 {
		p.addf("reconcile.mutating_rate", "burst must be ≥ 1 and per_second > 0")
	}
	r.validateOwnership(p, m)
	if m.PropagationTTL < time.Second {
		p.addf("reconcile.propagation_ttl", "%s: at least 1s", m.PropagationTTL)
	}
	checkHTTPURL(p, "reconcile.notify.webhook", r.Notify.Webhook)
	if a := r.Notify.SNSTopicARN; a != "" && !strings.HasPrefix(a, "arn:") {
		p.addf("reconcile.notify.sns_topic_arn", "%q is not an ARN", a)
	}
	if r.SyncRoutes.Rate.Burst < 1 || r.SyncRoutes.Rate.PerSecond <= 0 {
		p.addf("reconcile.sync_routes_api.rate", "burst must be ≥ 1 and per_second > 0")
	}
	return m
}

func (c *Config) validateHTTP(p *problems) HTTPModel {
	m := HTTPModel{APIKeyFile: c.HTTP.APIKeyFile}
	if c.HTTP.Listen != nil && *c.HTTP.Listen != "" {
		checkHostPort(p, "http.listen", *c.HTTP.Listen)
		m.Listen = *c.HTTP.Listen
	}
	if f := c.HTTP.APIKeyFile; f != "" {
		if _, err := apikey.Read(f); err != nil {
			p.addf("http.api_key_file", "%v", err)
		}
	}
	return m
}

// validateEC2Section checks the keys reconcile and router share: where the
// VPC is, how to reach EC2, and how often to look.
func validateEC2Section(p *problems, section, region, vpcID, endpoint string, interval time.Duration) {
	if region == "" {
		p.addf(section+".region", "is required (e.g. us-east-1)")
	}
	if !routetable.ValidID("vpc-", vpcID) {
		p.addf(section+".vpc_id", "%q is not a VPC id (vpc- and 8 or 17 hex digits)", vpcID)
	}
	checkHTTPURL(p, section+".endpoint", endpoint)
	if interval < time.Second {
		p.addf(section+".interval", "%s: at least 1s", interval)
	}
}

// checkHTTPURL reports a set raw that is not an http(s) URL with a host.
func checkHTTPURL(p *problems, path, raw string) {
	if raw == "" {
		return
	}
	if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.addf(path, "%q is not an http(s) URL", raw)
	}
}

func parseAddr(p *problems, path, raw string, family int) netip.Addr {
	a, err := netip.ParseAddr(raw)
	if err != nil {
		p.addf(path, "%q is not an IP address", raw)
		return netip.Addr{}
	}
	if family == 4 && !a.Is4() {
		p.addf(path, "%s is not an IPv4 address", a)
		return netip.Addr{}
	}
	if family == 6 && (!a.Is6() || a.Is4In6()) {
		p.addf(path, "%s is not an IPv6 address", a)
		return netip.Addr{}
	}
	return a
}

func checkHostPort(p *problems, path, hp string) {
	_, port, err := net.SplitHostPort(hp)
	if err != nil {
		p.addf(path, "%q is not host:port", hp)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		p.addf(path, "%q: port must be 1..65535", hp)
	}
}

// validateOwnership checks network_interface_ids, defer_others and
// ignore_routes.
func (r *ReconcileConfig) validateOwnership(p *problems, m *ReconcileModel) {
	if ids := r.NetworkInterfaceIDs; ids != nil {
		m.ENIsConfigured = true
		m.NetworkInterfaceIDs = []string{}
		for i, id := range *ids {
			if !routetable.ValidID("eni-", id) {
				p.addf(fmt.Sprintf("reconcile.network_interface_ids[%d]", i), "%q is not a network interface id (eni- and 8 or 17 hex digits)", id)
				continue
			}
			m.NetworkInterfaceIDs = append(m.NetworkInterfaceIDs, id)
		}
	}
	switch d := r.DeferOthers; {
	case d.Never:
		m.DeferOthers = routetable.DeferNever
	case d.D > maxDeferOthers:
		p.addf("reconcile.defer_others", "%s: at most %s (or never)", d.D, maxDeferOthers)
	default:
		m.DeferOthers = d.D
	}
	for i, raw := range r.IgnoreRoutes {
		pfx, err := netip.ParsePrefix(raw)
		if err != nil || pfx != pfx.Masked() {
			p.addf(fmt.Sprintf("reconcile.ignore_routes[%d]", i), "%q is not a CIDR without host bits", raw)
			continue
		}
		m.IgnoreRoutes = append(m.IgnoreRoutes, pfx)
	}
}
