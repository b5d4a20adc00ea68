package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/agent"
	"github.com/rsagent/rsagent/internal/loophost"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

const testVPC = "vpc-0123456789abcdef0"

func TestRouterFlagForm(t *testing.T) {
	spec := writeFile(t, "spec.json", `{"10.55.0.0/16": ["10.33.20.142", "10.33.30.22"]}`)
	t.Run("the issue's command line makes a tcp-checked router", func(t *testing.T) {
		out, errOut, code := execute(t, "router", "--route-spec", spec, "--region", "us-east-1", "--vpc-id", testVPC, "--tcp-port", "22", "--print-config")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		cfg, m, err := agent.Load([]byte(out))
		if err != nil {
			t.Fatalf("the printed config does not load: %v\n%s", err, out)
		}
		if m.Router.SpecFile != spec || m.Router.Region != "us-east-1" || len(m.Router.Health.Checks) != 1 || m.Router.Health.Checks[0].Port != 22 {
			t.Errorf("config %+v from\n%s", m.Router, out)
		}
		if cfg.BGP.ASN != 0 || len(cfg.Services) != 0 {
			t.Error("the flag form made a speaker config")
		}
	})
	t.Run("vpc-router's own command line works", func(t *testing.T) {
		out, errOut, code := execute(t, "router", "-m", "configfile", "-f", spec, "-r", "us-east-1", "-v", testVPC,
			"--health", "multi", "--multi_plugins", "icmpecho:tcp", "--tcp_check_port", "22", "--tcp_check_interval", "5",
			"--route_recheck_interval", "30", "--ignore_routes", "10.99.0.0/16,10.98.0.1", "-a", "localhost", "-p", "33289",
			"--verbose", "-l", "-", "--print-config")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		_, m, err := agent.Load([]byte(out))
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		rm := m.Router
		if m.HTTP.Listen != "127.0.0.1:33289" || m.Log.Level != "debug" {
			t.Errorf("listen %q, log level %q", m.HTTP.Listen, m.Log.Level)
		}
		kinds := []string{}
		for _, c := range rm.Health.Checks {
			kinds = append(kinds, c.Kind)
		}
		if rm.Interval != 30*time.Second || rm.Health.Interval != 5*time.Second || rm.Health.FailedHold != 50*time.Second ||
			strings.Join(kinds, ",") != "icmp,tcp" || len(rm.Ignore) != 2 {
			t.Errorf("interval %s, health %+v, ignore %v", rm.Interval, rm.Health, rm.Ignore)
		}
	})
	tests := []struct {
		name string
		args []string
		say  string
	}{
		{"a bad spec file names the CIDR", []string{"router", "--route-spec", writeFile(t, "bad.json", `{"10.55.0.1/16": ["10.0.0.1"]}`),
			"--region", "us-east-1", "--vpc-id", testVPC}, `"10.55.0.1/16" has host bits`},
		{"tcp without a port", []string{"router", "-f", spec, "-r", "us-east-1", "-v", testVPC, "--health", "tcp"}, "--tcp-port"},
		{"an unknown health plugin", []string{"router", "-f", spec, "-r", "us-east-1", "-v", testVPC, "--health", "ping"}, "icmpecho, tcp and multi"},
		{"configfile mode without a file", []string{"router", "-m", "configfile", "-r", "us-east-1", "-v", testVPC}, "needs --route-spec"},
		{"a bad inline route", []string{"router", "--route", "10.0.0.0/8", "-r", "us-east-1", "-v", testVPC}, "CIDR=HOST"},
		{"a missing VPC", []string{"router", "-f", spec, "-r", "us-east-1"}, "router.vpc_id"},
		{"a log file", []string{"router", "-f", spec, "-r", "us-east-1", "-v", testVPC, "-l", "/var/log/vpcrouter.log"}, "logs to stderr"},
		{"--config with the flag form", []string{"router", "-c", writeFile(t, "c.yaml", "x: 1"), "-f", spec}, "not both"},
		{"a config without a router section", []string{"router", "-c", writeFile(t, "c.yaml", minimal)}, "no router section"},
		{"a config with a router section and bgp", []string{"router", "-c", writeFile(t, "c.yaml", minimal+
			"router: {region: us-east-1, vpc_id: "+testVPC+", routes: {\"10.0.0.0/8\": [10.1.1.1]}}\n")}, "direct mode only"},
	}
	for _, tc := range tests {
		t.Run(tc.name+" exits 2", func(t *testing.T) {
			out, errOut, code := execute(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.say) {
				t.Fatalf("exit %d, want 2 saying %q\nstdout: %s\nstderr: %s", code, tc.say, out, errOut)
			}
		})
	}
	t.Run("run refuses a router config", func(t *testing.T) {
		cfg := writeFile(t, "r.yaml", "router: {region: us-east-1, vpc_id: "+testVPC+", routes: {\"10.0.0.0/8\": [10.1.1.1]}}\nhttp: {listen: \"\"}\n")
		if out, _, code := execute(t, "config", "check", "-c", cfg); code != 0 || !strings.Contains(out, "router on") {
			t.Errorf("config check: exit %d\n%s", code, out)
		}
		if _, errOut, code := execute(t, "run", "-c", cfg); code != 2 || !strings.Contains(errOut, "rsagent router") {
			t.Errorf("run: exit %d\n%s", code, errOut)
		}
		both := writeFile(t, "rr.yaml", "router: {region: us-east-1, vpc_id: "+testVPC+", routes: {\"10.0.0.0/8\": [10.1.1.1]}}\n"+
			"reconcile: {region: us-east-1, vpc_id: "+testVPC+"}\nhttp: {listen: \"\"}\n")
		for _, cmd := range []string{"reconcile", "router"} {
			if _, errOut, code := execute(t, cmd, "-c", both); code != 2 || !strings.Contains(errOut, "a config file of its own") {
				t.Errorf("%s with router and reconcile sections: exit %d\n%s", cmd, code, errOut)
			}
		}
	})
}

