package direct

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/rsagent/rsagent/internal/vpcsim"
)

const testVPC = "vpc-0123456789abcdef0"

func startEC2(t *testing.T, vpc *vpcsim.VPC) (*vpcsim.Server, API) {
	t.Helper()
	srv := vpcsim.NewServer(vpc, vpcsim.Options{})
	if _, err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, NewEC2API(vpcsim.EC2Client(srv))
}

// LookupENIs is run against the EC2 emulator through the real SDK: the
// filters it sends must be ones EC2 knows.
func TestLookupENIsFollowsTheAddress(t *testing.T) {
	vpc := vpcsim.NewVPC(testVPC, netip.MustParsePrefix("10.0.0.0/16"))
	a, b, gone := netip.MustParseAddr("10.0.1.10"), netip.MustParseAddr("10.0.2.10"), netip.MustParseAddr("10.0.9.9")
	eniA := vpc.AddNetworkInterface(a)
	eniB := vpc.AddNetworkInterface(b)
	vpc.AddNetworkInterface(netip.MustParseAddr("10.0.3.10")) // not asked for
	if err := vpc.SetSourceDestCheck(eniB, true); err != nil {
		t.Fatal(err)
	}
	srv, api := startEC2(t, vpc)
	ctx := context.Background()
	got, err := LookupENIs(ctx, api, testVPC, []netip.Addr{a, b, gone})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[a].ID != eniA || got[b].ID != eniB {
		t.Fatalf("LookupENIs = %+v, want %s→%s and %s→%s only", got, a, eniA, b, eniB)
	}
	if got[a].SourceDestCheck || !got[b].SourceDestCheck || !got[a].InUse() {
		t.Errorf("attributes: %+v", got)
	}
	calls := 0
	for _, r := range srv.Log() {
		if r.Action == "DescribeNetworkInterfaces" {
			calls++
		}
	}
	if calls != 1 {
		t.Errorf("%d DescribeNetworkInterfaces calls for 3 IPv4 hosts, want 1", calls)
	}

	t.Run("an instance replaced behind the same address is found by its new ENI", func(t *testing.T) {
		if err := vpc.RemoveNetworkInterface(eniA); err != nil {
			t.Fatal(err)
		}
		eniA2 := vpc.AddNetworkInterface(a)
		got, err := LookupENIs(ctx, api, testVPC, []netip.Addr{a})
		if err != nil || got[a].ID != eniA2 {
			t.Fatalf("LookupENIs = %+v, %v; want %s", got, err, eniA2)
		}
	})
	t.Run("no hosts make no call", func(t *testing.T) {
		srv.ResetLog()
		if got, err := LookupENIs(ctx, api, testVPC, nil); err != nil || len(got) != 0 || len(srv.Log()) != 0 {
			t.Fatalf("%v %v, %d calls", got, err, len(srv.Log()))
		}
	})
}

func TestDescribeAndSelectTables(t *testing.T) {
	vpc := vpcsim.NewVPC(testVPC, netip.MustParsePrefix("10.0.0.0/16"))
	t1, t2 := vpc.AddRouteTable(), vpc.AddRouteTable()
	_, api := startEC2(t, vpc)
	all, err := DescribeTables(context.Background(), api, testVPC)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d tables, want main + 2", len(all))
	}
	auto, missing := SelectTables(all, nil)
	if len(auto) != 3 || missing != nil {
		t.Errorf("auto = %d tables, missing %v", len(auto), missing)
	}
	listed, missing := SelectTables(all, []string{t2, "rtb-00000000", t1})
	ids := []string{}
	for _, t := range listed {
		ids = append(ids, t.ID)
	}
	if !slices.Equal(ids, []string{t2, t1}) || !slices.Equal(missing, []string{"rtb-00000000"}) {
		t.Errorf("listed = %v, missing %v", ids, missing)
	}
}
