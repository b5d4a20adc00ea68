package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/vpcsim"
	"github.com/rsagent/rsagent/routetable/direct"
)

// specAB routes dstOne to A (then B) and dstTwo to B (then A).
var specAB = fmt.Sprintf(`{"%s": ["%s", "%s"], "%s": ["%s", "%s"]}`, dstOne, hostAAddr, hostBAddr, dstTwo, hostBAddr, hostAAddr)

// TestRouterProgramsEveryTableAndTouchesNothingElse: the first pass writes
// each spec CIDR into every table, to the first healthy host; a gateway
// route for a spec CIDR, an ignored route and an unlisted ENI route are
// left alone, and nothing is deleted (read from the emulator's request log).
func TestRouterProgramsEveryTableAndTouchesNothingElse(t *testing.T) {
	e := newRouterEnv(t)
	gateway := netip.MustParsePrefix("192.0.0.0/24")
	unlisted := netip.MustParsePrefix("172.16.0.0/16")
	ignored := netip.MustParsePrefix("172.31.0.0/16")
	other := e.vpc.AddNetworkInterface(netip.MustParseAddr("127.0.0.9"))
	put := func(table string, r vpcsim.Route) {
		if err := e.vpc.PutRoute(table, r); err != nil {
			t.Fatal(err)
		}
	}
	put(e.tables[1], vpcsim.Route{Destination: gateway, GatewayID: "igw-0123456789abcdef0"})
	put(e.tables[1], vpcsim.Route{Destination: unlisted, NetworkInterface: other})
	put(e.tables[2], vpcsim.Route{Destination: ignored, NetworkInterface: other})
	e.writeSpec(fmt.Sprintf(`{"%s": ["%s", "%s"], "%s": ["%s", "%s"], "%s": ["%s"], "%s": ["%s"]}`,
		dstOne, hostAAddr, hostBAddr, dstTwo, hostBAddr, hostAAddr, gateway, hostAAddr, ignored, hostAAddr))
	e.start(e.config("    \n  ignore_routes: [" + ignored.String() + "]\n"))

	e.waitAllAt(dstOne, e.a.eni, time.Now(), 10*time.Second)
	e.waitAllAt(dstTwo, e.b.eni, time.Now(), 10*time.Second)
	e.waitPasses(2)
	if err := e.allAt(gateway, "igw-0123456789abcdef0"); err == nil {
		t.Fatal("test setup: the gateway route should be in one table only")
	}
	want := map[string]bool{}
	for _, id := range e.tables {
		want["CreateRoute "+id+" "+dstOne.String()] = true
		want["CreateRoute "+id+" "+dstTwo.String()] = true
		if id != e.tables[1] { // where the gateway route is, the CIDR is not ours
			want["CreateRoute "+id+" "+gateway.String()] = true
		}
	}
	got := e.mutationsSince(0)
	if len(got) != len(want) {
		t.Errorf("%d writes, want exactly %d (one per table and CIDR): %v", len(got), len(want), got)
	}
	for _, m := range got {
		if !want[m] {
			t.Errorf("unexpected write %s", m)
		}
	}
	for _, r := range e.srv.Log() {
		if r.Action == "DeleteRoute" {
			t.Errorf("a DeleteRoute was sent without remove_unlisted: %v", r.Params)
		}
	}
	if got := e.target(e.tables[1], gateway); got != "igw-0123456789abcdef0" {
		t.Errorf("the gateway route was changed: %s", got)
	}
	if got := e.target(e.tables[1], unlisted); got != other {
		t.Errorf("the unlisted route was changed: %s", got)
	}
	if got := e.target(e.tables[2], ignored); got != other {
		t.Errorf("the ignored route was changed: %s", got)
	}
	st := e.r.Status().Router
	for _, rp := range st.Routes {
		switch rp.Destination {
		case gateway:
			if rp.Tables[1].Action != direct.TableNotManaged || !strings.Contains(rp.Tables[1].Reason, "igw-") {
				t.Errorf("status of the gateway route: %+v", rp.Tables[1])
			}
		case ignored:
			if rp.State != direct.RouteIgnored {
				t.Errorf("status of the ignored route: %s", rp.State)
			}
		}
	}
	metrics := get(t, "http://"+e.httpAddr+"/metrics")
	for _, want := range []string{
		`rsagent_router_changes_total{action="create"} 8`,
		fmt.Sprintf(`rsagent_router_route_target{destination="%s",host="%s"} 1`, dstOne, hostAAddr),
		fmt.Sprintf(`rsagent_router_route_target{destination="%s",host="%s"} 0`, dstOne, hostBAddr),
		fmt.Sprintf(`rsagent_router_host_healthy{host="%s"} 1`, hostAAddr),
		`rsagent_ec2_requests_total{code="ok",operation="DescribeNetworkInterfaces"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if _, err := http.Get("http://" + e.httpAddr + "/readyz"); err != nil {
		t.Error(err)
	}
}

// TestRouterFailoverAndFailback: a failed host's routes move within
// interval × fall + one pass; the recovered host does not get them back
// without preempt; with preempt it does, but not before failed_hold.
func TestRouterFailoverAndFailback(t *testing.T) {
	for _, preempt := range []bool{false, true} {
		t.Run(fmt.Sprintf("preempt %v", preempt), func(t *testing.T) {
			e := newRouterEnv(t)
			e.writeSpec(specAB)
			e.start(e.config(fmt.Sprintf("  preempt: %v\n", preempt)))
			e.waitAllAt(dstOne, e.a.eni, time.Now(), 10*time.Second)

			t0 := time.Now()
			e.a.close()
			took := e.waitAllAt(dstOne, e.b.eni, t0, 10*time.Second)
			// health interval 100ms x fall 2, plus a pass (the pass is
			// triggered at once; the slack is for a loaded machine).
			if bound := 2*100*time.Millisecond + time.Second + 2*time.Second; took > bound {
				t.Errorf("failover took %v, more than %v", took, bound)
			}
			t.Logf("failover after %v", took)
			if err := e.allAt(dstTwo, e.b.eni); err != nil {
				t.Errorf("dstTwo's target was healthy and must not move: %v", err)
			}
			failedAt := e.hostStatus(hostAAddr).LastFailure

			e.a.open(t)
			waitFor(t, 10*time.Second, "host A eligible again", func() error {
				if hs := e.hostStatus(hostAAddr); !hs.Eligible {
					return fmt.Errorf("host A is %s", hs.Status)
				}
				return nil
			})
			if !preempt {
				e.waitPasses(2)
				if err := e.allAt(dstOne, e.b.eni); err != nil {
					t.Fatalf("routes failed back without preempt: %v", err)
				}
				return
			}
			back := e.waitAllAt(dstOne, e.a.eni, failedAt, 10*time.Second)
			if back < time.Second {
				t.Errorf("failed back %v after host A's last failure, before failed_hold (1s)", back)
			}
		})
	}
}

// TestRouterSpecSources: a changed spec file is applied; a broken one is
// refused and the running spec stays; POST /route_spec needs the key and
// refuses a bad spec without changing anything.
func TestRouterSpecSources(t *testing.T) {
	e := newRouterEnv(t)
	e.writeSpec(fmt.Sprintf(`{"%s": ["%s"]}`, dstOne, hostAAddr))
	e.start(e.config(""))
	e.waitAllAt(dstOne, e.a.eni, time.Now(), 10*time.Second)

	t.Run("an edited file is applied", func(t *testing.T) {
		e.writeSpec(specAB)
		e.waitAllAt(dstTwo, e.b.eni, time.Now(), 10*time.Second)
	})
	t.Run("a broken file is refused and the running spec stays", func(t *testing.T) {
		mark := e.mark()
		e.writeSpec(`{"198.51.100.1/24": ["127.0.0.2"]}`)
		waitFor(t, 10*time.Second, "the refusal in /status", func() error {
			if st := e.r.Status().Router; !strings.Contains(st.SpecRefused, "198.51.100.1/24") {
				return fmt.Errorf("spec_refused %q", st.SpecRefused)
			}
			return nil
		})
		e.waitPasses(1)
		if got := e.r.Spec(); len(got) != 2 {
			t.Errorf("spec in force: %v", got)
		}
		if m := e.mutationsSince(mark); len(m) != 0 {
			t.Errorf("a refused spec wrote %v", m)
		}
	})
	post := func(key, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+e.httpAddr+"/route_spec", strings.NewReader(body))
		if key != "" {
			req.Header.Set(APIKeyHeader, key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	t.Run("POST needs the key and refuses a bad spec", func(t *testing.T) {
		mark := e.mark()
		before := e.r.Spec()
		good := fmt.Sprintf(`{"%s": ["%s"]}`, dstOne, hostBAddr)
		for _, tc := range []struct {
			key, body string
			status    int
			say       string
		}{
			{"", good, 401, "missing X-API-Key"},
			{"wrong-key-wrong-key", good, 403, "wrong API key"},
			{routerTestKey, `{"198.51.100.0/24": ["127.0.0.300"]}`, 400, `host "127.0.0.300" is not an IP address`},
			{routerTestKey, `not json`, 400, "want a JSON object"},
		} {
			code, body := post(tc.key, tc.body)
			var resp struct{ Error string }
			_ = json.Unmarshal([]byte(body), &resp)
			if code != tc.status || !strings.Contains(resp.Error, tc.say) {
				t.Errorf("POST with key %q: %d %s, want %d saying %q", tc.key, code, body, tc.status, tc.say)
			}
		}
		e.waitPasses(1)
		if !e.r.Spec().Equal(before) || len(e.mutationsSince(mark)) != 0 {
			t.Fatalf("refused POSTs changed something: spec %v, writes %v", e.r.Spec(), e.mutationsSince(mark))
		}
		code, body := post(routerTestKey, good)
		if code != 200 || !strings.Contains(body, "until "+e.specFile+" changes") {
			t.Fatalf("POST a good spec: %d %s", code, body)
		}
		e.waitAllAt(dstOne, e.b.eni, time.Now(), 10*time.Second)
		var got direct.Spec
		resp, err := http.Get("http://" + e.httpAddr + "/route_spec")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if got, err = direct.ParseSpec(b); err != nil || len(got) != 1 {
			t.Errorf("GET /route_spec = %s (%v)", b, err)
		}
		if st := e.r.Status().Router; st.SpecSource != "http" {
			t.Errorf("spec_source %q", st.SpecSource)
		}
	})
	t.Run("the POSTed spec lasts until the file changes", func(t *testing.T) {
		e.writeSpec(fmt.Sprintf(`{"%s": ["%s"]}`, dstOne, hostAAddr))
		e.waitAllAt(dstOne, e.a.eni, time.Now(), 10*time.Second)
		if st := e.r.Status().Router; st.SpecSource != "file" {
			t.Errorf("spec_source %q", st.SpecSource)
		}
	})
}

// TestRouterFollowsAnENIReplacedBehindTheSameAddress: the instance behind
// host A is replaced (new ENI, same IP); the old ENI's routes are
// blackholes; the router repoints them at the new ENI (vpc-router #40).
func TestRouterFollowsAnENIReplacedBehindTheSameAddress(t *testing.T) {
	e := newRouterEnv(t)
	e.writeSpec(fmt.Sprintf(`{"%s": ["%s", "%s"]}`, dstOne, hostAAddr, hostBAddr))
	e.start(e.config(""))
	e.waitAllAt(dstOne, e.a.eni, time.Now(), 10*time.Second)
	if err := e.vpc.RemoveNetworkInterface(e.a.eni); err != nil {
		t.Fatal(err)
	}
	newENI := e.vpc.AddNetworkInterface(hostAAddr)
	e.waitAllAt(dstOne, newENI, time.Now(), 10*time.Second)
	e.waitPasses(1)
	if hs := e.hostStatus(hostAAddr); hs.ENI != newENI {
		t.Errorf("status shows ENI %s, want %s", hs.ENI, newENI)
	}
}

// TestRouterLeavesRoutesAloneWithoutAHealthyHost: with every host down the
// routes stay as they are (never deleted into a blackhole) and
// no_healthy_host is reported.
func TestRouterLeavesRoutesAloneWithoutAHealthyHost(t *testing.T) {
	e := newRouterEnv(t)
	e.writeSpec(fmt.Sprintf(`{"%s": ["%s", "%s"]}`, dstOne, hostAAddr, hostBAddr))
	e.start(e.config(""))
	e.waitAllAt(dstOne, e.a.eni, time.Now(), 10*time.Second)
	mark := e.mark()
	e.a.close()
	e.b.close()
	waitFor(t, 10*time.Second, "no_healthy_host", func() error {
		st := e.r.Status().Router
		if len(st.Routes) != 1 || st.Routes[0].State != direct.RouteNoHealthyHost {
			return fmt.Errorf("routes %+v", st.Routes)
		}
		return nil
	})
	e.waitPasses(2)
	if m := e.mutationsSince(mark); len(m) != 0 {
		t.Errorf("no healthy host, yet writes: %v", m)
	}
	if err := e.allAt(dstOne, e.a.eni); err != nil {
		t.Error(err)
	}
	metrics := get(t, "http://"+e.httpAddr+"/metrics")
	if want := fmt.Sprintf(`rsagent_router_no_healthy_host{destination="%s"} 1`, dstOne); !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if st := e.r.Status().Router; !slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.Contains(w, "no healthy host") }) {
		t.Errorf("warnings %v", st.Warnings)
	}
}

// TestRouterReportsENIProblems: a host with no ENI is reported and never
// chosen; an ENI with the source/destination check on is warned about.
func TestRouterReportsENIProblems(t *testing.T) {
	e := newRouterEnv(t)
	if err := e.vpc.RemoveNetworkInterface(e.a.eni); err != nil {
		t.Fatal(err)
	}
	if err := e.vpc.SetSourceDestCheck(e.b.eni, true); err != nil {
		t.Fatal(err)
	}
	e.writeSpec(fmt.Sprintf(`{"%s": ["%s", "%s"]}`, dstOne, hostAAddr, hostBAddr))
	e.start(e.config(""))
	e.waitAllAt(dstOne, e.b.eni, time.Now(), 10*time.Second)
	e.waitPasses(1)
	if hs := e.hostStatus(hostAAddr); !slices.Contains(hs.Problems, "no_eni") {
		t.Errorf("host A problems %v", hs.Problems)
	}
	if hs := e.hostStatus(hostBAddr); !hs.SourceDestCheck || !slices.Contains(hs.Problems, "source_dest_check") {
		t.Errorf("host B: %+v", hs)
	}
	metrics := get(t, "http://"+e.httpAddr+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`rsagent_router_host_problem{host="%s",problem="no_eni"} 1`, hostAAddr),
		fmt.Sprintf(`rsagent_router_host_problem{host="%s",problem="source_dest_check"} 1`, hostBAddr),
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRouterRemoveUnlistedAndDryRun: remove_unlisted deletes only the
// unlisted ENI routes (never ignored ones); dry_run writes nothing but asks
// EC2 with DryRun.
func TestRouterRemoveUnlistedAndDryRun(t *testing.T) {
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry_run %v", dry), func(t *testing.T) {
			e := newRouterEnv(t)
			other := e.vpc.AddNetworkInterface(netip.MustParseAddr("127.0.0.9"))
			unlisted, ignored := netip.MustParsePrefix("172.16.0.0/16"), netip.MustParsePrefix("172.31.0.0/16")
			for _, dst := range []netip.Prefix{unlisted, ignored} {
				if err := e.vpc.PutRoute(e.tables[1], vpcsim.Route{Destination: dst, NetworkInterface: other}); err != nil {
					t.Fatal(err)
				}
			}
			e.writeSpec(fmt.Sprintf(`{"%s": ["%s"]}`, dstOne, hostAAddr))
			e.start(e.config(fmt.Sprintf("  remove_unlisted: true\n  ignore_routes: [%s]\n  dry_run: %v\n", ignored, dry)))
			e.waitPasses(2)
			if dry {
				if m := e.mutationsSince(0); len(m) != 0 {
					t.Fatalf("dry run wrote %v", m)
				}
				n := 0
				for _, r := range e.srv.Log() {
					if r.DryRun() {
						n++
					}
				}
				if n == 0 {
					t.Fatal("no DryRun call reached EC2")
				}
				if ch := e.r.Status().Router.LastChanges; len(ch) == 0 || ch[0].Result != "planned" {
					t.Errorf("last changes %+v", ch)
				}
				return
			}
			e.waitAllAt(dstOne, e.a.eni, time.Now(), 10*time.Second)
			if got := e.target(e.tables[1], unlisted); got != "" {
				t.Errorf("the unlisted route is still there: %s", got)
			}
			if got := e.target(e.tables[1], ignored); got != other {
				t.Errorf("the ignored route was touched: %q", got)
			}
		})
	}
}
