package routetable

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/vpcsim"
)

const testKey = "s3cr3t-key-for-tests"

// syncFixture is a VPC whose main table holds a static route to an ENI (the
// seed's case) plus routes each check must refuse, behind the handler.
type syncFixture struct {
	*fixture
	url string
	rec *recorder
}

var (
	syncDst      = netip.MustParsePrefix("198.51.100.0/25")
	blackholeDst = netip.MustParsePrefix("198.51.100.128/26")
	gatewayDst   = netip.MustParsePrefix("198.51.100.192/27")
)

func newSyncFixture(t *testing.T, mod func(*SyncRoutesConfig)) *syncFixture {
	t.Helper()
	f := newFixture(t, fixtureOptions{customTables: 3, routes: 1})
	gone := f.vpc.AddNetworkInterface(netip.MustParseAddr("10.0.1.99"))
	must(t, f.vpc.PutRoute(f.main, vpcsim.Route{Destination: blackholeDst, NetworkInterface: gone}))
	must(t, f.vpc.RemoveNetworkInterface(gone))
	must(t, f.vpc.PutRoute(f.main, vpcsim.Route{Destination: gatewayDst, GatewayID: "igw-0123456789abcdef0"}))
	// custom[0] is in step, custom[1] points at the old ENI, custom[2] lacks the route.
	must(t, f.vpc.PutRoute(f.custom[1], vpcsim.Route{Destination: syncDst, NetworkInterface: f.enis[0]}))
	must(t, f.vpc.RemoveRoute(f.custom[0], netip.MustParsePrefix("198.51.100.128/25")))
	must(t, f.vpc.PutRoute(f.custom[0], vpcsim.Route{Destination: syncDst, NetworkInterface: f.enis[1]}))
	rec := newRecorder()
	cfg := SyncRoutesConfig{VPCID: testVPC, APIKey: []byte(testKey), Observer: rec, MaxBody: 256}
	if mod != nil {
		mod(&cfg)
	}
	srv := httptest.NewServer(NewSyncRoutesHandler(f.api, cfg))
	t.Cleanup(srv.Close)
	f.srv.ResetLog()
	return &syncFixture{fixture: f, url: srv.URL, rec: rec}
}

