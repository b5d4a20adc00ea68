package routetable

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

func newTestReconciler(t *testing.T, f *fixture, mod func(*Config)) (*Reconciler, *recorder) {
	t.Helper()
	rec := newRecorder()
	cfg := Config{VPCID: testVPC, Observer: rec, Interval: time.Hour}
	if mod != nil {
		mod(&cfg)
	}
	r, err := NewReconciler(f.api, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, rec
}

func TestReconcileConvergesInOnePass(t *testing.T) {
	f := newFixture(t, fixtureOptions{customTables: 3, routes: 5})
	before := f.snapshot()
	r, rec := newTestReconciler(t, f, nil)
	res, err := r.RunOnce(t.Context())
	if err != nil {
		t.Fatalf("first pass: %v\n%+v", err, res)
	}
	t.Run("the first pass copies every route into every auto target", func(t *testing.T) {
		if err := f.converged(f.enis[0]); err != nil {
			t.Error(err)
		}
		if res.Result != "changed" || len(res.Changes) != 15 || !slices.Equal(res.Targets, f.custom) {
			t.Errorf("result %s with %d changes to %v, want changed, 15, %v", res.Result, len(res.Changes), res.Targets, f.custom)
		}
	})
	t.Run("nothing unmanaged is written and the propagated table is no target", func(t *testing.T) {
		f.assertOnlyManaged(t, before)
	})
	t.Run("every EC2 attempt is counted with its code", func(t *testing.T) {
		if got := rec.count("CreateRoute ok"); got != 15 {
			t.Errorf("CreateRoute ok counted %d, want 15", got)
		}
		// A burst goes out in rounds of at most two windows (8 at first),
		// each after a fresh read.
		if got := rec.count("DescribeRouteTables ok"); got != res.Rounds || res.Rounds != 2 {
			t.Errorf("DescribeRouteTables ok counted %d in %d rounds, want 2 (8 and 7 creates)", got, res.Rounds)
		}
	})
	f.srv.ResetLog()
	idle, err := r.RunOnce(t.Context())
	t.Run("an idle pass changes nothing and costs exactly one API call", func(t *testing.T) {
		if err != nil || idle.Result != "ok" || len(idle.Changes) != 0 {
			t.Errorf("idle pass: %v, %+v", err, idle)
		}
		var actions []string
		for _, req := range f.srv.Log() {
			actions = append(actions, req.Action)
			if req.Code != "" {
				t.Logf("%s answered %d %s", req.Action, req.Status, req.Code)
			}
		}
		if !slices.Equal(actions, []string{"DescribeRouteTables"}) {
			t.Errorf("idle pass made %v; attempts seen by the client: %v", actions, rec.requests)
		}
	})
	t.Run("status reflects the last pass", func(t *testing.T) {
		if st := r.Status(); st.Passes != 2 || st.LastResult != "ok" || st.LastError != "" {
			t.Errorf("status %+v", st)
		}
	})
}

func TestReconcileFailoverOnTrigger(t *testing.T) {
	f := newFixture(t, fixtureOptions{customTables: 2, routes: 3})
	before := f.snapshot()
	r, _ := newTestReconciler(t, f, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	}()
	waitFor(t, func() error { return f.converged(f.enis[0]) })

	for _, d := range f.dests {
		must(t, f.vpc.PutRoute(f.main, vpcsim.Route{Destination: d, NetworkInterface: f.enis[1], IPAddress: "10.0.1.11", Origin: vpcsim.OriginAdvertisement}))
	}
	before[f.main], _ = f.vpc.Table(f.main)
	r.Trigger()
	t.Run("a triggered pass copies the failover although the interval is an hour", func(t *testing.T) {
		waitFor(t, func() error { return f.converged(f.enis[1]) })
	})
	t.Run("the failover was done with ReplaceRoute on managed routes only", func(t *testing.T) {
		f.assertOnlyManaged(t, before)
		if n := countActions(f.srv.Mutations(), "ReplaceRoute"); n != 6 {
			t.Errorf("%d ReplaceRoute, want 6", n)
		}
	})
}

// waitFor polls cond until it returns nil or 10 s pass.
func waitFor(t *testing.T, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reached within 10 s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countActions(log []vpcsim.LoggedRequest, action string) int {
	n := 0
	for _, r := range log {
		if r.Action == action {
			n++
		}
	}
	return n
}

func TestReconcileRecoversFromFaults(t *testing.T) {
	tests := []struct {
		name     string
		inject   func(f *fixture)
		mod      func(*Config)
		wantCode string
		// wantOp is the call that fails; "" means ReplaceRoute.
		wantOp string
	}{
		{
			name: "a throttle storm that outlasts the stall timeout fails the pass with RequestLimitExceeded",
			inject: func(f *fixture) {
				f.srv.SetBuckets(vpcsim.Bucket{Size: 1, RefillPerSecond: 0.01}, vpcsim.Bucket{})
			},
			mod:      func(c *Config) { c.StallTimeout = time.Second },
			wantCode: "RequestLimitExceeded",
		},
		{
			name:     "5xx on every request fails the pass",
			inject:   func(f *fixture) { f.srv.SetFaults(vpcsim.Faults{ErrorRate: 1}) },
			wantCode: "Unavailable",
			wantOp:   "DescribeRouteTables",
		},
		{
			name:     "2 s of latency runs into the pass timeout",
			inject:   func(f *fixture) { f.srv.SetFaults(vpcsim.Faults{Latency: 2 * time.Second}) },
			mod:      func(c *Config) { c.PassTimeout = 500 * time.Millisecond },
			wantCode: "deadline",
		},
		{
			name:     "one failing table fails the pass but the others converge",
			inject:   func(f *fixture) { f.srv.SetFaults(vpcsim.Faults{FailTable: f.custom[1]}) },
			wantCode: "UnauthorizedOperation",
		},
		{
			name: "one table answering 500 fails the pass after retries",
			inject: func(f *fixture) {
				f.srv.SetFaults(vpcsim.Faults{FailTable: f.custom[0], FailTableCode: vpcsim.CodeInternalError})
			},
			wantCode: "InternalError",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, fixtureOptions{customTables: 3, routes: 4, copiesOn: true})
			before := f.snapshot()
			r, rec := newTestReconciler(t, f, tt.mod)
			tt.inject(f)
			res, err := r.RunOnce(t.Context())
			t.Logf("faulty pass took %.3f s", res.DurationSeconds)
			if err == nil || !errors.Is(err, ErrPass) || res.Result != "error" {
				t.Fatalf("faulty pass: err %v, result %s", err, res.Result)
			}
			if !strings.Contains(strings.Join(res.Failures, "\n"), tt.wantCode) {
				t.Errorf("failures do not mention %s:\n%s", tt.wantCode, strings.Join(res.Failures, "\n"))
			}
			op := tt.wantOp
			if op == "" {
				op = "ReplaceRoute"
			}
			if tt.wantCode != "deadline" && rec.count(op+" "+tt.wantCode) < 1 {
				t.Errorf("the observer counted no %s %s: %v", op, tt.wantCode, rec.requests)
			}
			if st := r.Status(); st.LastResult != "error" || st.ConsecutiveFailures != 1 {
				t.Errorf("status after a failed pass: %+v", st)
			}
			f.srv.SetFaults(vpcsim.Faults{})
			f.srv.SetBuckets(vpcsim.Bucket{}, vpcsim.Bucket{})
			res, err = r.RunOnce(context.WithoutCancel(t.Context()))
			if err != nil {
				t.Fatalf("pass after the fault: %v\n%v", err, res.Failures)
			}
			if err := f.converged(f.enis[0]); err != nil {
				t.Errorf("not converged after the fault: %v", err)
			}
			f.assertOnlyManaged(t, before)
		})
	}
}

