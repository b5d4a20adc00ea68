package lambda

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rsagent/rsagent/agent"
	"github.com/rsagent/rsagent/internal/netns"
	"github.com/rsagent/rsagent/internal/vpcsim"
	"github.com/rsagent/rsagent/routetable"
)

// benchLatency is what every emulated EC2 request costs, as in the
// routetable benchmarks the daemon's figures come from.
const benchLatency = 50 * time.Millisecond

// failoverVPC is the routetable benchmarks' failover: 26 Route Server routes
// copied into 4 custom tables, in step, via enis[1]; flip() moves every
// main-table route to enis[0], so the next pass must replace 104 routes.
type failoverVPC struct {
	vpc    *vpcsim.VPC
	srv    *vpcsim.Server
	main   string
	custom []string
	enis   [2]string
	dests  []netip.Prefix
}

func newFailoverVPC(b *testing.B) *failoverVPC {
	b.Helper()
	v := vpcsim.NewVPC(testVPC, netip.MustParsePrefix("10.0.0.0/16"))
	f := &failoverVPC{vpc: v, main: v.MainTableID()}
	for i := range f.enis {
		f.enis[i] = v.AddNetworkInterface(netip.AddrFrom4([4]byte{10, 0, 1, byte(10 + i)}))
	}
	for range 4 {
		f.custom = append(f.custom, v.AddRouteTable())
	}
	rs := v.AddRouteServer(65000)
	must(b, v.EnablePropagation(rs, f.main))
	for i := range 26 {
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), 32)
		f.dests = append(f.dests, dst)
		must(b, v.PutRoute(f.main, vpcsim.Route{Destination: dst, NetworkInterface: f.enis[1], Origin: vpcsim.OriginAdvertisement}))
		for _, t := range f.custom {
			must(b, v.PutRoute(t, vpcsim.Route{Destination: dst, NetworkInterface: f.enis[1]}))
		}
	}
	f.srv = vpcsim.NewServer(v, vpcsim.Options{Faults: vpcsim.Faults{Latency: benchLatency}})
	if _, err := f.srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.srv.Close() })
	return f
}

func (f *failoverVPC) flip(b *testing.B) {
	b.Helper()
	for _, d := range f.dests {
		must(b, f.vpc.PutRoute(f.main, vpcsim.Route{Destination: d, NetworkInterface: f.enis[0], Origin: vpcsim.OriginAdvertisement}))
	}
	f.srv.ResetLog()
}

func (f *failoverVPC) converged(b *testing.B) {
	b.Helper()
	for _, id := range f.custom {
		tb, _ := f.vpc.Table(id)
		for _, d := range f.dests {
			if r, _ := tb.Route(d); r.NetworkInterface != f.enis[0] {
				b.Fatalf("%s: %s via %q after the pass", id, d, r.NetworkInterface)
			}
		}
	}
}

func (f *failoverVPC) throttled() int {
	n := 0
	for _, r := range f.srv.Log() {
		if r.Code == vpcsim.CodeRequestLimitExceeded {
			n++
		}
	}
	return n
}

// schedule invokes the function with a scheduled event and decodes the report.
func schedule(b *testing.B, fn *rie) PassReport {
	b.Helper()
	code, body := fn.invoke(b, sampleEvent(b, "schedule.json", nil))
	var rep PassReport
	if code != http.StatusOK || json.Unmarshal(body, &rep) != nil {
		b.Fatalf("invoke: %d %s", code, body)
	}
	return rep
}

