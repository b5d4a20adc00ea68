package routetable

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

const testVPC = "vpc-0123456789abcdef0"

// fixture is an emulated VPC: a main table holding Route Server routes,
// custom tables, one table with a Route Server propagation, and ENIs.
type fixture struct {
	vpc        *vpcsim.VPC
	srv        *vpcsim.Server
	api        API
	main       string
	custom     []string
	propagated string
	enis       []string
	dests      []netip.Prefix
	// foreign are routes in the custom tables that are not ours.
	foreign []vpcsim.Route
}

type fixtureOptions struct {
	customTables int
	routes       int
	// copiesOn puts copies pointing at enis[1] in every custom table, so
	// every route needs a replacement.
	copiesOn bool
	server   vpcsim.Options
}

// newFixture builds the VPC and starts its server on loopback. The client
// is the production HTTP client; its retryer backs off at most 50 ms so
// fault tests stay fast.
func newFixture(tb testing.TB, o fixtureOptions) *fixture {
	tb.Helper()
	v := vpcsim.NewVPC(testVPC, netip.MustParsePrefix("10.0.0.0/16"))
	f := &fixture{vpc: v, main: v.MainTableID()}
	for i := range 2 {
		f.enis = append(f.enis, v.AddNetworkInterface(netip.AddrFrom4([4]byte{10, 0, 1, byte(10 + i)})))
	}
	for range o.customTables {
		f.custom = append(f.custom, v.AddRouteTable())
	}
	f.propagated = v.AddRouteTable()
	rs := v.AddRouteServer(65000)
	must(tb, v.EnablePropagation(rs, f.main))
	must(tb, v.EnablePropagation(rs, f.propagated))
	for i := range o.routes {
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), 32)
		f.dests = append(f.dests, dst)
		r := vpcsim.Route{Destination: dst, NetworkInterface: f.enis[0], IPAddress: "10.0.1.10", Origin: vpcsim.OriginAdvertisement}
		must(tb, v.PutRoute(f.main, r))
		must(tb, v.PutRoute(f.propagated, r))
		if o.copiesOn {
			for _, t := range f.custom {
				must(tb, v.PutRoute(t, vpcsim.Route{Destination: dst, NetworkInterface: f.enis[1]}))
			}
		}
	}
	// Routes the reconciler must never touch: a user's static route to an
	// ENI outside the source, and a gateway route.
	must(tb, v.PutRoute(f.main, vpcsim.Route{Destination: netip.MustParsePrefix("198.51.100.0/25"), NetworkInterface: f.enis[1]}))
	f.foreign = []vpcsim.Route{
		{Destination: netip.MustParsePrefix("198.51.100.128/25"), NetworkInterface: f.enis[1], Origin: vpcsim.OriginCreateRoute, State: vpcsim.StateActive},
		{Destination: netip.MustParsePrefix("0.0.0.0/0"), GatewayID: "igw-0123456789abcdef0", Origin: vpcsim.OriginCreateRoute, State: vpcsim.StateActive},
	}
	for _, t := range f.custom {
		for _, r := range f.foreign {
			must(tb, v.PutRoute(t, r))
		}
	}
	f.srv = vpcsim.NewServer(v, o.server)
	if _, err := f.srv.Start(); err != nil {
		tb.Fatalf("start vpcsim: %v", err)
	}
	tb.Cleanup(func() { _ = f.srv.Close() })
	client := vpcsim.EC2Client(f.srv, func(eo *ec2.Options) {
		eo.HTTPClient = NewHTTPClient(eo.HTTPClient)
		eo.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxBackoff = 50 * time.Millisecond })
	})
	f.api = NewEC2API(client)
	return f
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// converged reports whether every custom table holds every destination
// via eni.
func (f *fixture) converged(eni string) error {
	for _, id := range f.custom {
		t, ok := f.vpc.Table(id)
		if !ok {
			return fmt.Errorf("table %s vanished", id)
		}
		for _, d := range f.dests {
			r, ok := t.Route(d)
			if !ok || r.NetworkInterface != eni || r.Origin != vpcsim.OriginCreateRoute {
				return fmt.Errorf("%s: %s is %+v (present %v), want via %s", id, d, r, ok, eni)
			}
		}
	}
	return nil
}

// assertOnlyManaged checks the request log: every mutating request went to
// a custom table for a destination of the source, and the routes that are
// not ours, the main table and the propagated table are as they were.
func (f *fixture) assertOnlyManaged(t *testing.T, before map[string]vpcsim.RouteTable) {
	t.Helper()
	mutating := 0
	for _, req := range f.srv.Log() {
		if !req.Mutating {
			continue
		}
		mutating++
		table, dst := req.Params.Get("RouteTableId"), req.Params.Get("DestinationCidrBlock")
		p, err := netip.ParsePrefix(dst)
		if !slices.Contains(f.custom, table) || err != nil || !slices.Contains(f.dests, p) {
			t.Errorf("%s wrote %s in %s: not a managed route", req.Action, dst, table)
		}
	}
	if mutating == 0 {
		t.Error("the log holds no mutating request: the check would prove nothing")
	}
	for _, id := range f.custom {
		tb, _ := f.vpc.Table(id)
		for _, want := range f.foreign {
			if got, ok := tb.Route(want.Destination); !ok || got != want {
				t.Errorf("%s: unmanaged route %s changed: %+v", id, want.Destination, got)
			}
		}
	}
	for _, id := range []string{f.main, f.propagated} {
		got, _ := f.vpc.Table(id)
		if !slices.Equal(got.Routes, before[id].Routes) {
			t.Errorf("%s changed:\n got %+v\nwant %+v", id, got.Routes, before[id].Routes)
		}
	}
}

func (f *fixture) snapshot() map[string]vpcsim.RouteTable {
	out := map[string]vpcsim.RouteTable{}
	for _, t := range f.vpc.Tables() {
		out[t.ID] = t
	}
	return out
}

// recorder is an Observer that keeps everything.
type recorder struct {
	mu       sync.Mutex
	passes   []string
	changes  map[string]int
	requests map[string]int // "operation code"
	notifyKO map[string]int
	api      map[int]int
}

func newRecorder() *recorder {
	return &recorder{changes: map[string]int{}, requests: map[string]int{}, notifyKO: map[string]int{}, api: map[int]int{}}
}

func (r *recorder) PassDone(result string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.passes = append(r.passes, result)
}

func (r *recorder) Changed(action string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes[action]++
}

func (r *recorder) EC2Request(op, code string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests[op+" "+code]++
}

func (r *recorder) NotificationFailed(n string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notifyKO[n]++
}

func (r *recorder) APIRequest(status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.api[status]++
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[key]
}