func (s *syncFixture) patch(t *testing.T, vpc, rtb, key, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, s.url+"/vpcs/"+vpc+"/route-tables/"+rtb, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSyncRoutesRefusesBadRequests(t *testing.T) {
	good := `{"destination-cidr-block": "198.51.100.0/25", "dry-run": false}`
	tests := []struct {
		name      string
		vpc, rtb  string
		key, body string
		status    int
		wantError string
		// reachesEC2 is true for checks that need the tables.
		reachesEC2 bool
	}{
		{name: "a missing key is 401", key: "", body: good, status: 401, wantError: "missing X-API-Key"},
		{name: "a wrong key is 403", key: "wrong", body: good, status: 403, wantError: "wrong API key"},
		{name: "a key with the right prefix is 403", key: testKey + "x", body: good, status: 403, wantError: "wrong API key"},
		{name: "bad JSON is 400", body: `{"destination-cidr-block": `, status: 400, wantError: "JSON object"},
		{name: "a JSON array is 400", body: `["198.51.100.0/25"]`, status: 400, wantError: "JSON object"},
		{name: "trailing data is 400", body: good + ` {}`, status: 400, wantError: "JSON object"},
		{name: "an extra property is 400", body: `{"destination-cidr-block": "198.51.100.0/25", "route-table": "x"}`, status: 400, wantError: "unknown property"},
		{name: "a property in other case is 400", body: `{"Destination-Cidr-Block": "198.51.100.0/25"}`, status: 400, wantError: "unknown property"},
		{name: "a missing destination is 400", body: `{"dry-run": true}`, status: 400, wantError: "required"},
		{name: "a bad CIDR is 400", body: `{"destination-cidr-block": "198.51.100.300/25"}`, status: 400, wantError: "canonical IPv4"},
		{name: "a CIDR with host bits is 400", body: `{"destination-cidr-block": "198.51.100.1/25"}`, status: 400, wantError: "canonical IPv4"},
		{name: "an IPv6 CIDR is 400", body: `{"destination-cidr-block": "2001:db8::/64"}`, status: 400, wantError: "canonical IPv4"},
		{name: "a number as destination is 400", body: `{"destination-cidr-block": 7}`, status: 400, wantError: "canonical IPv4"},
		{name: "a string as dry-run is 400", body: `{"destination-cidr-block": "198.51.100.0/25", "dry-run": "yes"}`, status: 400, wantError: "boolean"},
		{name: "a null dry-run is 400", body: `{"destination-cidr-block": "198.51.100.0/25", "dry-run": null}`, status: 400, wantError: "boolean"},
		{name: "a bad vpc id is 400", vpc: "vpc-xyz", body: good, status: 400, wantError: "vpc id"},
		{name: "an uppercase rtb id is 400", rtb: "rtb-0123456789ABCDEF0", body: good, status: 400, wantError: "route table id"},
		{name: "another VPC is 400", vpc: "vpc-0123456789abcdef1", body: good, status: 400, wantError: "does not serve"},
		{name: "an oversize body is 413", body: `{"destination-cidr-block": "198.51.100.0/25"` + strings.Repeat(" ", 300) + `}`, status: 413, wantError: "too large"},
		{name: "a table not in the VPC is 400", rtb: "rtb-00000000", body: good, status: 400, wantError: "is not in", reachesEC2: true},
		{name: "a non-main table is 400", rtb: "custom", body: good, status: 400, wantError: "not the main route table", reachesEC2: true},
		{name: "a destination without a route is 400", body: `{"destination-cidr-block": "198.51.100.0/24"}`, status: 400, wantError: "no route", reachesEC2: true},
		{name: "the local route is 400", body: `{"destination-cidr-block": "10.0.0.0/16"}`, status: 400, wantError: "local route", reachesEC2: true},
		{name: "a blackhole route is 400", body: `{"destination-cidr-block": "198.51.100.128/26"}`, status: 400, wantError: "not active", reachesEC2: true},
		{name: "a propagated route is 400", body: `{"destination-cidr-block": "203.0.113.1/32"}`, status: 400, wantError: "origin Advertisement", reachesEC2: true},
		{name: "a gateway route is 400", body: `{"destination-cidr-block": "198.51.100.192/27"}`, status: 400, wantError: "network interface", reachesEC2: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSyncFixture(t, nil)
			vpc, rtb, key := tt.vpc, tt.rtb, tt.key
			if vpc == "" {
				vpc = testVPC
			}
			switch rtb {
			case "":
				rtb = s.main
			case "custom":
				rtb = s.custom[0]
			}
			if key == "" && tt.status != 401 {
				key = testKey
			}
			status, body := s.patch(t, vpc, rtb, key, tt.body)
			var e struct{ Error string }
			if status != tt.status || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, tt.wantError) {
				t.Errorf("got %d %s, want %d with error containing %q", status, body, tt.status, tt.wantError)
			}
			if m := s.srv.Mutations(); len(m) != 0 {
				t.Errorf("%d mutations", len(m))
			}
			if n := len(s.srv.Log()); !tt.reachesEC2 && n != 0 {
				t.Errorf("a request refused before EC2 made %d EC2 requests", n)
			}
			if s.rec.api[tt.status] != 1 {
				t.Errorf("observer counted %v", s.rec.api)
			}
		})
	}
}

func decodeSync(t *testing.T, body string) map[string]SyncTableResult {
	t.Helper()
	var resp SyncRoutesResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	out := map[string]SyncTableResult{}
	for _, r := range resp.RouteTables {
		out[r.RouteTableID] = r
	}
	return out
}