func TestReconcileDryRunWritesNothing(t *testing.T) {
	f := newFixture(t, fixtureOptions{customTables: 2, routes: 3, copiesOn: true})
	r, rec := newTestReconciler(t, f, func(c *Config) { c.DryRun = true })
	res, err := r.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the plan is reported as would-be changes", func(t *testing.T) {
		if len(res.Changes) != 6 || !res.DryRun {
			t.Fatalf("%d changes, dry_run %v", len(res.Changes), res.DryRun)
		}
		for _, o := range res.Changes {
			if !o.Applied || o.Action != ActionReplace {
				t.Errorf("change %+v", o)
			}
		}
		var b strings.Builder
		if err := res.WriteText(&b); err != nil || strings.Count(b.String(), "would apply") != 6 {
			t.Errorf("printed plan:\n%s", b.String())
		}
	})
	t.Run("every write went to EC2 with DryRun set and nothing changed", func(t *testing.T) {
		if m := f.srv.Mutations(); len(m) != 0 {
			t.Errorf("%d mutations", len(m))
		}
		n := 0
		for _, req := range f.srv.Log() {
			if req.Action == "ReplaceRoute" {
				n++
				if !req.DryRun() {
					t.Errorf("ReplaceRoute without DryRun: %v", req.Params)
				}
			}
		}
		if n != 6 {
			t.Errorf("%d dry-run ReplaceRoute requests, want 6", n)
		}
		if err := f.converged(f.enis[1]); err != nil {
			t.Errorf("tables changed: %v", err)
		}
	})
	t.Run("dry-run changes are not counted as changes", func(t *testing.T) {
		if len(rec.changes) != 0 {
			t.Errorf("counted %v", rec.changes)
		}
	})
}