// TestRouterCommandAndStatus runs `rsagent router` in-process against the
// EC2 emulator, then `rsagent status` against it.
func TestRouterCommandAndStatus(t *testing.T) {
	for k, v := range vpcsim.OfflineAWSEnv() {
		t.Setenv(k, v)
	}
	vpc := vpcsim.NewVPC(testVPC, netip.MustParsePrefix("10.0.0.0/16"))
	custom := vpc.AddRouteTable()
	host := netip.MustParseAddr("127.0.0.2")
	eni := vpc.AddNetworkInterface(host)
	port, _ := hostListeners(t, host)
	srv := vpcsim.NewServer(vpc, vpcsim.Options{})
	url, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	listen := freeAddr(t)
	spec := writeFile(t, "spec.json", `{"198.51.100.0/24": ["127.0.0.2"]}`)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out, errb bytes.Buffer
	go func() {
		cmd := newRootCmd(&out, &errb)
		cmd.SetArgs([]string{"router", "-f", spec, "-r", "us-east-1", "-v", testVPC, "--endpoint", url,
			"--tcp-port", fmt.Sprint(port), "--check-interval", "0.2", "--listen", listen})
		done <- cmd.ExecuteContext(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tbl, _ := vpc.Table(custom)
		if r, ok := tbl.Route(netip.MustParsePrefix("198.51.100.0/24")); ok && r.NetworkInterface == eni {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the route was not written: %v\n%s", <-done, errb.String())
		}
		ctxw, c := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, _ = vpc.WaitGeneration(ctxw, vpc.Generation())
		c()
	}
	var stOut, stErr string
	var code int
	for {
		stOut, stErr, code = execute(t, "status", "--addr", listen)
		if code != 0 || !strings.Contains(stOut, "last pass never") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
	if code != 0 {
		t.Errorf("status: exit %d: %s", code, stErr)
	}
	t.Logf("rsagent status:\n%s", stOut)
	for _, want := range []string{"router", "127.0.0.2", "healthy", "198.51.100.0/24", custom, eni} {
		if !strings.Contains(stOut, want) {
			t.Errorf("status lacks %q:\n%s", want, stOut)
		}
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("router: %v\n%s", err, errb.String())
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	lo := netip.MustParseAddr("127.0.0.1")
	p, err := loophost.StablePort("tcp", lo)
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(lo, p).String()
}