func TestSyncRoutesCopiesTheRoute(t *testing.T) {
	s := newSyncFixture(t, nil)
	before := s.snapshot()
	status, body := s.patch(t, testVPC, s.main, testKey, `{"destination-cidr-block": "198.51.100.0/25"}`)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	got := decodeSync(t, body)
	t.Run("each custom table is reported unchanged, replaced or created", func(t *testing.T) {
		want := map[string]string{s.custom[0]: SyncUnchanged, s.custom[1]: SyncReplaced, s.custom[2]: SyncCreated, s.propagated: SyncCreated}
		for id, w := range want {
			if got[id].Result != w {
				t.Errorf("%s: %+v, want %s", id, got[id], w)
			}
		}
		if got[s.custom[1]].PrevENI != s.enis[0] {
			t.Errorf("replace lacks the previous ENI: %+v", got[s.custom[1]])
		}
		if _, ok := got[s.main]; ok {
			t.Error("the main table is listed as a target")
		}
	})
	t.Run("the tables now route the destination via the main table's ENI", func(t *testing.T) {
		for _, id := range append(s.custom, s.propagated) {
			tb, _ := s.vpc.Table(id)
			if r, ok := tb.Route(syncDst); !ok || r.NetworkInterface != s.enis[1] {
				t.Errorf("%s: %+v", id, r)
			}
		}
		if main, _ := s.vpc.Table(s.main); len(main.Routes) != len(before[s.main].Routes) {
			t.Error("the main table changed")
		}
	})
	t.Run("exactly two creates and one replace were written", func(t *testing.T) {
		m := s.srv.Mutations()
		if countActions(m, "CreateRoute") != 2 || countActions(m, "ReplaceRoute") != 1 || len(m) != 3 {
			t.Errorf("mutations %+v", m)
		}
		if s.rec.changes["create"] != 2 || s.rec.changes["replace"] != 1 {
			t.Errorf("observer changes %v", s.rec.changes)
		}
	})
}

func TestSyncRoutesDryRunWritesNothing(t *testing.T) {
	s := newSyncFixture(t, nil)
	status, body := s.patch(t, testVPC, s.main, testKey, `{"destination-cidr-block": "198.51.100.0/25", "dry-run": true}`)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	got := decodeSync(t, body)
	t.Run("the would-be changes are reported", func(t *testing.T) {
		if got[s.custom[1]].Result != SyncWouldReplace || got[s.custom[2]].Result != SyncWouldCreate || got[s.custom[0]].Result != SyncUnchanged {
			t.Errorf("results %+v", got)
		}
	})
	t.Run("EC2 saw dry runs only", func(t *testing.T) {
		if m := s.srv.Mutations(); len(m) != 0 {
			t.Errorf("%d mutations", len(m))
		}
		dry := 0
		for _, r := range s.srv.Log() {
			if r.Mutating && r.DryRun() {
				dry++
			}
		}
		if dry != 3 {
			t.Errorf("%d dry-run requests, want 3", dry)
		}
	})
}

// Another writer has just emptied the account's mutating bucket: the
// request's writes are throttled, planned again from a fresh read and paced,
// and the answer is still a full success.
func TestSyncRoutesRetriesThrottledWritesWithinTheRequest(t *testing.T) {
	s := newSyncFixture(t, nil)
	s.srv.SetBuckets(vpcsim.Bucket{Size: 50, RefillPerSecond: 5}, vpcsim.Bucket{})
	s.srv.Account().SpendMutating(-1)
	status, body := s.patch(t, testVPC, s.main, testKey, `{"destination-cidr-block": "198.51.100.0/25"}`)
	got := decodeSync(t, body)
	if status != 200 || got[s.custom[1]].Result != SyncReplaced || got[s.custom[2]].Result != SyncCreated || got[s.propagated].Result != SyncCreated {
		t.Fatalf("status %d, results %+v", status, got)
	}
	if s.rec.count("CreateRoute RequestLimitExceeded")+s.rec.count("ReplaceRoute RequestLimitExceeded") == 0 {
		t.Errorf("nothing was throttled: %v", s.rec.requests)
	}
	if m := s.srv.Mutations(); len(m) != 3 {
		t.Errorf("%d writes, want 3: a throttled write is not repeated once it succeeded", len(m))
	}
}

