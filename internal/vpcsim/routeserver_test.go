package vpcsim

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestRouteServerPeersAndRoutingDatabaseThroughTheSDK(t *testing.T) {
	f := newFixture(t, Options{}, noRetry)
	ctx := ctxT(t)
	addr := netip.MustParseAddr
	endpoint, err := f.vpc.AddRouteServerEndpoint(f.rs, "subnet-0aaaaaaaaaaaaaaaa", addr("10.0.1.230"))
	if err != nil {
		t.Fatal(err)
	}
	active, err := f.vpc.AddRouteServerPeer(endpoint, addr("10.0.1.10"), 65010, LivenessBFD)
	if err != nil {
		t.Fatal(err)
	}
	standby, err := f.vpc.AddRouteServerPeer(endpoint, addr("10.0.2.10"), 65010, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.vpc.SetPeerStatus(active, PeerStatusUp, PeerStatusUp); err != nil {
		t.Fatal(err)
	}
	if err := f.vpc.SetRoutingDatabase(f.rs, []RIBRoute{
		{Prefix: prefix("203.0.113.10/32"), PeerID: active, EndpointID: endpoint, NextHop: addr("10.0.1.10"), ASPath: []uint32{65010}, InFIB: true},
		{Prefix: prefix("203.0.113.10/32"), PeerID: standby, EndpointID: endpoint, NextHop: addr("10.0.2.10"), ASPath: []uint32{65010, 65010, 65010}, MED: 100},
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("DescribeRouteServerPeers reports endpoint, options and status", func(t *testing.T) {
		out, err := f.client.DescribeRouteServerPeers(ctx, &ec2.DescribeRouteServerPeersInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.RouteServerPeers) != 2 {
			t.Fatalf("peers = %+v, want 2", out.RouteServerPeers)
		}
		p := out.RouteServerPeers[0]
		if aws.ToString(p.RouteServerPeerId) != active || aws.ToString(p.PeerAddress) != "10.0.1.10" ||
			aws.ToString(p.EndpointEniAddress) != "10.0.1.230" || aws.ToString(p.SubnetId) != "subnet-0aaaaaaaaaaaaaaaa" ||
			aws.ToInt64(p.BgpOptions.PeerAsn) != 65010 || p.BgpOptions.PeerLivenessDetection != types.RouteServerPeerLivenessModeBfd ||
			p.BgpStatus.Status != types.RouteServerBgpStateUp || p.BfdStatus == nil || p.BfdStatus.Status != types.RouteServerBfdStateUp {
			t.Errorf("active peer = %+v", p)
		}
		if s := out.RouteServerPeers[1]; s.BgpStatus.Status != types.RouteServerBgpStateDown || s.BfdStatus != nil {
			t.Errorf("standby peer = %+v, want BGP down and no BFD status", s)
		}
	})
	t.Run("DescribeRouteServerPeers filters by BGP status", func(t *testing.T) {
		out, err := f.client.DescribeRouteServerPeers(ctx, &ec2.DescribeRouteServerPeersInput{
			Filters: []types.Filter{{Name: aws.String("bgp-status"), Values: []string{"down"}}}})
		if err != nil || len(out.RouteServerPeers) != 1 || aws.ToString(out.RouteServerPeers[0].RouteServerPeerId) != standby {
			t.Errorf("got %+v, %v", out, err)
		}
	})
	t.Run("the routing database shows the best path installed and the other in the RIB", func(t *testing.T) {
		if err := f.vpc.EnablePropagation(f.rs, f.custom[1]); err != nil {
			t.Fatal(err)
		}
		out, err := f.client.GetRouteServerRoutingDatabase(ctx, &ec2.GetRouteServerRoutingDatabaseInput{RouteServerId: aws.String(f.rs)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Routes) != 2 {
			t.Fatalf("routes = %+v, want 2", out.Routes)
		}
		best, other := out.Routes[0], out.Routes[1]
		if best.RouteStatus != types.RouteServerRouteStatusInFib || aws.ToString(best.NextHopIp) != "10.0.1.10" ||
			!slices.Equal(best.AsPaths, []string{"65010"}) || aws.ToString(best.RouteServerPeerId) != active {
			t.Errorf("best = %+v", best)
		}
		// The main table holds the Advertisement route; the newly propagated
		// custom table does not yet, and says so.
		var got []string
		for _, d := range best.RouteInstallationDetails {
			got = append(got, aws.ToString(d.RouteTableId)+"="+string(d.RouteInstallationStatus))
		}
		want := []string{f.vpc.MainTableID() + "=installed", f.custom[1] + "=rejected"}
		if !slices.Equal(got, want) {
			t.Errorf("installations = %v, want %v", got, want)
		}
		if other.RouteStatus != types.RouteServerRouteStatusInRib || aws.ToInt32(other.Med) != 100 || len(other.AsPaths) != 3 || len(other.RouteInstallationDetails) != 0 {
			t.Errorf("other = %+v", other)
		}
	})
	t.Run("the routing database filters by route status", func(t *testing.T) {
		out, err := f.client.GetRouteServerRoutingDatabase(ctx, &ec2.GetRouteServerRoutingDatabaseInput{RouteServerId: aws.String(f.rs),
			Filters: []types.Filter{{Name: aws.String("route-status"), Values: []string{"in-rib"}}}})
		if err != nil || len(out.Routes) != 1 || aws.ToString(out.Routes[0].NextHopIp) != "10.0.2.10" {
			t.Errorf("got %+v, %v", out, err)
		}
	})
	t.Run("the routing database of an unknown server is NotFound", func(t *testing.T) {
		_, err := f.client.GetRouteServerRoutingDatabase(ctx, &ec2.GetRouteServerRoutingDatabaseInput{RouteServerId: aws.String("rs-0ffffffffffffffff")})
		wantCode(t, err, CodeRouteServerNotFound)
	})
	t.Run("a peer needs an existing endpoint and a known liveness mode", func(t *testing.T) {
		if _, err := f.vpc.AddRouteServerPeer("rse-nope", addr("10.0.1.11"), 65010, ""); err == nil {
			t.Error("a peer on an unknown endpoint was created")
		}
		if _, err := f.vpc.AddRouteServerPeer(endpoint, addr("10.0.1.11"), 65010, "ping"); err == nil {
			t.Error("a peer with liveness \"ping\" was created")
		}
	})
}
