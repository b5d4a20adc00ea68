package lab

import (
	"bytes"
	"fmt"
	"net/netip"
	"text/template"
	"time"
)

// agentSpec is what differs between the two agents' config files.
type agentSpec struct {
	Name          string
	ASN           uint32
	Local         netip.Addr
	Endpoints     []netip.Addr
	BGPPort       uint16
	BFD           bool
	BFDPort       int
	BFDInterval   time.Duration
	BFDMultiplier uint8
	Prepend       int
	HealthAddr    string
	Opts          Options
	VPCID         string
	EC2Endpoint   string
}

// The config is plain rsagent YAML, as a user would write it: the lab runs
// what `rsagent run` runs. http and the GoBGP gRPC API are off so that
// nothing but loopback BGP/BFD and the health listener is opened.
var agentTemplate = template.Must(template.New("agent").Parse(`bgp:
  asn: {{.ASN}}
  local_address: {{.Local}}
  grpc_listen: ""
  peers:
{{- range .Endpoints}}
    - address: {{.}}
      asn: 65000
      port: {{$.BGPPort}}
      hold_time: 9s
      connect_retry: 1s
      bfd: {enabled: {{$.BFD}}{{if $.BFD}}, min_tx: {{$.BFDInterval}}, min_rx: {{$.BFDInterval}}, multiplier: {{$.BFDMultiplier}}{{end}}}
{{- end}}
bfd:
  port: {{.BFDPort}}
services:
  - name: lab-{{.Name}}
    prefixes: [{{.Opts.Prefix}}]
    as_path_prepend: {{.Prepend}}
    when_unhealthy: withdraw
    health:
      interval: {{.Opts.HealthInterval}}
      fast_interval: {{.Opts.HealthFastInterval}}
      timeout: {{.Opts.HealthTimeout}}
      rise: {{.Opts.Rise}}
      fall: {{.Opts.Fall}}
      checks:
        - tcp: {{.HealthAddr}}
reconcile:
  region: us-east-1
  vpc_id: {{.VPCID}}
  endpoint: {{.EC2Endpoint}}
  interval: {{.Opts.ReconcileInterval}}
  source_route_table: main
  target_route_tables: auto
http:
  listen: ""
log:
  level: warn
`))

func (s agentSpec) yaml() ([]byte, error) {
	var b bytes.Buffer
	if err := agentTemplate.Execute(&b, s); err != nil {
		return nil, fmt.Errorf("render the %s agent's config: %w", s.Name, err)
	}
	return b.Bytes(), nil
}
