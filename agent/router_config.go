package agent

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/routetable"
	"github.com/rsagent/rsagent/routetable/direct"
)

// RouterConfig is the `router` section: direct mode (`rsagent router`),
// vpc-router's job for VPCs without Route Server.
type RouterConfig struct {
	Region   string `yaml:"region" json:"region"`
	VPCID    string `yaml:"vpc_id" json:"vpc_id"`
	Endpoint string `yaml:"endpoint" json:"endpoint"`
	// RouteTables is auto (every table of the VPC) or a list.
	RouteTables   TableList `yaml:"route_tables" json:"route_tables"`
	RouteSpecFile string    `yaml:"route_spec_file,omitempty" json:"route_spec_file,omitempty"`
	// Routes is an inline route spec (vpc-router's "fixedconf").
	Routes         map[string][]string `yaml:"routes,omitempty" json:"routes,omitempty"`
	Interval       Duration            `yaml:"interval" json:"interval"`
	Health         RouterHealthConfig  `yaml:"health" json:"health"`
	Preempt        bool                `yaml:"preempt" json:"preempt"`
	IgnoreRoutes   []string            `yaml:"ignore_routes" json:"ignore_routes"`
	RemoveUnlisted bool                `yaml:"remove_unlisted" json:"remove_unlisted"`
	MutatingRate   RateConfig          `yaml:"mutating_rate" json:"mutating_rate"`
	DryRun         bool                `yaml:"dry_run" json:"dry_run"`
}

// RouterHealthConfig is how every host of the spec is checked.
type RouterHealthConfig struct {
	Interval   Duration            `yaml:"interval" json:"interval"`
	Timeout    Duration            `yaml:"timeout" json:"timeout"`
	Fall       int                 `yaml:"fall" json:"fall"`
	FailedHold Duration            `yaml:"failed_hold" json:"failed_hold"`
	Checks     []RouterCheckConfig `yaml:"checks" json:"checks"`
}

// RouterCheckConfig is one check, run against every host; exactly one kind
// is set.
type RouterCheckConfig struct {
	TCP  *RouterTCPCheck  `yaml:"tcp,omitempty" json:"tcp,omitempty"`
	ICMP *RouterICMPCheck `yaml:"icmp,omitempty" json:"icmp,omitempty"`
	HTTP *RouterHTTPCheck `yaml:"http,omitempty" json:"http,omitempty"`
	BFD  *RouterBFDCheck  `yaml:"bfd,omitempty" json:"bfd,omitempty"`
}

// RouterTCPCheck connects to the host's port.
type RouterTCPCheck struct {
	Port int `yaml:"port" json:"port"`
}

// RouterICMPCheck pings the host (`icmp: {}`).
type RouterICMPCheck struct{}

// RouterHTTPCheck GETs http://host:port/path.
type RouterHTTPCheck struct {
	Port   int    `yaml:"port" json:"port"`
	Path   string `yaml:"path" json:"path"`
	Status int    `yaml:"status" json:"status"`
}

// RouterBFDCheck runs an asynchronous BFD session to the host; unset
// timers come from bfd.defaults.
type RouterBFDCheck struct {
	MinTx      Duration `yaml:"min_tx" json:"min_tx"`
	MinRx      Duration `yaml:"min_rx" json:"min_rx"`
	Multiplier uint8    `yaml:"multiplier" json:"multiplier"`
	// LocalAddress is the source of the sessions and the address the BFD
	// listener binds; "" lets the kernel choose and listens on every
	// address.
	LocalAddress string `yaml:"local_address,omitempty" json:"local_address,omitempty"`
}

// RouterModel is the validated `router` section.
type RouterModel struct {
	Region, VPCID, Endpoint string
	// Tables are the managed route table ids; nil = every table (auto).
	Tables []string
	// SpecFile is the watched route spec; "" when none.
	SpecFile string
	// Routes is the inline spec; nil when none.
	Routes            direct.Spec
	Interval          time.Duration
	Health            RouterHealthModel
	Preempt           bool
	Ignore            []netip.Prefix
	RemoveUnlisted    bool
	MutatingBurst     int
	MutatingPerSecond float64
	DryRun            bool
}

// RouterHealthModel is the validated `router.health`.
type RouterHealthModel struct {
	Interval, Timeout time.Duration
	Fall              int
	FailedHold        time.Duration
	Checks            []RouterCheck
}

// RouterCheck is one validated check.
type RouterCheck struct {
	Kind   string // tcp, icmp, http, bfd
	Port   int
	Path   string
	Status int
	BFD    BFDTimers
	Local  netip.Addr // bfd: session source; invalid = any
}

