package lab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"text/template"
	"time"

	"github.com/rsagent/rsagent/agent"
	"github.com/rsagent/rsagent/internal/loophost"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

// Direct mode runs in a VPC of its own, without Route Server: a router and
// two hosts on loopback.
var (
	directHosts  = []netip.Addr{netip.MustParseAddr("127.0.0.20"), netip.MustParseAddr("127.0.0.21")}
	directPrefix = netip.MustParsePrefix("198.51.100.0/24")
)

const directVPCID = "vpc-0000000000000d1ec"

// The router's config is plain rsagent YAML, as `rsagent router` runs it.
var routerTemplate = template.Must(template.New("router").Parse(`router:
  region: us-east-1
  vpc_id: {{.VPCID}}
  endpoint: {{.Endpoint}}
  routes:
    "{{.Prefix}}": [{{range $i, $h := .Hosts}}{{if $i}}, {{end}}{{$h}}{{end}}]
  interval: 1s
  health:
    interval: {{.Opts.DirectInterval}}
    timeout: {{.Opts.DirectInterval}}
    fall: {{.Opts.DirectFall}}
    failed_hold: 2s
    checks:
      - tcp: {port: {{.Port}}}
http:
  listen: ""
log:
  level: warn
`))

func directScenario(o Options) Result {
	d := o.DirectInterval * time.Duration(o.DirectFall)
	return Result{
		Scenario:   "direct mode: a host dies",
		Fault:      "host A's service (the router's tcp check) stops; rsagent router moves every table to host B",
		SwitchedTo: "host B",
		Expected: fmt.Sprintf("check interval x fall = %s x %d = %s + a pass (both tables in it)",
			o.DirectInterval, o.DirectFall, d),
		MainBudget:   d + 300*time.Millisecond,
		CustomBudget: d + 400*time.Millisecond,
	}
}

// runDirect builds direct mode's own VPC, runs a router against it with two
// hosts, kills host A and times every table moving to host B.
func runDirect(ctx context.Context, opts Options) (res Result, err error) {
	res = directScenario(opts)
	defer func() {
		if err != nil {
			res.Error = err.Error()
		}
	}()
	w := vpcWatch{vpc: vpcsim.NewVPC(directVPCID, netip.MustParsePrefix("10.1.0.0/16")), failed: make(chan error, 2)}
	custom := []string{w.vpc.AddRouteTable(), w.vpc.AddRouteTable()}
	enis := []string{w.vpc.AddNetworkInterface(directHosts[0]), w.vpc.AddNetworkInterface(directHosts[1])}
	port, err := loophost.StablePort("tcp", directHosts...)
	if err != nil {
		return res, err
	}
	var hosts []*loophost.Listener
	defer func() {
		for _, h := range hosts {
			h.Close()
		}
	}()
	for _, a := range directHosts {
		h, err := loophost.Open(netip.AddrPortFrom(a, port))
		if err != nil {
			return res, err
		}
		hosts = append(hosts, h)
	}
	ec2 := vpcsim.NewServer(w.vpc, vpcsim.Options{})
	url, err := ec2.Start()
	if err != nil {
		return res, err
	}
	defer ec2.Close()

	var y bytes.Buffer
	if err := routerTemplate.Execute(&y, map[string]any{"VPCID": directVPCID, "Endpoint": url, "Prefix": directPrefix,
		"Hosts": directHosts, "Port": port, "Opts": opts}); err != nil {
		return res, fmt.Errorf("render the router's config: %w", err)
	}
	_, m, err := agent.Load(y.Bytes())
	if err != nil {
		return res, fmt.Errorf("load the router's config: %w", err)
	}
	r, err := agent.NewRouter(ctx, m, agent.Options{Logger: opts.Logger.With("agent", "router")})
	if err != nil {
		return res, fmt.Errorf("build the router: %w", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(rctx); err != nil {
			w.fail(fmt.Errorf("router: %w", err))
		}
	}()
	defer func() {
		cancel()
		<-done
	}()

	tables := append([]string{w.vpc.MainTableID()}, custom...)
	on := func(ids []string, eni string) func() bool {
		return func() bool {
			for _, id := range ids {
				if !routesTo(w.vpc, id, directPrefix, eni) {
					return false
				}
			}
			return true
		}
	}
	if err := w.waitFor(ctx, 15*time.Second, "the router to program every table to host A", on(tables, enis[0])); err != nil {
		return res, err
	}
	opts.Progress(fmt.Sprintf("direct mode: rsagent router, hosts %s and %s (tcp port %d), VPC %s without Route Server: every table on host A",
		directHosts[0], directHosts[1], port, directVPCID))
	t0 := time.Now()
	hosts[0].Close()
	res.Main, res.Custom, err = w.measure(ctx, t0, opts.ScenarioTimeout, on(tables[:1], enis[1]), on(custom, enis[1]))
	return res, err
}
