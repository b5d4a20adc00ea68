package agent

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/routetable"
)

const validConfig = `
bgp:
  asn: 65010
  local_address: 198.51.100.1
  peers:
    - address: 198.51.100.2
      asn: 65000
      bfd: {enabled: true, min_tx: 100ms}
services:
  - name: voice
    prefixes: [203.0.113.10/32]
    health:
      checks:
        - tcp: 127.0.0.1:5060
`

func TestLoadFillsDefaults(t *testing.T) {
	cfg, m, err := Load([]byte(validConfig))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := cfg.BGP.RouterID; got != "198.51.100.1" {
		t.Errorf("router_id defaults to local_address: got %q", got)
	}
	if *cfg.BGP.GRPCListen != "127.0.0.1:50051" || *cfg.HTTP.Listen != "127.0.0.1:9179" {
		t.Errorf("listen defaults: grpc %q http %q", *cfg.BGP.GRPCListen, *cfg.HTTP.Listen)
	}
	p := m.BGP.Peers[0]
	if p.Port != 179 || p.HoldTime != 90*time.Second {
		t.Errorf("peer defaults: port %d hold %s", p.Port, p.HoldTime)
	}
	if p.BFD == nil || p.BFD.MinTx != 100*time.Millisecond || p.BFD.MinRx != 300*time.Millisecond || p.BFD.Multiplier != 3 {
		t.Errorf("peer bfd: per-peer min_tx kept, the rest from bfd.defaults: %+v", p.BFD)
	}
	s := m.Services[0]
	if !s.Unhealthy.Withdraw {
		t.Errorf("when_unhealthy defaults to withdraw")
	}
	h := s.Health
	if h.Interval != 2*time.Second || h.FastInterval != 500*time.Millisecond || h.Timeout != time.Second || h.Rise != 3 || h.Fall != 3 {
		t.Errorf("health defaults: %+v", h)
	}
	if h.Name != "voice" || len(h.Checks) != 1 || h.Checks[0].String() != "tcp 127.0.0.1:5060" {
		t.Errorf("the model's health spec is not complete: %+v", h)
	}
	if m.BFDPort != 3784 {
		t.Errorf("bfd.port default: %d", m.BFDPort)
	}
	if sc := speakerConfig(m, slog.New(slog.DiscardHandler)); sc.ListenPort != -1 {
		t.Errorf("without bgp.listen_port the speaker listens on %d, want -1 (not at all)", sc.ListenPort)
	}
	_, m, err = Load([]byte(strings.Replace(validConfig, "bgp:\n", "bgp:\n  listen_port: 1179\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if sc := speakerConfig(m, slog.New(slog.DiscardHandler)); sc.ListenPort != 1179 {
		t.Errorf("bgp.listen_port 1179 gives the speaker ListenPort %d", sc.ListenPort)
	}
}

func TestLoadRejectsBadConfigsNamingTheField(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		field string // the error must name this path
		say   string // and contain this
	}{
		{"a bad CIDR", strings.Replace(validConfig, "203.0.113.10/32", "203.0.113.300/32", 1),
			"services[0].prefixes[0]", "is not a CIDR"},
		{"host bits in a prefix", strings.Replace(validConfig, "203.0.113.10/32", "203.0.113.10/24", 1),
			"services[0].prefixes[0]", "host bits"},
		{"ASN 0", strings.Replace(validConfig, "asn: 65010", "asn: 0", 1), "bgp.asn", "1..4294967295"},
		{"a negative ASN", strings.Replace(validConfig, "asn: 65010", "asn: -1", 1), "bgp.asn", "whole number"},
		{"a peer ASN of 0", strings.Replace(validConfig, "asn: 65000", "asn: 0", 1), "bgp.peers[0].asn", "required"},
		{"an unknown key", strings.Replace(validConfig, "    health:", "    helth:\n      rise: 2\n    health:", 1),
			"services[0].helth", "unknown key"},
		{"an unknown top-level key", validConfig + "bgpp: {}\n", "bgpp", "unknown key"},
		{"no peers", strings.Replace(validConfig, `  peers:
    - address: 198.51.100.2
      asn: 65000
      bfd: {enabled: true, min_tx: 100ms}
`, "", 1), "bgp.peers", "at least one peer"},
		{"a duplicate prefix across services", validConfig + `  - name: video
    prefixes: [203.0.113.10/32]
`, "services[1].prefixes[0]", "already announced by services[0].prefixes[0] (voice)"},
		{"a duplicate service name", validConfig + `  - name: voice
    prefixes: [203.0.113.11/32]
`, "services[1].name", "already services[0]"},
		{"a bare-number duration", strings.Replace(validConfig, "min_tx: 100ms", "min_tx: 100", 1),
			"bgp.peers[0].bfd.min_tx", "not a duration"},
		{"a bad value inside a one-line mapping names its own field", strings.Replace(validConfig, "bfd: {enabled: true, min_tx: 100ms}", "bfd: {enabled: true, multiplier: 300, min_tx: 100ms}", 1),
			"bgp.peers[0].bfd.multiplier", "whole number"},
		{"a bad duration inside a one-line mapping names its own field", strings.Replace(validConfig, "bfd: {enabled: true, min_tx: 100ms}", "bfd: {min_tx: 100, enabled: true}", 1),
			"bgp.peers[0].bfd.min_tx", "not a duration"},
		{"a peer address that is not IPv4", strings.Replace(validConfig, "address: 198.51.100.2", "address: 2001:db8::2", 1),
			"bgp.peers[0].address", "not an IPv4"},
		{"an IPv6 prefix without local_address_v6", strings.Replace(validConfig, "203.0.113.10/32", "2001:db8::/48", 1),
			"services[0].prefixes[0]", "local_address_v6"},
		{"a check with two kinds", strings.Replace(validConfig, "- tcp: 127.0.0.1:5060", "- {tcp: \"127.0.0.1:5060\", file: /tmp/x}", 1),
			"services[0].health.checks[0]", "exactly one"},
		{"a bad when_unhealthy", strings.Replace(validConfig, "    health:", "    when_unhealthy: drop\n    health:", 1),
			"services[0].when_unhealthy", "want withdraw"},
		{"when_unhealthy that is not worse", strings.Replace(validConfig, "    health:", "    med: 100\n    when_unhealthy: {med: 50}\n    health:", 1),
			"services[0].when_unhealthy", "worse"},
		{"a hold time under 3s", strings.Replace(validConfig, "      asn: 65000", "      asn: 65000\n      hold_time: 2s", 1),
			"bgp.peers[0].hold_time", "3s"},
		{"a list where a mapping belongs", strings.Replace(validConfig, "bgp:", "http: []\nbgp:", 1), "http", "expected a mapping"},
		{"a bad VPC id", validConfig + "reconcile: {region: us-east-1, vpc_id: vpc-xyz}\n", "reconcile.vpc_id", "not a VPC id"},
		{"a bad origin", validConfig + "reconcile: {region: us-east-1, vpc_id: vpc-0123456789abcdef0, origins: [Static]}\n",
			"reconcile.origins[0]", "Advertisement"},
		{"a bad network interface id", validConfig + "reconcile: {region: us-east-1, vpc_id: vpc-0123456789abcdef0, network_interface_ids: [eni-1]}\n",
			"reconcile.network_interface_ids[0]", "not a network interface id"},
		{"defer_others that is neither a duration nor never", validConfig + "reconcile: {region: us-east-1, vpc_id: vpc-0123456789abcdef0, defer_others: always}\n",
			"reconcile.defer_others", "or never"},
		{"defer_others of an hour", validConfig + "reconcile: {region: us-east-1, vpc_id: vpc-0123456789abcdef0, defer_others: 1h}\n",
			"reconcile.defer_others", "at most 10m0s"},
		{"an ignore_routes entry with host bits", validConfig + "reconcile: {region: us-east-1, vpc_id: vpc-0123456789abcdef0, ignore_routes: [198.51.100.1/24]}\n",
			"reconcile.ignore_routes[0]", "without host bits"},
		{"an empty file", "", "", "empty"},
		{"not YAML", "bgp: [\n", "", "yaml"},
	}
	for _, tc := range tests {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			_, _, err := Load([]byte(tc.yaml))
			if err == nil {
				t.Fatal("Load accepted it")
			}
			if !IsConfigError(err) {
				t.Fatalf("want a ConfigError (exit 2), got %T: %v", err, err)
			}
			msg := err.Error()
			if tc.field != "" && !strings.Contains(msg, tc.field+": ") {
				t.Errorf("error does not name %q:\n%s", tc.field, msg)
			}
			if !strings.Contains(msg, tc.say) {
				t.Errorf("error does not say %q:\n%s", tc.say, msg)
			}
		})
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	bad := strings.NewReplacer("asn: 65010", "asn: 0", "203.0.113.10/32", "nope").Replace(validConfig)
	_, _, err := Load([]byte(bad))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"bgp.asn: ", "services[0].prefixes[0]: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%s", want, err)
		}
	}
}