// BenchmarkLambdaColdStart times the first event after the runtime starts:
// the emulator execs bootstrap, which loads the config, builds the SDK
// client and the reconciler, then runs a pass that finds nothing to do
// (DescribeRouteTables, DescribeRouteServers, GetRouteServerPropagations:
// 50 ms each). Beside it:
// the daemon's `rsagent reconcile --once` on the same VPC, process start to
// exit.
func BenchmarkLambdaColdStart(b *testing.B) {
	netns.RequireBinaries(b, rieBinary)
	f := newFailoverVPC(b)
	task := packageFunction(b, lambdaConfig(b, testVPC, f.srv.URL(), ""))
	var lambda, daemon time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		fn := startRIE(b, task, time.Minute)
		b.StartTimer()
		start := time.Now()
		rep := schedule(b, fn)
		lambda += time.Since(start)
		b.StopTimer()
		if rep.Pass.Result != "ok" {
			b.Fatalf("cold pass: %+v", rep)
		}
		start = time.Now()
		cmd := exec.Command(filepath.Join(task, "bootstrap"), "reconcile", "--once", "-c", filepath.Join(task, "rsagent.yaml"))
		cmd.Env = offlineEnv(b)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("rsagent reconcile --once: %v\n%s", err, out)
		}
		daemon += time.Since(start)
		b.StartTimer()
	}
	b.StopTimer()
	l, d := lambda.Seconds()/float64(b.N), daemon.Seconds()/float64(b.N)
	b.ReportMetric(l, "s/cold-invoke")
	b.ReportMetric(d, "s/daemon-once")
	b.Logf("cold start (first event: exec, config, SDK, an idle pass of 3 EC2 calls at %v): lambda %.3f s; "+
		"daemon `rsagent reconcile --once` %.3f s; goal: none set (the daemon's start is the reference; AWS adds its sandbox start)",
		benchLatency, l, d)
}

// BenchmarkLambdaWarmFailover104 times a warm scheduled pass that makes the
// 104-replacement failover under EC2's default buckets, beside the daemon's
// reconciler (built by agent.NewReconciler, as `rsagent reconcile` builds
// it, in-process) on an identical VPC.
func BenchmarkLambdaWarmFailover104(b *testing.B) {
	netns.RequireBinaries(b, rieBinary)
	const bound = (104.0 - 50) / 5
	var lambda, daemon time.Duration
	lambdaThrottled, daemonThrottled := 0, 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		f := newFailoverVPC(b)
		fn := startRIE(b, packageFunction(b, lambdaConfig(b, testVPC, f.srv.URL(), "")), time.Minute)
		if rep := schedule(b, fn); rep.Pass.Result != "ok" {
			b.Fatalf("warm-up pass: %+v", rep)
		}
		f.flip(b)
		b.StartTimer()
		start := time.Now()
		rep := schedule(b, fn)
		lambda += time.Since(start)
		b.StopTimer()
		if rep.Applied != 104 || rep.Failed != 0 {
			b.Fatalf("failover pass: %d applied, %d failed: %v", rep.Applied, rep.Failed, rep.Pass.Failures)
		}
		f.converged(b)
		lambdaThrottled += f.throttled()

		g := newFailoverVPC(b)
		rec := daemonReconciler(b, g.srv.URL())
		if res, err := rec.RunOnce(b.Context()); err != nil || res.Result != "ok" {
			b.Fatalf("daemon warm-up pass: %v %+v", err, res)
		}
		g.flip(b)
		start = time.Now()
		res, err := rec.RunOnce(b.Context())
		daemon += time.Since(start)
		if err != nil || len(res.Changes) != 104 {
			b.Fatalf("daemon pass: %v, %d changes", err, len(res.Changes))
		}
		g.converged(b)
		daemonThrottled += g.throttled()
		b.StartTimer()
	}
	b.StopTimer()
	l, d := lambda.Seconds()/float64(b.N), daemon.Seconds()/float64(b.N)
	b.ReportMetric(l, "s/lambda-pass")
	b.ReportMetric(d, "s/daemon-pass")
	b.ReportMetric(float64(lambdaThrottled)/float64(b.N), "throttled/lambda-pass")
	b.Logf("104 replacements, %v per request, default buckets: lambda warm pass %.3f s, %d RequestLimitExceeded; "+
		"daemon pass %.3f s, %d RequestLimitExceeded; goal: ≤ 1.05 × bucket bound (104 − 50) / 5 s = %.2f s, 0 throttled, as the daemon",
		benchLatency, l, lambdaThrottled/b.N, d, daemonThrottled/b.N, 1.05*bound)
}

// daemonReconciler builds the reconciler the way `rsagent reconcile` does.
func daemonReconciler(b *testing.B, endpoint string) *routetable.Reconciler {
	b.Helper()
	for k, v := range vpcsim.OfflineAWSEnv() {
		b.Setenv(k, v)
	}
	_, m, err := agent.Load([]byte("reconcile:\n  region: us-east-1\n  vpc_id: " + testVPC + "\n  endpoint: " + endpoint + "\n  interval: 1h\n"))
	if err != nil {
		b.Fatal(err)
	}
	rec, err := agent.NewReconciler(b.Context(), m.Reconcile, slog.New(slog.DiscardHandler), false)
	if err != nil {
		b.Fatal(err)
	}
	return rec
}