func TestSyncRoutesRefusesAnIgnoredDestination(t *testing.T) {
	s := newSyncFixture(t, func(c *SyncRoutesConfig) { c.Ignore = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")} })
	status, body := s.patch(t, testVPC, s.main, testKey, `{"destination-cidr-block": "198.51.100.0/25"}`)
	if status != http.StatusBadRequest || !strings.Contains(body, "ignore_routes") || len(s.srv.Mutations()) != 0 {
		t.Errorf("status %d, %s, %d writes", status, body, len(s.srv.Mutations()))
	}
}

func TestSyncRoutesReportsAFailingTable(t *testing.T) {
	s := newSyncFixture(t, nil)
	s.srv.SetFaults(vpcsim.Faults{FailTable: s.custom[2]})
	status, body := s.patch(t, testVPC, s.main, testKey, `{"destination-cidr-block": "198.51.100.0/25"}`)
	got := decodeSync(t, body)
	if status != 200 || got[s.custom[2]].Result != SyncError || !strings.Contains(got[s.custom[2]].Error, "UnauthorizedOperation") ||
		got[s.custom[1]].Result != SyncReplaced {
		t.Errorf("status %d, results %+v", status, got)
	}
}

func TestSyncRoutesRateLimit(t *testing.T) {
	s := newSyncFixture(t, func(c *SyncRoutesConfig) { c.Rate, c.Burst = 0.001, 2 })
	body := `{"destination-cidr-block": "198.51.100.0/25", "dry-run": true}`
	var statuses []int
	for range 3 {
		st, _ := s.patch(t, testVPC, s.main, testKey, body)
		statuses = append(statuses, st)
	}
	t.Run("requests beyond the burst are 429 and reach nothing", func(t *testing.T) {
		if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
			t.Errorf("statuses %v, want 200 200 429", statuses)
		}
		if n := countActions(s.srv.Log(), "DescribeRouteTables"); n != 2 {
			t.Errorf("%d DescribeRouteTables, want 2", n)
		}
		if m := s.srv.Mutations(); len(m) != 0 {
			t.Errorf("%d mutations", len(m))
		}
	})
	t.Run("unauthenticated requests do not use up the budget", func(t *testing.T) {
		s := newSyncFixture(t, func(c *SyncRoutesConfig) { c.Rate, c.Burst = 0.001, 1 })
		for range 5 {
			if st, _ := s.patch(t, testVPC, s.main, "wrong", body); st != 403 {
				t.Fatalf("status %d", st)
			}
		}
		if st, b := s.patch(t, testVPC, s.main, testKey, body); st != 200 {
			t.Errorf("status %d %s", st, b)
		}
	})
}

func TestSyncRoutesWithoutKeyRefusesAll(t *testing.T) {
	s := newSyncFixture(t, func(c *SyncRoutesConfig) { c.APIKey = nil })
	if st, _ := s.patch(t, testVPC, s.main, "anything", `{"destination-cidr-block": "198.51.100.0/25"}`); st != 403 {
		t.Errorf("status %d, want 403", st)
	}
}

func TestParseSyncBodyErrors(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		want       error
	}{
		{"an empty body is not an object", ``, ErrBodyNotObject},
		{"null is not an object", `null`, ErrBodyNotObject},
		{"an unknown key is named", `{"destination-cidr-block":"198.51.100.0/25","x":1}`, ErrBodyUnknownKey},
		{"a repeated key is refused", `{"destination-cidr-block":"198.51.100.0/25","destination-cidr-block":"203.0.113.0/24"}`, ErrBodyDuplicateKey},
		{"a valid body parses", `{"destination-cidr-block":"198.51.100.0/25","dry-run":true}`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSyncBody([]byte(tt.body))
			if !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// A request that arrives during a reconcile pass waits for it: it never reads
// the tables while a pass is writing them.
func TestSyncRoutesWaitsForARunningPass(t *testing.T) {
	var pass sync.Mutex
	s := newSyncFixture(t, func(c *SyncRoutesConfig) { c.Serialize = &pass })
	pass.Lock() // a pass is running
	done := make(chan int, 1)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, s.url+"/vpcs/"+testVPC+"/route-tables/"+s.main,
		strings.NewReader(`{"destination-cidr-block": "`+syncDst.String()+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", testKey)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case code := <-done:
		t.Fatalf("the request was answered (%d) while a pass held the lock", code)
	case <-time.After(300 * time.Millisecond): // observation window
	}
	if n := len(s.srv.Log()); n != 0 {
		t.Fatalf("the request reached EC2 (%d calls) during the pass", n)
	}
	pass.Unlock()
	if code := <-done; code != http.StatusOK {
		t.Fatalf("after the pass: %d", code)
	}
}