func TestExampleConfigsAreValid(t *testing.T) {
	files, err := filepath.Glob("../deploy/examples/*.yaml")
	if err != nil || len(files) < 6 {
		t.Fatalf("found %d example configs, want the 6 of deploy/examples (%v)", len(files), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f)+" validates", func(t *testing.T) {
			if _, _, err := LoadFile(f); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEffectiveConfigRoundTrips(t *testing.T) {
	cfg, m1, err := Load([]byte(validConfig + "    when_unhealthy: {as_path_prepend: 6}\n"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	_, m2, err := Load(out)
	if err != nil {
		t.Fatalf("the effective config does not load again: %v\n%s", err, out)
	}
	if m2.Services[0].Unhealthy.ASPathPrepend != 6 || m1.Services[0].Unhealthy != m2.Services[0].Unhealthy {
		t.Errorf("when_unhealthy lost in the round trip: %+v vs %+v", m1.Services[0].Unhealthy, m2.Services[0].Unhealthy)
	}
}

func TestAPIKeyFileMustHoldAKey(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load([]byte(validConfig + "http: {api_key_file: " + short + "}\n"))
	if err == nil || !strings.Contains(err.Error(), "http.api_key_file: ") {
		t.Fatalf("want an http.api_key_file error, got %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(validConfig))
	f.Add([]byte("bgp: {asn: 1}\n"))
	f.Add([]byte("services: [{name: a, when_unhealthy: {med: 5}}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, m, err := Load(data)
		if err != nil {
			if !IsConfigError(err) {
				t.Fatalf("a bad config must be a ConfigError, got %T: %v", err, err)
			}
			return
		}
		if m == nil || cfg == nil {
			t.Fatal("no error but no model")
		}
		// A valid config's effective form must load to the same model.
		out, err := cfg.YAML()
		if err != nil {
			t.Fatalf("marshal effective config: %v", err)
		}
		if _, _, err := Load(out); err != nil {
			t.Fatalf("effective config does not reload: %v\n%s", err, out)
		}
	})
}

func TestLoadAcceptsYAMLMergeKeys(t *testing.T) {
	cfg := validConfig + `  - name: video
    prefixes: [203.0.113.11/32]
    health:
      <<: *h
      rise: 1
`
	cfg = strings.Replace(cfg, "    health:\n      checks:", "    health: &h\n      interval: 3s\n      checks:", 1)
	_, m, err := Load([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if h := m.Services[1].Health; h.Interval != 3*time.Second || h.Rise != 1 || len(h.Checks) != 1 {
		t.Errorf("merged health: %+v", h)
	}
	bad := strings.Replace(cfg, "interval: 3s", "intervall: 3s", 1)
	if _, _, err := Load([]byte(bad)); err == nil || !strings.Contains(err.Error(), "intervall: unknown key") {
		t.Errorf("an unknown key inside an anchor must be named: %v", err)
	}
}

func TestReconcileOwnershipKeys(t *testing.T) {
	const section = "reconcile:\n  region: us-east-1\n  vpc_id: vpc-0123456789abcdef0\n"
	load := func(t *testing.T, extra string) (*Config, *ReconcileModel) {
		t.Helper()
		cfg, m, err := Load([]byte(validConfig + section + extra))
		if err != nil {
			t.Fatal(err)
		}
		return cfg, m.Reconcile
	}
	t.Run("by default other appliances get 2s and the command decides whose ENIs are ours", func(t *testing.T) {
		_, m := load(t, "")
		if m.DeferOthers != 2*time.Second || m.ENIsConfigured || len(m.IgnoreRoutes) != 0 {
			t.Errorf("model %+v", m)
		}
	})
	t.Run("never, 0s and an explicit list are kept apart from the defaults", func(t *testing.T) {
		_, m := load(t, "  defer_others: never\n  network_interface_ids: [eni-0123456789abcdef0]\n  ignore_routes: [198.51.100.0/24]\n")
		if m.DeferOthers != routetable.DeferNever || !m.ENIsConfigured || len(m.NetworkInterfaceIDs) != 1 ||
			len(m.IgnoreRoutes) != 1 || m.IgnoreRoutes[0] != netip.MustParsePrefix("198.51.100.0/24") {
			t.Errorf("model %+v", m)
		}
		_, m = load(t, "  defer_others: 0s\n  network_interface_ids: []\n")
		if m.DeferOthers != 0 || !m.ENIsConfigured || len(m.NetworkInterfaceIDs) != 0 {
			t.Errorf("model %+v", m)
		}
	})
	t.Run("the effective config round-trips them", func(t *testing.T) {
		for _, extra := range []string{"", "  defer_others: never\n  network_interface_ids: []\n", "  defer_others: 500ms\n"} {
			cfg, m1 := load(t, extra)
			out, err := cfg.YAML()
			if err != nil {
				t.Fatal(err)
			}
			_, m2, err := Load(out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if m1.DeferOthers != m2.Reconcile.DeferOthers || m1.ENIsConfigured != m2.Reconcile.ENIsConfigured {
				t.Errorf("%q: %+v became %+v\n%s", extra, m1, m2.Reconcile, out)
			}
		}
	})
}
