package lambda

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/vpcsim"
	"github.com/rsagent/rsagent/routetable"
)

const testVPC = "vpc-0123456789abcdef0"

// lambdaVPC is an emulated VPC as Route Server leaves it: the main table
// (propagated) holds an installed route, two custom tables without
// propagation hold nothing yet, a second propagated table mirrors the main
// one. The main table also has a static route to an appliance, which
// Sync Routes users copy with PATCH.
type lambdaVPC struct {
	vpc         *vpcsim.VPC
	srv         *vpcsim.Server
	main        string
	custom      []string
	propagated  string
	eniA, eniB  string
	advertised  netip.Prefix
	static      netip.Prefix
	staticDryRn netip.Prefix
}

func newLambdaVPC(t *testing.T) *lambdaVPC {
	t.Helper()
	v := vpcsim.NewVPC(testVPC, netip.MustParsePrefix("10.0.0.0/16"))
	l := &lambdaVPC{vpc: v, main: v.MainTableID(),
		advertised: netip.MustParsePrefix("203.0.113.10/32"), static: netip.MustParsePrefix("198.51.100.0/25"),
		staticDryRn: netip.MustParsePrefix("198.51.100.128/25")}
	l.eniA = v.AddNetworkInterface(netip.MustParseAddr("10.0.1.10"))
	l.eniB = v.AddNetworkInterface(netip.MustParseAddr("10.0.2.10"))
	l.custom = []string{v.AddRouteTable(), v.AddRouteTable()}
	l.propagated = v.AddRouteTable()
	rs := v.AddRouteServer(65000)
	for _, id := range []string{l.main, l.propagated} {
		must(t, v.EnablePropagation(rs, id))
		must(t, v.PutRoute(id, vpcsim.Route{Destination: l.advertised, NetworkInterface: l.eniA, IPAddress: "10.0.1.10", Origin: vpcsim.OriginAdvertisement}))
	}
	for _, d := range []netip.Prefix{l.static, l.staticDryRn} {
		must(t, v.PutRoute(l.main, vpcsim.Route{Destination: d, NetworkInterface: l.eniB, Origin: vpcsim.OriginCreateRoute}))
	}
	l.srv = vpcsim.NewServer(v, vpcsim.Options{})
	if _, err := l.srv.Start(); err != nil {
		t.Fatalf("start vpcsim: %v", err)
	}
	t.Cleanup(func() { _ = l.srv.Close() })
	return l
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// via returns the ENI the route to dst in table points at ("" when absent).
func (l *lambdaVPC) via(table string, dst netip.Prefix) string {
	tb, _ := l.vpc.Table(table)
	r, _ := tb.Route(dst)
	return r.NetworkInterface
}

// realWrites counts the mutating requests EC2 executed (not dry runs).
func (l *lambdaVPC) realWrites() int {
	n := 0
	for _, r := range l.srv.Mutations() {
		if !r.DryRun() {
			n++
		}
	}
	return n
}

// TestLambdaUnderTheRuntimeInterfaceEmulator runs the function `make
// lambda-zip` packs (cmd/rsagent named bootstrap, and its config) under AWS's
// Lambda Runtime Interface Emulator, against the EC2 emulator through the
// real SDK: the events Lambda would deliver, and what they do to the VPC.
func TestLambdaUnderTheRuntimeInterfaceEmulator(t *testing.T) {
	l := newLambdaVPC(t)
	fn := startRIE(t, packageFunction(t, lambdaConfig(t, testVPC, l.srv.URL(), "")), 30*time.Second)

	t.Run("a scheduled event converges the custom tables", func(t *testing.T) {
		code, body := fn.invoke(t, sampleEvent(t, "schedule.json", nil))
		var rep PassReport
		if code != http.StatusOK || json.Unmarshal(body, &rep) != nil {
			t.Fatalf("invoke: %d %s", code, body)
		}
		if rep.Trigger != KindSchedule || rep.Pass.Result != "changed" || rep.Applied != 2 || rep.Failed != 0 || rep.EC2Requests < 3 {
			t.Errorf("report: %s", body)
		}
		for _, id := range l.custom {
			if got := l.via(id, l.advertised); got != l.eniA {
				t.Errorf("%s: %s via %q, want %s", id, l.advertised, got, l.eniA)
			}
		}
		if !slices.Equal(rep.Pass.Targets, l.custom) {
			t.Errorf("targets %v, want the tables without propagation %v", rep.Pass.Targets, l.custom)
		}
	})

	t.Run("an SNS notification after a failover runs a pass that follows it", func(t *testing.T) {
		for _, id := range []string{l.main, l.propagated} {
			must(t, l.vpc.PutRoute(id, vpcsim.Route{Destination: l.advertised, NetworkInterface: l.eniB, IPAddress: "10.0.2.10", Origin: vpcsim.OriginAdvertisement}))
		}
		code, body := fn.invoke(t, sampleEvent(t, "sns.json", nil))
		var rep PassReport
		if code != http.StatusOK || json.Unmarshal(body, &rep) != nil {
			t.Fatalf("invoke: %d %s", code, body)
		}
		if rep.Trigger != KindSNS || len(rep.Notifications) != 1 || rep.Notifications[0].Subject == "" || rep.Applied != 2 {
			t.Errorf("report: %s", body)
		}
		for _, id := range l.custom {
			if got := l.via(id, l.advertised); got != l.eniB {
				t.Errorf("%s: %s via %q, want %s", id, l.advertised, got, l.eniB)
			}
		}
	})

	t.Run("an SNS notification that Route Server's install follows is looked at again", func(t *testing.T) {
		// Route Server moves the route back to A only once the first pass
		// has read the tables: that pass finds nothing to do, a follow-up
		// must.
		mark := len(l.srv.Log())
		installed := make(chan error, 1)
		go func() {
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
				if slices.ContainsFunc(l.srv.Log()[mark:], func(r vpcsim.LoggedRequest) bool { return r.Action == "DescribeRouteTables" }) {
					for _, id := range []string{l.main, l.propagated} {
						if err := l.vpc.PutRoute(id, vpcsim.Route{Destination: l.advertised, NetworkInterface: l.eniA, IPAddress: "10.0.1.10", Origin: vpcsim.OriginAdvertisement}); err != nil {
							installed <- err
							return
						}
					}
					installed <- nil
					return
				}
			}
			installed <- fmt.Errorf("no pass read the tables within 10 s")
		}()
		code, body := fn.invoke(t, sampleEvent(t, "sns.json", nil))
		must(t, <-installed)
		var rep PassReport
		if code != http.StatusOK || json.Unmarshal(body, &rep) != nil {
			t.Fatalf("invoke: %d %s", code, body)
		}
		if rep.Pass.Result != "ok" || len(rep.FollowUps) != 2 || rep.Applied != 2 || rep.Failed != 0 {
			t.Errorf("report: %s\nwant a first pass with nothing to do, two follow-ups, 2 writes", body)
		}
		for _, id := range l.custom {
			if got := l.via(id, l.advertised); got != l.eniA {
				t.Errorf("%s: %s via %q, want %s", id, l.advertised, got, l.eniA)
			}
		}
	})

	patch := func(t *testing.T, payload []byte) (int, routetable.SyncRoutesResponse, string) {
		t.Helper()
		code, body := fn.invoke(t, payload)
		var resp struct {
			StatusCode int               `json:"statusCode"`
			Headers    map[string]string `json:"headers"`
			Body       string            `json:"body"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &resp) != nil {
			t.Fatalf("invoke: %d %s", code, body)
		}
		if ct := resp.Headers["Content-Type"]; ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var sr routetable.SyncRoutesResponse
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal([]byte(resp.Body), &sr); err != nil {
				t.Fatalf("body %q: %v", resp.Body, err)
			}
		}
		return resp.StatusCode, sr, resp.Body
	}

	t.Run("a PATCH event copies the route to every other table and answers 200", func(t *testing.T) {
		code, sr, body := patch(t, patchEvent(t, testVPC, l.main, `{"destination-cidr-block": "198.51.100.0/25"}`))
		if code != http.StatusOK {
			t.Fatalf("status %d: %s", code, body)
		}
		others := append(slices.Clone(l.custom), l.propagated)
		if len(sr.RouteTables) != len(others) || sr.NetworkInterface != l.eniB || sr.DryRun {
			t.Errorf("response: %s", body)
		}
		for _, r := range sr.RouteTables {
			if r.Result != routetable.SyncCreated {
				t.Errorf("%s: %s %s", r.RouteTableID, r.Result, r.Error)
			}
		}
		for _, id := range others {
			if got := l.via(id, l.static); got != l.eniB {
				t.Errorf("%s: %s via %q, want %s", id, l.static, got, l.eniB)
			}
		}
	})

	t.Run("a bad body answers 400 and writes nothing", func(t *testing.T) {
		before := len(l.srv.Mutations())
		for _, bad := range []string{
			`{"destination-cidr-block": "198.51.100.128/25", "extra": 1}`,
			`{"destination-cidr-block": "198.51.100.129/25"}`,
			`{"Destination-Cidr-Block": "198.51.100.128/25"}`,
			`not json`,
		} {
			if code, _, body := patch(t, patchEvent(t, testVPC, l.main, bad)); code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
				t.Errorf("%s: %d %s", bad, code, body)
			}
		}
		if code, _, body := patch(t, patchEvent(t, testVPC, "rtb-nothex!", `{"destination-cidr-block": "198.51.100.128/25"}`)); code != http.StatusBadRequest {
			t.Errorf("bad route table id: %d %s", code, body)
		}
		if n := len(l.srv.Mutations()); n != before {
			t.Errorf("refused requests made %d EC2 writes", n-before)
		}
	})

	t.Run("a dry-run PATCH answers what it would do and writes nothing", func(t *testing.T) {
		before := l.realWrites()
		code, sr, body := patch(t, patchEvent(t, testVPC, l.main, `{"destination-cidr-block": "198.51.100.128/25", "dry-run": true}`))
		if code != http.StatusOK || !sr.DryRun {
			t.Fatalf("status %d: %s", code, body)
		}
		for _, r := range sr.RouteTables {
			if r.Result != routetable.SyncWouldCreate {
				t.Errorf("%s: %s %s", r.RouteTableID, r.Result, r.Error)
			}
		}
		if n := l.realWrites(); n != before {
			t.Errorf("the dry run made %d real writes", n-before)
		}
		for _, id := range l.custom {
			if got := l.via(id, l.staticDryRn); got != "" {
				t.Errorf("%s now has %s via %s", id, l.staticDryRn, got)
			}
		}
	})

	t.Run("a PATCH that API Gateway did not check the key of is refused", func(t *testing.T) {
		before := len(l.srv.Mutations())
		var ev map[string]any
		must(t, json.Unmarshal(patchEvent(t, testVPC, l.main, `{"destination-cidr-block": "198.51.100.128/25"}`), &ev))
		delete(ev["requestContext"].(map[string]any)["identity"].(map[string]any), "apiKey")
		unchecked, _ := json.Marshal(ev)
		if code, _, body := patch(t, unchecked); code != http.StatusForbidden || !strings.Contains(body, "ApiKeyRequired") {
			t.Errorf("key header without API Gateway's check: %d %s", code, body)
		}
		delete(ev["headers"].(map[string]any), "x-api-key")
		delete(ev["multiValueHeaders"].(map[string]any), "x-api-key")
		noKey, _ := json.Marshal(ev)
		if code, _, body := patch(t, noKey); code != http.StatusUnauthorized {
			t.Errorf("no key at all: %d %s", code, body)
		}
		if n := len(l.srv.Mutations()); n != before {
			t.Errorf("refused requests made %d EC2 writes", n-before)
		}
	})

	t.Run("an unknown event fails the invocation with an error naming it", func(t *testing.T) {
		before := len(l.srv.Log())
		code, body := fn.invoke(t, []byte(`{"Records":[{"eventSource":"aws:sqs","body":"reconcile please"}]}`))
		var e struct {
			Type    string `json:"errorType"`
			Message string `json:"errorMessage"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("invoke: %d %s", code, body)
		}
		if e.Type != "UnsupportedEventError" || !strings.Contains(e.Message, `eventSource "aws:sqs"`) {
			t.Errorf("invocation error: %d %s", code, body)
		}
		if n := len(l.srv.Log()); n != before {
			t.Errorf("an unsupported event made %d EC2 requests", n-before)
		}
	})

	t.Run("the logs are JSON lines", func(t *testing.T) {
		n := 0
		for _, line := range strings.Split(fn.log(), "\n") {
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Errorf("log line is not JSON: %q", line)
				continue
			}
			if rec["msg"] == "reconcile pass" || rec["msg"] == "sync routes request" {
				n++
			}
		}
		if n < 4 {
			t.Errorf("found %d pass/request log lines in:\n%s", n, fn.log())
		}
		if testing.Verbose() {
			t.Logf("emulator and function output:\n%s", fn.log())
		}
	})
}