// Router defaults. The health defaults are vpc-router's spirit with
// sub-second tools: checks every 2 s, two failures to fail a host, and
// vpc-router's hold of 10 × the check interval.
const (
	defaultRouterInterval = 5 * time.Second
	defaultRouterFall     = 2
	defaultFailedHoldMult = 10
)

func (r *RouterConfig) applyDefaults(bfdDefaults BFDTimerConfig) {
	setDur(&r.Interval, defaultRouterInterval)
	if r.RouteTables.IDs == nil {
		r.RouteTables.Auto = true
	}
	if r.IgnoreRoutes == nil {
		r.IgnoreRoutes = []string{}
	}
	r.MutatingRate.applyMutatingDefaults()
	h := &r.Health
	setDur(&h.Interval, health.DefaultInterval)
	setDur(&h.Timeout, min(health.DefaultTimeout, h.Interval.D()))
	if h.Fall == 0 {
		h.Fall = defaultRouterFall
	}
	setDur(&h.FailedHold, defaultFailedHoldMult*h.Interval.D())
	if h.Checks == nil {
		// vpc-router's default health plugin is icmpecho.
		h.Checks = []RouterCheckConfig{{ICMP: &RouterICMPCheck{}}}
	}
	for i := range h.Checks {
		c := &h.Checks[i]
		if c.HTTP != nil {
			if c.HTTP.Status == 0 {
				c.HTTP.Status = 200
			}
			if c.HTTP.Path == "" {
				c.HTTP.Path = "/"
			}
		}
		if b := c.BFD; b != nil {
			setDur(&b.MinTx, bfdDefaults.MinTx.D())
			setDur(&b.MinRx, bfdDefaults.MinRx.D())
			if b.Multiplier == 0 {
				b.Multiplier = bfdDefaults.Multiplier
			}
		}
	}
}

func (r *RouterConfig) validate(p *problems) *RouterModel {
	m := &RouterModel{
		Region: r.Region, VPCID: r.VPCID, Endpoint: r.Endpoint, Interval: r.Interval.D(), SpecFile: r.RouteSpecFile,
		Preempt: r.Preempt, RemoveUnlisted: r.RemoveUnlisted, DryRun: r.DryRun,
		MutatingBurst: r.MutatingRate.Burst, MutatingPerSecond: r.MutatingRate.PerSecond,
	}
	validateEC2Section(p, "router", r.Region, r.VPCID, r.Endpoint, m.Interval)
	if !r.RouteTables.Auto {
		if len(r.RouteTables.IDs) == 0 {
			p.addf("router.route_tables", "an empty list manages nothing; use auto or list tables")
		}
		for i, id := range r.RouteTables.IDs {
			if !routetable.ValidID("rtb-", id) {
				p.addf(fmt.Sprintf("router.route_tables[%d]", i), "%q is not a route table id (rtb-…)", id)
			}
		}
		m.Tables = r.RouteTables.IDs
	}
	m.Routes = r.validateSpecSources(p)
	for i, raw := range r.IgnoreRoutes {
		pfx, err := parseCIDROrIP(raw)
		if err != nil {
			p.addf(fmt.Sprintf("router.ignore_routes[%d]", i), "%v", err)
			continue
		}
		m.Ignore = append(m.Ignore, pfx)
	}
	if r.MutatingRate.Burst < 1 || r.MutatingRate.PerSecond <= 0 {
		p.addf("router.mutating_rate", "burst must be ≥ 1 and per_second > 0")
	}
	m.Health = r.Health.validate(p)
	return m
}

