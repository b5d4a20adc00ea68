package agent

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const routerConfig = `
router:
  region: us-east-1
  vpc_id: vpc-0123456789abcdef0
  routes:
    "10.55.0.0/16": [10.33.20.142, 10.33.30.22]
`

func TestRouterConfigDefaults(t *testing.T) {
	cfg, m, err := Load([]byte(routerConfig))
	if err != nil {
		t.Fatal(err)
	}
	if !m.RouterOnly || m.ReconcileOnly {
		t.Errorf("RouterOnly %v ReconcileOnly %v", m.RouterOnly, m.ReconcileOnly)
	}
	rm := m.Router
	h := rm.Health
	if rm.Interval != 5*time.Second || h.Interval != 2*time.Second || h.Timeout != time.Second || h.Fall != 2 || h.FailedHold != 20*time.Second {
		t.Errorf("defaults: interval %s, health %+v", rm.Interval, h)
	}
	if len(h.Checks) != 1 || h.Checks[0].Kind != "icmp" {
		t.Errorf("default checks %+v, want icmp (vpc-router's default)", h.Checks)
	}
	if rm.Tables != nil || !cfg.Router.RouteTables.Auto {
		t.Errorf("route_tables default is auto: %v", rm.Tables)
	}
	if rm.MutatingBurst != 50 || rm.MutatingPerSecond != 5 {
		t.Errorf("mutating_rate %d/%g", rm.MutatingBurst, rm.MutatingPerSecond)
	}
	if hosts := rm.Routes[netip.MustParsePrefix("10.55.0.0/16")]; len(rm.Routes) != 1 || len(hosts) != 2 || hosts[0].String() != "10.33.20.142" {
		t.Errorf("inline routes %v", rm.Routes)
	}
	t.Run("failed_hold follows health.interval", func(t *testing.T) {
		_, m, err := Load([]byte(routerConfig + "  health: {interval: 500ms}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if m.Router.Health.FailedHold != 5*time.Second || m.Router.Health.Timeout != 500*time.Millisecond {
			t.Errorf("health %+v", m.Router.Health)
		}
	})
	t.Run("bfd timers come from bfd.defaults", func(t *testing.T) {
		_, m, err := Load([]byte(routerConfig + "  health: {checks: [{bfd: {min_tx: 100ms}}]}\nbfd: {defaults: {min_rx: 200ms, multiplier: 5}}\n"))
		if err != nil {
			t.Fatal(err)
		}
		c := m.Router.Health.Checks[0]
		if c.Kind != "bfd" || c.BFD.MinTx != 100*time.Millisecond || c.BFD.MinRx != 200*time.Millisecond || c.BFD.Multiplier != 5 {
			t.Errorf("bfd check %+v", c)
		}
	})
	t.Run("the effective config round-trips", func(t *testing.T) {
		y, err := cfg.YAML()
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := Load(y); err != nil {
			t.Fatalf("%v\n%s", err, y)
		}
	})
}

func TestRouterConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	badSpec := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badSpec, []byte(`{"10.55.0.1/16": ["10.0.0.1"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	goodSpec := filepath.Join(dir, "good.json")
	if err := os.WriteFile(goodSpec, []byte(`{"10.55.0.0/16": ["10.0.0.1"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	base := strings.Replace(routerConfig, "  routes:\n    \"10.55.0.0/16\": [10.33.20.142, 10.33.30.22]\n", "", 1)
	tests := []struct {
		name, yaml, field, say string
	}{
		{"no region", strings.Replace(base, "  region: us-east-1\n", "", 1), "router.region", "required"},
		{"a bad VPC id", strings.Replace(base, "vpc-0123456789abcdef0", "vpc-xyz", 1), "router.vpc_id", "not a VPC id"},
		{"an inline CIDR with host bits", routerConfig + `    "10.66.0.1/16": [10.0.0.1]` + "\n", `router.routes["10.66.0.1/16"]`, "host bits"},
		{"an inline host that is not an address", routerConfig + `    "10.66.0.0/16": [10.0.0.300]` + "\n", `router.routes["10.66.0.0/16"][0]`, "not an IP address"},
		{"an inline host listed twice", routerConfig + `    "10.66.0.0/16": [10.0.0.1, 10.0.0.1]` + "\n", "router.routes", "listed twice"},
		{"a spec file with a bad CIDR", base + "  route_spec_file: " + badSpec + "\n", "router.route_spec_file", `"10.55.0.1/16" has host bits`},
		{"a missing spec file", base + "  route_spec_file: " + filepath.Join(dir, "none.json") + "\n", "router.route_spec_file", "must exist at start"},
		{"a relative spec file", base + "  route_spec_file: spec.json\n", "router.route_spec_file", "absolute path"},
		{"both spec sources", routerConfig + "  route_spec_file: " + goodSpec + "\n", "router.routes", "not both"},
		{"an unknown check key", base + "  health: {checks: [{tcp: {port: 22, host: x}}]}\n", "router.health.checks[0].tcp.host", "unknown key"},
		{"a check with two kinds", base + "  health: {checks: [{tcp: {port: 22}, icmp: {}}]}\n", "router.health.checks[0]", "exactly one of"},
		{"icmp written without {}", base + "  health: {checks: [{icmp: }]}\n", "router.health.checks[0]", "icmp: {}"},
		{"an empty check list", base + "  health: {checks: []}\n", "router.health.checks", "at least one check"},
		{"a tcp port out of range", base + "  health: {checks: [{tcp: {port: 70000}}]}\n", "router.health.checks[0].tcp.port", "1..65535"},
		{"an http path without /", base + "  health: {checks: [{http: {port: 80, path: health}}]}\n", "router.health.checks[0].http.path", "must start with /"},
		{"bfd timers too short", base + "  health: {checks: [{bfd: {min_tx: 1ms}}]}\n", "router.health.checks[0].bfd.min_tx", "10ms"},
		{"two bfd checks", base + "  health: {checks: [{bfd: {}}, {bfd: {}}]}\n", "router.health.checks", "at most one bfd"},
		{"fall 0 stays the default, fall 200 is refused", base + "  health: {fall: 200}\n", "router.health.fall", "1..100"},
		{"a bad ignore route", base + "  ignore_routes: [10.0.0.1/8]\n", "router.ignore_routes[0]", "host bits"},
		{"a bad route table id", base + "  route_tables: [rtb-1]\n", "router.route_tables[0]", "not a route table id"},
		{"an interval under 1s", base + "  interval: 500ms\n", "router.interval", "at least 1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			if !strings.Contains(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), tc.say) {
				t.Errorf("error %q does not name %q saying %q", err, tc.field, tc.say)
			}
		})
	}
	t.Run("ignore_routes takes an address as its host route", func(t *testing.T) {
		_, m, err := Load([]byte(base + "  ignore_routes: [10.0.0.1, 2001:db8::/32]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Router.Ignore; len(got) != 2 || got[0].String() != "10.0.0.1/32" {
			t.Errorf("ignore %v", got)
		}
	})
}

func TestRunAndRouterRefuseEachOthersConfig(t *testing.T) {
	_, m, err := Load([]byte(routerConfig))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(m, Options{}); err == nil || !IsConfigError(err) || !strings.Contains(err.Error(), "rsagent router") {
		t.Errorf("New with a router config: %v", err)
	}
	_, m, err = Load([]byte(validConfig + routerConfig))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(m, Options{}); err == nil || !strings.Contains(err.Error(), "not inside `rsagent run`") {
		t.Errorf("New with bgp and a router section: %v", err)
	}
	if _, err := NewRouter(t.Context(), m, Options{}); err == nil || !IsConfigError(err) {
		t.Errorf("NewRouter with bgp and a router section: %v", err)
	}
}