// TestLambdaPassEndsBeforeTheDeadline gives a 3 s function more writes than
// its bucket allows in that time: the invocation must end before Lambda's
// deadline with an error that says what was applied and what was not, and
// the next invocation must carry on from there.
func TestLambdaPassEndsBeforeTheDeadline(t *testing.T) {
	v := vpcsim.NewVPC(testVPC, netip.MustParsePrefix("10.0.0.0/16"))
	eni := v.AddNetworkInterface(netip.MustParseAddr("10.0.1.10"))
	custom := []string{v.AddRouteTable(), v.AddRouteTable()}
	must(t, v.EnablePropagation(v.AddRouteServer(65000), v.MainTableID()))
	for i := range 26 {
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), 32)
		must(t, v.PutRoute(v.MainTableID(), vpcsim.Route{Destination: dst, NetworkInterface: eni, Origin: vpcsim.OriginAdvertisement}))
	}
	srv := vpcsim.NewServer(v, vpcsim.Options{})
	if _, err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	// 52 creates through a client bucket of 9 + 5/s need about 8.6 s.
	cfg := lambdaConfig(t, testVPC, srv.URL(), "  mutating_rate: {burst: 10, per_second: 5}\n")
	const timeout = 3 * time.Second
	fn := startRIE(t, packageFunction(t, cfg), timeout)

	invoke := func() (time.Duration, string, string) {
		start := time.Now()
		_, body := fn.invoke(t, sampleEvent(t, "schedule.json", nil))
		var e struct {
			Type    string `json:"errorType"`
			Message string `json:"errorMessage"`
		}
		_ = json.Unmarshal(body, &e)
		return time.Since(start), e.Type, e.Message
	}
	copied := func() int {
		n := 0
		for _, id := range custom {
			tb, _ := v.Table(id)
			n += len(tb.Routes) - 1 // less the local route
		}
		return n
	}
	took, typ, msg := invoke()
	first := copied()
	t.Logf("first invocation, %v: %s: %s", took.Round(time.Millisecond), typ, msg)
	if typ != "PassError" || !strings.Contains(msg, "schedule pass: ") || !strings.Contains(msg, "deadline") {
		t.Fatalf("first invocation: %s: %s", typ, msg)
	}
	// Had the function overrun its deadline, the emulator would have cut it
	// and answered "Task timed out" instead of the function's own error:
	// the PassError above is the proof it ended in time.
	if first == 0 || first >= 52 {
		t.Errorf("the first invocation copied %d of 52 routes", first)
	}
	if !strings.Contains(msg, fmt.Sprintf("%d applied", first)) {
		t.Errorf("the error %q does not report the %d routes copied", msg, first)
	}
	if _, typ, msg := invoke(); copied() <= first {
		t.Errorf("the second invocation copied nothing more (%d): %s %s", copied(), typ, msg)
	}
}