func TestReconcilePrune(t *testing.T) {
	f := newFixture(t, fixtureOptions{customTables: 2, routes: 2})
	r, _ := newTestReconciler(t, f, func(c *Config) { c.Prune = true })
	if _, err := r.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	must(t, f.vpc.RemoveRoute(f.main, f.dests[0]))
	res, err := r.RunOnce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a copy this process made is deleted once its source is withdrawn", func(t *testing.T) {
		if n := countActions(f.srv.Mutations(), "DeleteRoute"); n != 2 {
			t.Errorf("%d DeleteRoute, want 2: %+v", n, res.Changes)
		}
		for _, id := range f.custom {
			tb, _ := f.vpc.Table(id)
			if _, ok := tb.Route(f.dests[0]); ok {
				t.Errorf("%s still routes %s", id, f.dests[0])
			}
			if _, ok := tb.Route(f.dests[1]); !ok {
				t.Errorf("%s lost %s", id, f.dests[1])
			}
		}
	})
	t.Run("the unmanaged static route of the same shape survives", func(t *testing.T) {
		for _, id := range f.custom {
			tb, _ := f.vpc.Table(id)
			if _, ok := tb.Route(f.foreign[0].Destination); !ok {
				t.Errorf("%s lost %s", id, f.foreign[0].Destination)
			}
		}
	})
}

func TestReconcileLeavesAConflictAloneAndLogsItOnce(t *testing.T) {
	f := newFixture(t, fixtureOptions{customTables: 2, routes: 2})
	conflict := vpcsim.Route{Destination: f.dests[0], GatewayID: "igw-0123456789abcdef0", Origin: vpcsim.OriginCreateRoute, State: vpcsim.StateActive}
	must(t, f.vpc.PutRoute(f.custom[0], conflict))
	var logs strings.Builder
	r, _ := newTestReconciler(t, f, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	for range 3 {
		if _, err := r.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("the conflicting route is never written", func(t *testing.T) {
		tb, _ := f.vpc.Table(f.custom[0])
		if got, _ := tb.Route(f.dests[0]); got != conflict {
			t.Errorf("route now %+v", got)
		}
		for _, m := range f.srv.Mutations() {
			if m.Params.Get("RouteTableId") == f.custom[0] && m.Params.Get("DestinationCidrBlock") == f.dests[0].String() {
				t.Errorf("wrote %s", m.Action)
			}
		}
	})
	t.Run("it is logged at info once, not every pass", func(t *testing.T) {
		if n := strings.Count(logs.String(), `"msg":"route left alone"`); n != 1 {
			t.Errorf("logged %d times:\n%s", n, logs.String())
		}
	})
	t.Run("each change is one structured line with snake_case keys", func(t *testing.T) {
		var line map[string]any
		for l := range strings.Lines(logs.String()) {
			if strings.Contains(l, `"msg":"route changed"`) {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		for _, k := range []string{"vpc_id", "route_table_id", "action", "destination", "network_interface_id", "dry_run"} {
			if _, ok := line[k]; !ok {
				t.Errorf("no %s in %v", k, line)
			}
		}
		if n := strings.Count(logs.String(), `"msg":"route changed"`); n != 3 {
			t.Errorf("%d change lines, want 3", n)
		}
	})
}

func TestProductionClientUsesTheEndpointOverride(t *testing.T) {
	f := newFixture(t, fixtureOptions{customTables: 1, routes: 1})
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer:     func() aws.Retryer { return newRetryer(ClientOptions{MaxAttempts: 2}) },
	}
	r, err := NewReconciler(NewEC2API(NewEC2Client(cfg, f.srv.URL())), Config{VPCID: testVPC})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := r.RunOnce(t.Context()); err != nil || res.Result != "changed" {
		t.Fatalf("pass through the production client: %v %+v", err, res)
	}
	if err := f.converged(f.enis[0]); err != nil {
		t.Error(err)
	}
}
