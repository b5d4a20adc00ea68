package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rsagent/rsagent/internal/vpcsim"
	"github.com/rsagent/rsagent/routetable"
)

// execute runs the CLI in-process and returns stdout, stderr and the exit
// code main would use.
func execute(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCmd(&out, &errb)
	cmd.SetArgs(args)
	err := cmd.Execute()
	code := 0
	if err != nil {
		code = 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		fmt.Fprintln(&errb, err)
	}
	return out.String(), errb.String(), code
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const minimal = `
bgp:
  asn: 65010
  local_address: 198.51.100.10
  peers: [{address: 198.51.100.230, asn: 65000}]
services:
  - name: voice
    prefixes: [203.0.113.10/32]
`

func TestConfigCheck(t *testing.T) {
	tests := []struct {
		name, yaml string
		code       int
		say        string
	}{
		{"a valid file prints the effective config", minimal, 0, "hold_time: 1m30s"},
		{"a bad CIDR exits 2 naming the field", strings.Replace(minimal, "203.0.113.10/32", "203.0.113.300/32", 1), 2, "services[0].prefixes[0]"},
		{"ASN 0 exits 2", strings.Replace(minimal, "asn: 65010", "asn: 0", 1), 2, "bgp.asn"},
		{"an unknown key exits 2", minimal + "extra: 1\n", 2, "extra: unknown key"},
		{"missing peers exit 2", strings.Replace(minimal, "  peers: [{address: 198.51.100.230, asn: 65000}]\n", "", 1), 2, "bgp.peers"},
		{"a duplicate prefix exits 2", minimal + "  - {name: video, prefixes: [203.0.113.10/32]}\n", 2, "already announced"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := execute(t, "config", "check", "-c", writeFile(t, "c.yaml", tc.yaml))
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out+errOut, tc.say) {
				t.Errorf("output lacks %q:\n%s%s", tc.say, out, errOut)
			}
		})
	}
	t.Run("json output is the effective config", func(t *testing.T) {
		out, _, code := execute(t, "config", "check", "-o", "json", "-c", writeFile(t, "c.yaml", minimal))
		var v map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["bgp"] == nil {
			t.Fatalf("exit %d, output %s", code, out)
		}
	})
	t.Run("a missing file exits 2", func(t *testing.T) {
		if _, _, code := execute(t, "config", "check", "-c", "/nonexistent/rsagent.yaml"); code != 2 {
			t.Fatalf("exit %d", code)
		}
	})
	t.Run("an unknown flag exits 2", func(t *testing.T) {
		if _, _, code := execute(t, "status", "--bogus"); code != 2 {
			t.Fatalf("exit %d", code)
		}
	})
	t.Run("a bad output format exits 2", func(t *testing.T) {
		if _, _, code := execute(t, "config", "check", "-o", "xml", "-c", writeFile(t, "c.yaml", minimal)); code != 2 {
			t.Fatalf("exit %d", code)
		}
	})
}

// TestReconcileOnceDryRun runs `rsagent reconcile --once --dry-run -o json`
// against the EC2 emulator: the plan is printed, EC2 sees DryRun calls, and
// nothing is written.
func TestReconcileOnceDryRun(t *testing.T) {
	for k, v := range vpcsim.OfflineAWSEnv() {
		t.Setenv(k, v)
	}
	vpc := vpcsim.NewVPC("vpc-0123456789abcdef0", netip.MustParsePrefix("10.0.0.0/16"))
	custom := vpc.AddRouteTable()
	eni := vpc.AddNetworkInterface(netip.MustParseAddr("10.0.1.10"))
	if err := vpc.PutRoute(vpc.MainTableID(), vpcsim.Route{Destination: netip.MustParsePrefix("203.0.113.10/32"),
		NetworkInterface: eni, IPAddress: "10.0.1.10", Origin: vpcsim.OriginAdvertisement, State: "active"}); err != nil {
		t.Fatal(err)
	}
	srv := vpcsim.NewServer(vpc, vpcsim.Options{})
	url, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg := writeFile(t, "c.yaml", minimal+fmt.Sprintf("reconcile: {region: us-east-1, vpc_id: vpc-0123456789abcdef0, endpoint: %q}\n", url))

	out, errOut, code := execute(t, "reconcile", "--once", "--dry-run", "-o", "json", "-c", cfg)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var res routetable.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !res.DryRun || len(res.Changes) != 1 || res.Changes[0].Table != custom {
		t.Fatalf("want one planned change in %s, got %+v", custom, res)
	}
	if m := srv.Mutations(); len(m) != 0 {
		t.Fatalf("dry run wrote %d routes", len(m))
	}
	dry := 0
	for _, r := range srv.Log() {
		if r.DryRun() {
			dry++
		}
	}
	if dry == 0 {
		t.Error("EC2 saw no DryRun call: the permission check was skipped")
	}
	if _, _, code := execute(t, "reconcile", "--once", "-c", writeFile(t, "n.yaml", minimal)); code != 2 {
		t.Errorf("reconcile without a reconcile section: exit %d, want 2", code)
	}
}

func TestAReconcileOnlyConfigRunsOnlyWithReconcile(t *testing.T) {
	cfg := writeFile(t, "r.yaml", "reconcile: {region: us-east-1, vpc_id: vpc-0123456789abcdef0}\nhttp: {listen: \"\"}\n")
	if out, errOut, code := execute(t, "config", "check", "-c", cfg); code != 0 {
		t.Fatalf("config check: exit %d\n%s%s", code, out, errOut)
	}
	_, errOut, code := execute(t, "run", "-c", cfg)
	if code != 2 || !strings.Contains(errOut, "rsagent reconcile") {
		t.Fatalf("run with a reconcile-only config: exit %d, want 2 pointing at rsagent reconcile\n%s", code, errOut)
	}
}
