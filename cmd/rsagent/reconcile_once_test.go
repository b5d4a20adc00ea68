package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/rsagent/rsagent/internal/vpcsim"
	"github.com/rsagent/rsagent/routetable"
)

// onceVPC is a VPC with 8 Route Server routes to copy into 2 custom
// tables, behind the EC2 emulator with the given options.
func onceVPC(t *testing.T, opts vpcsim.Options) (*vpcsim.VPC, *vpcsim.Server, []string, string) {
	t.Helper()
	for k, v := range vpcsim.OfflineAWSEnv() {
		t.Setenv(k, v)
	}
	vpc := vpcsim.NewVPC("vpc-0123456789abcdef0", netip.MustParsePrefix("10.0.0.0/16"))
	custom := []string{vpc.AddRouteTable(), vpc.AddRouteTable()}
	eni := vpc.AddNetworkInterface(netip.MustParseAddr("10.0.1.10"))
	for i := range 8 {
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)}), 32)
		if err := vpc.PutRoute(vpc.MainTableID(), vpcsim.Route{Destination: dst, NetworkInterface: eni, Origin: vpcsim.OriginAdvertisement}); err != nil {
			t.Fatal(err)
		}
	}
	srv := vpcsim.NewServer(vpc, opts)
	url, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return vpc, srv, custom, url
}

func onceConfig(t *testing.T, url, extra string) string {
	return writeFile(t, "r.yaml", fmt.Sprintf("reconcile:\n  region: us-east-1\n  vpc_id: vpc-0123456789abcdef0\n  endpoint: %q\n%shttp: {listen: \"\"}\n", url, extra))
}

func decodeResult(t *testing.T, out string) routetable.Result {
	t.Helper()
	var res routetable.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return res
}

// `reconcile --once` exits 0 when the tables converged, even when EC2
// throttled it on the way: the account's bucket (3 tokens) is far smaller
// than the client's (50), as when other writers spend it.
func TestReconcileOnceExitsZeroWhenThrottledButConverged(t *testing.T) {
	vpc, srv, custom, url := onceVPC(t, vpcsim.Options{Mutating: vpcsim.Bucket{Size: 3, RefillPerSecond: 20}})
	out, errOut, code := execute(t, "reconcile", "--once", "-o", "json", "-c", onceConfig(t, url, ""))
	res := decodeResult(t, out)
	if code != 0 || res.Result != "changed" || res.Writes != 16 || len(res.Failures) != 0 {
		t.Fatalf("exit %d, result %s, %d writes, failures %v\n%s", code, res.Result, res.Writes, res.Failures, errOut)
	}
	if res.Throttled == 0 {
		t.Error("EC2 throttled nothing: the test exercised no throttling")
	}
	for _, id := range custom {
		tb, _ := vpc.Table(id)
		if len(tb.Routes) != 9 {
			t.Errorf("%s has %d routes, want the local route and 8 copies", id, len(tb.Routes))
		}
	}
	if n := len(srv.Mutations()); n != 16 {
		t.Errorf("%d writes reached EC2, want 16", n)
	}
}

// A change that fails for another reason than throttling fails the pass:
// exit 1, the failure named, the other table converged.
func TestReconcileOnceExitsOneWhenAChangeFails(t *testing.T) {
	vpc, srv, custom, url := onceVPC(t, vpcsim.Options{})
	srv.SetFaults(vpcsim.Faults{FailTable: custom[1]})
	out, _, code := execute(t, "reconcile", "--once", "-o", "json", "-c", onceConfig(t, url, ""))
	res := decodeResult(t, out)
	if code != 1 || res.Result != "error" || !strings.Contains(strings.Join(res.Failures, "\n"), "UnauthorizedOperation") {
		t.Fatalf("exit %d, result %s, failures %v", code, res.Result, res.Failures)
	}
	if tb, _ := vpc.Table(custom[0]); len(tb.Routes) != 9 {
		t.Errorf("the healthy table has %d routes, want 9", len(tb.Routes))
	}
	if len(res.Drift) != 8 || !strings.HasPrefix(res.Drift[0].Handling, "failed: ") {
		t.Errorf("drift %+v, want the 8 routes of the failing table, failed", res.Drift)
	}
}

func TestReconcileOnceExitsTwoOnABadOwnershipKey(t *testing.T) {
	_, _, _, url := onceVPC(t, vpcsim.Options{})
	_, errOut, code := execute(t, "reconcile", "--once", "-c", onceConfig(t, url, "  defer_others: sometimes\n"))
	if code != 2 || !strings.Contains(errOut, "reconcile.defer_others") {
		t.Errorf("exit %d, want 2 naming reconcile.defer_others:\n%s", code, errOut)
	}
}

// With network_interface_ids set to another appliance's ENI and
// defer_others never, the routes are left to it: exit 0, nothing written,
// every route listed as drift, deferred.
func TestReconcileOnceLeavesOtherAppliancesRoutesWithNever(t *testing.T) {
	_, srv, _, url := onceVPC(t, vpcsim.Options{})
	out, errOut, code := execute(t, "reconcile", "--once", "-o", "json", "-c",
		onceConfig(t, url, "  network_interface_ids: [eni-0000000000000000f]\n  defer_others: never\n"))
	res := decodeResult(t, out)
	if code != 0 || res.Deferred != 16 || len(res.Drift) != 16 || len(srv.Mutations()) != 0 {
		t.Fatalf("exit %d, %d deferred, %d drift, %d writes\n%s", code, res.Deferred, len(res.Drift), len(srv.Mutations()), errOut)
	}
	if !strings.Contains(res.Drift[0].Handling, "defer_others: never") {
		t.Errorf("drift handling %q", res.Drift[0].Handling)
	}
}