// validateSpecSources checks route_spec_file (read now, so that `config
// check` names a bad CIDR or host in it) and the inline routes.
func (r *RouterConfig) validateSpecSources(p *problems) direct.Spec {
	if r.RouteSpecFile != "" && r.Routes != nil {
		p.addf("router.routes", "set either route_spec_file or routes, not both")
	}
	if f := r.RouteSpecFile; f != "" {
		if !filepath.IsAbs(f) {
			p.addf("router.route_spec_file", "%q must be an absolute path", f)
		} else if b, err := os.ReadFile(f); err != nil {
			p.addf("router.route_spec_file", "%v (the file must exist at start; it is watched afterwards)", err)
		} else if _, err := direct.ParseSpec(b); err != nil {
			p.addf("router.route_spec_file", "%s: %v", f, err)
		}
	}
	if r.Routes == nil {
		return nil
	}
	spec := direct.Spec{}
	keys := make([]string, 0, len(r.Routes))
	for k := range r.Routes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		path := fmt.Sprintf("router.routes[%q]", k)
		pfx, err := netip.ParsePrefix(k)
		if err != nil {
			p.addf(path, "%q is not a CIDR", k)
			continue
		}
		if pfx != pfx.Masked() {
			p.addf(path, "%q has host bits set (did you mean %s?)", k, pfx.Masked())
			continue
		}
		if _, dup := spec[pfx]; dup {
			p.addf(path, "%s is listed twice", pfx)
			continue
		}
		var hosts []netip.Addr
		for i, h := range r.Routes[k] {
			a, err := netip.ParseAddr(h)
			if err != nil {
				p.addf(fmt.Sprintf("%s[%d]", path, i), "%q is not an IP address", h)
				continue
			}
			hosts = append(hosts, a)
		}
		spec[pfx] = hosts
	}
	if err := spec.Validate(); err != nil {
		p.addf("router.routes", "%v", err)
	}
	return spec
}

func (h RouterHealthConfig) validate(p *problems) RouterHealthModel {
	m := RouterHealthModel{Interval: h.Interval.D(), Timeout: h.Timeout.D(), Fall: h.Fall, FailedHold: h.FailedHold.D()}
	if m.Interval < 100*time.Millisecond {
		p.addf("router.health.interval", "%s: at least 100ms", m.Interval)
	}
	if m.Timeout <= 0 || m.Timeout > m.Interval {
		p.addf("router.health.timeout", "%s: more than 0 and at most interval (%s)", m.Timeout, m.Interval)
	}
	if h.Fall < 1 || h.Fall > 100 {
		p.addf("router.health.fall", "%d: must be 1..100", h.Fall)
	}
	if len(h.Checks) == 0 {
		p.addf("router.health.checks", "at least one check is required (leave the key out for icmp)")
	}
	bfds := 0
	for i, c := range h.Checks {
		path := fmt.Sprintf("router.health.checks[%d]", i)
		var kinds []string
		var rc RouterCheck
		if c.TCP != nil {
			kinds = append(kinds, "tcp")
			rc = RouterCheck{Kind: "tcp", Port: c.TCP.Port}
			checkPort(p, path+".tcp.port", c.TCP.Port)
		}
		if c.ICMP != nil {
			kinds = append(kinds, "icmp")
			rc = RouterCheck{Kind: "icmp"}
		}
		if c.HTTP != nil {
			kinds = append(kinds, "http")
			rc = RouterCheck{Kind: "http", Port: c.HTTP.Port, Path: c.HTTP.Path, Status: c.HTTP.Status}
			checkPort(p, path+".http.port", c.HTTP.Port)
			if !strings.HasPrefix(c.HTTP.Path, "/") {
				p.addf(path+".http.path", "%q must start with /", c.HTTP.Path)
			}
			if c.HTTP.Status < 100 || c.HTTP.Status > 599 {
				p.addf(path+".http.status", "%d is not an HTTP status", c.HTTP.Status)
			}
		}
		if b := c.BFD; b != nil {
			kinds = append(kinds, "bfd")
			bfds++
			validateBFDTimers(p, path+".bfd", b.MinTx.D(), b.MinRx.D(), b.Multiplier)
			rc = RouterCheck{Kind: "bfd", BFD: BFDTimers{MinTx: b.MinTx.D(), MinRx: b.MinRx.D(), Multiplier: b.Multiplier}}
			if b.LocalAddress != "" {
				rc.Local = parseAddr(p, path+".bfd.local_address", b.LocalAddress, 0)
			}
		}
		if len(kinds) != 1 {
			p.addf(path, "set exactly one of tcp, icmp, http, bfd (found %d: %v; write icmp as `icmp: {}`)", len(kinds), kinds)
			continue
		}
		m.Checks = append(m.Checks, rc)
	}
	if bfds > 1 {
		p.addf("router.health.checks", "at most one bfd check (one BFD session per host)")
	}
	return m
}

func checkPort(p *problems, path string, port int) {
	if port < 1 || port > 65535 {
		p.addf(path, "%d: must be 1..65535", port)
	}
}

// parseCIDROrIP accepts a CIDR, or an address for its host route, as
// vpc-router's --ignore_routes did.
func parseCIDROrIP(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an IP address", s)
	}
	if pfx != pfx.Masked() {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set (did you mean %s?)", s, pfx.Masked())
	}
	return pfx, nil
}
