package vpcsim

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func tableIDs(ts []types.RouteTable) []string {
	var ids []string
	for _, t := range ts {
		ids = append(ids, aws.ToString(t.RouteTableId))
	}
	return ids
}

func TestDescribeRouteTablesThroughTheSDK(t *testing.T) {
	f := newFixture(t, Options{}, noRetry)
	main := f.vpc.MainTableID()
	filter := func(name string, values ...string) types.Filter {
		return types.Filter{Name: aws.String(name), Values: values}
	}
	tests := []struct {
		name     string
		in       ec2.DescribeRouteTablesInput
		wantIDs  []string
		wantCode string
	}{
		{"no filter lists every table", ec2.DescribeRouteTablesInput{}, []string{main, f.custom[0], f.custom[1]}, ""},
		{"vpc-id filter lists the VPC's tables",
			ec2.DescribeRouteTablesInput{Filters: []types.Filter{filter("vpc-id", testVPCID)}}, []string{main, f.custom[0], f.custom[1]}, ""},
		{"another vpc-id lists nothing",
			ec2.DescribeRouteTablesInput{Filters: []types.Filter{filter("vpc-id", "vpc-0ffffffffffffffff")}}, nil, ""},
		{"association.main=true finds the main table",
			ec2.DescribeRouteTablesInput{Filters: []types.Filter{filter("association.main", "true")}}, []string{main}, ""},
		{"association.main=false finds only tables with a subnet association",
			ec2.DescribeRouteTablesInput{Filters: []types.Filter{filter("association.main", "false")}}, []string{f.custom[0]}, ""},
		{"route-table-id filter values are ORed",
			ec2.DescribeRouteTablesInput{Filters: []types.Filter{filter("route-table-id", f.custom[1], main)}}, []string{main, f.custom[1]}, ""},
		{"filters are ANDed",
			ec2.DescribeRouteTablesInput{Filters: []types.Filter{filter("vpc-id", testVPCID), filter("route.origin", "Advertisement")}}, []string{main}, ""},
		{"ids select tables",
			ec2.DescribeRouteTablesInput{RouteTableIds: []string{f.custom[1]}}, []string{f.custom[1]}, ""},
		{"an unknown id is NotFound",
			ec2.DescribeRouteTablesInput{RouteTableIds: []string{"rtb-0ffffffffffffffff"}}, nil, CodeRouteTableNotFound},
		{"an unknown filter is an invalid parameter",
			ec2.DescribeRouteTablesInput{Filters: []types.Filter{filter("colour", "blue")}}, nil, CodeInvalidParameterValue},
		{"MaxResults below 5 is an invalid parameter",
			ec2.DescribeRouteTablesInput{MaxResults: aws.Int32(1)}, nil, CodeInvalidParameterValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := f.client.DescribeRouteTables(ctxT(t), &tc.in)
			wantCode(t, err, tc.wantCode)
			if err != nil {
				return
			}
			if got := tableIDs(out.RouteTables); !slices.Equal(got, tc.wantIDs) {
				t.Errorf("tables = %v, want %v", got, tc.wantIDs)
			}
		})
	}

	t.Run("routes and associations carry every field the reconciler reads", func(t *testing.T) {
		out, err := f.client.DescribeRouteTables(ctxT(t), &ec2.DescribeRouteTablesInput{RouteTableIds: []string{main}})
		if err != nil {
			t.Fatal(err)
		}
		rt := out.RouteTables[0]
		if aws.ToString(rt.VpcId) != testVPCID || len(rt.Associations) != 1 || !aws.ToBool(rt.Associations[0].Main) {
			t.Fatalf("main table = %+v, want vpc %s and one main association", rt, testVPCID)
		}
		if len(rt.Routes) != 2 {
			t.Fatalf("routes = %d, want local + advertisement", len(rt.Routes))
		}
		local, adv := rt.Routes[0], rt.Routes[1]
		if aws.ToString(local.DestinationCidrBlock) != "10.0.0.0/16" || aws.ToString(local.GatewayId) != "local" ||
			local.Origin != types.RouteOriginCreateRouteTable || local.State != types.RouteStateActive {
			t.Errorf("local route = %+v", local)
		}
		if aws.ToString(adv.DestinationCidrBlock) != "203.0.113.10/32" || aws.ToString(adv.NetworkInterfaceId) != f.eni ||
			aws.ToString(adv.IpAddress) != "10.0.1.10" || adv.Origin != types.RouteOrigin("Advertisement") || adv.State != types.RouteStateActive {
			t.Errorf("advertisement route = %+v", adv)
		}
	})

	t.Run("the SDK paginator walks all tables five at a time", func(t *testing.T) {
		for range 9 {
			f.vpc.AddRouteTable()
		}
		p := ec2.NewDescribeRouteTablesPaginator(f.client, &ec2.DescribeRouteTablesInput{MaxResults: aws.Int32(5)})
		var ids []string
		pages := 0
		for p.HasMorePages() {
			out, err := p.NextPage(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			pages++
			ids = append(ids, tableIDs(out.RouteTables)...)
		}
		if pages != 3 || len(ids) != 12 || !slices.IsSorted(ids) {
			t.Errorf("pages = %d, ids = %v; want 3 pages of 12 sorted tables", pages, ids)
		}
	})
}

func TestRouteMutationsThroughTheSDK(t *testing.T) {
	f := newFixture(t, Options{}, noRetry)
	rtb := f.custom[0]
	ctx := ctxT(t)
	if _, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtb),
		DestinationCidrBlock: aws.String("198.51.100.0/24"), NetworkInterfaceId: aws.String(f.eni)}); err != nil {
		t.Fatalf("seed route: %v", err)
	}
	tests := []struct {
		name     string
		call     func() error
		wantCode string
		wantDst  string // checked after the call: "" skips
		wantENI  string // "" with wantDst set means the route must be gone
	}{
		{"create adds an active CreateRoute route", func() error {
			_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("203.0.113.10/32"), NetworkInterfaceId: aws.String(f.eni)})
			return err
		}, "", "203.0.113.10/32", "eni1"},
		{"create on an existing destination is RouteAlreadyExists", func() error {
			_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("198.51.100.0/24"), NetworkInterfaceId: aws.String(f.eni2)})
			return err
		}, CodeRouteAlreadyExists, "198.51.100.0/24", "eni1"},
		{"create canonicalises a CIDR with host bits", func() error {
			_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("203.0.113.77/28"), NetworkInterfaceId: aws.String(f.eni)})
			return err
		}, "", "203.0.113.64/28", "eni1"},
		{"create takes an IPv6 destination", func() error {
			_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtb),
				DestinationIpv6CidrBlock: aws.String("2001:db8:1::/48"), NetworkInterfaceId: aws.String(f.eni)})
			return err
		}, "", "2001:db8:1::/48", "eni1"},
		{"an IPv6 prefix in DestinationCidrBlock is invalid", func() error {
			_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("2001:db8:2::/48"), NetworkInterfaceId: aws.String(f.eni)})
			return err
		}, CodeInvalidParameterValue, "", ""},
		{"create towards an unknown ENI is InvalidNetworkInterfaceID.NotFound", func() error {
			_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("203.0.113.20/32"), NetworkInterfaceId: aws.String("eni-0ffffffffffffffff")})
			return err
		}, CodeNetworkInterfaceNotFound, "203.0.113.20/32", ""},
		{"create without a target is MissingParameter", func() error {
			_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("203.0.113.21/32")})
			return err
		}, CodeMissingParameter, "203.0.113.21/32", ""},
		{"create in an unknown table is InvalidRouteTableID.NotFound", func() error {
			_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String("rtb-0ffffffffffffffff"),
				DestinationCidrBlock: aws.String("203.0.113.22/32"), NetworkInterfaceId: aws.String(f.eni)})
			return err
		}, CodeRouteTableNotFound, "", ""},
		{"replace moves the route to another ENI", func() error {
			_, err := f.client.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("198.51.100.0/24"), NetworkInterfaceId: aws.String(f.eni2)})
			return err
		}, "", "198.51.100.0/24", "eni2"},
		{"replace of a missing destination is InvalidRoute.NotFound", func() error {
			_, err := f.client.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("203.0.113.30/32"), NetworkInterfaceId: aws.String(f.eni)})
			return err
		}, CodeRouteNotFound, "203.0.113.30/32", ""},
		{"replace towards an unknown ENI keeps the old target", func() error {
			_, err := f.client.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("198.51.100.0/24"), NetworkInterfaceId: aws.String("eni-0ffffffffffffffff")})
			return err
		}, CodeNetworkInterfaceNotFound, "198.51.100.0/24", "eni2"},
		{"replace of the local route is refused", func() error {
			_, err := f.client.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("10.0.0.0/16"), NetworkInterfaceId: aws.String(f.eni)})
			return err
		}, CodeInvalidParameterValue, "", ""},
		{"delete removes the route", func() error {
			_, err := f.client.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("203.0.113.10/32")})
			return err
		}, "", "203.0.113.10/32", ""},
		{"delete of a missing destination is InvalidRoute.NotFound", func() error {
			_, err := f.client.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("203.0.113.10/32")})
			return err
		}, CodeRouteNotFound, "", ""},
		{"delete of the local route is refused", func() error {
			_, err := f.client.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("10.0.0.0/16")})
			return err
		}, CodeInvalidParameterValue, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gen := f.vpc.Generation()
			err := tc.call()
			wantCode(t, err, tc.wantCode)
			if changed := f.vpc.Generation() != gen; changed != (err == nil) {
				t.Errorf("VPC changed = %v after err = %v", changed, err)
			}
			if tc.wantDst == "" {
				return
			}
			tbl, _ := f.vpc.Table(rtb)
			r, ok := tbl.Route(prefix(tc.wantDst))
			want := map[string]string{"eni1": f.eni, "eni2": f.eni2}[tc.wantENI]
			switch {
			case want == "" && ok:
				t.Errorf("route %s = %+v, want none", tc.wantDst, r)
			case want != "" && !ok:
				t.Errorf("route %s missing", tc.wantDst)
			case want != "" && (r.NetworkInterface != want || r.Origin != OriginCreateRoute || r.State != StateActive):
				t.Errorf("route %s = %+v, want active CreateRoute via %s", tc.wantDst, r, want)
			}
		})
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	f := newFixture(t, Options{}, noRetry)
	rtb, dry := f.custom[0], aws.Bool(true)
	ctx := ctxT(t)
	calls := []struct {
		name string
		call func() error
		want string
	}{
		{"a dry-run create answers DryRunOperation", func() error {
			_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{DryRun: dry, RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("203.0.113.10/32"), NetworkInterfaceId: aws.String(f.eni)})
			return err
		}, CodeDryRunOperation},
		{"a dry-run replace answers DryRunOperation", func() error {
			_, err := f.client.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{DryRun: dry, RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("203.0.113.10/32"), NetworkInterfaceId: aws.String(f.eni)})
			return err
		}, CodeDryRunOperation},
		{"a dry-run delete answers DryRunOperation", func() error {
			_, err := f.client.DeleteRoute(ctx, &ec2.DeleteRouteInput{DryRun: dry, RouteTableId: aws.String(f.vpc.MainTableID()),
				DestinationCidrBlock: aws.String("203.0.113.10/32")})
			return err
		}, CodeDryRunOperation},
		{"a dry run still checks the ENI exists", func() error {
			_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{DryRun: dry, RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("203.0.113.10/32"), NetworkInterfaceId: aws.String("eni-0ffffffffffffffff")})
			return err
		}, CodeNetworkInterfaceNotFound},
		{"a dry-run describe answers DryRunOperation", func() error {
			_, err := f.client.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{DryRun: dry})
			return err
		}, CodeDryRunOperation},
		{"a dry-run route server describe answers DryRunOperation", func() error {
			_, err := f.client.DescribeRouteServers(ctx, &ec2.DescribeRouteServersInput{DryRun: dry})
			return err
		}, CodeDryRunOperation},
	}
	gen := f.vpc.Generation()
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantCode(t, err, tc.want)
			if tc.want == CodeDryRunOperation && httpStatus(err) != 412 {
				t.Errorf("HTTP status = %d, want 412 as EC2 answers DryRunOperation", httpStatus(err))
			}
		})
	}
	if f.vpc.Generation() != gen {
		t.Errorf("generation moved from %d to %d: a dry run changed the VPC", gen, f.vpc.Generation())
	}
	if m := f.srv.Mutations(); len(m) != 0 {
		t.Errorf("mutations = %+v, want none", m)
	}
}

func TestRouteServerAndInterfaceActionsThroughTheSDK(t *testing.T) {
	f := newFixture(t, Options{}, noRetry)
	ctx := ctxT(t)
	rs2 := f.vpc.AddRouteServer(4200000000)
	if err := f.vpc.EnablePropagation(rs2, f.custom[1]); err != nil {
		t.Fatal(err)
	}
	if err := f.vpc.EnablePropagation(rs2, f.vpc.MainTableID()); err != nil {
		t.Fatal(err)
	}

	t.Run("DescribeRouteServers lists both servers with their ASN", func(t *testing.T) {
		out, err := f.client.DescribeRouteServers(ctx, &ec2.DescribeRouteServersInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.RouteServers) != 2 || aws.ToString(out.RouteServers[0].RouteServerId) != f.rs ||
			aws.ToInt64(out.RouteServers[1].AmazonSideAsn) != 4200000000 || out.RouteServers[0].State != types.RouteServerStateAvailable {
			t.Errorf("route servers = %+v", out.RouteServers)
		}
	})
	t.Run("DescribeRouteServers by id and unknown id", func(t *testing.T) {
		out, err := f.client.DescribeRouteServers(ctx, &ec2.DescribeRouteServersInput{RouteServerIds: []string{rs2}})
		if err != nil || len(out.RouteServers) != 1 || aws.ToString(out.RouteServers[0].RouteServerId) != rs2 {
			t.Errorf("by id = %+v, %v", out, err)
		}
		_, err = f.client.DescribeRouteServers(ctx, &ec2.DescribeRouteServersInput{RouteServerIds: []string{"rs-0ffffffffffffffff"}})
		wantCode(t, err, CodeRouteServerNotFound)
	})
	t.Run("GetRouteServerPropagations lists the server's tables", func(t *testing.T) {
		out, err := f.client.GetRouteServerPropagations(ctx, &ec2.GetRouteServerPropagationsInput{RouteServerId: aws.String(rs2)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range out.RouteServerPropagations {
			if aws.ToString(p.RouteServerId) != rs2 || p.State != types.RouteServerPropagationStateAvailable {
				t.Errorf("propagation = %+v", p)
			}
			got = append(got, aws.ToString(p.RouteTableId))
		}
		want := []string{f.vpc.MainTableID(), f.custom[1]}
		if !slices.Equal(got, want) {
			t.Errorf("tables = %v, want %v", got, want)
		}
	})
	t.Run("GetRouteServerPropagations narrows to one table", func(t *testing.T) {
		out, err := f.client.GetRouteServerPropagations(ctx, &ec2.GetRouteServerPropagationsInput{
			RouteServerId: aws.String(rs2), RouteTableId: aws.String(f.custom[1])})
		if err != nil || len(out.RouteServerPropagations) != 1 || aws.ToString(out.RouteServerPropagations[0].RouteTableId) != f.custom[1] {
			t.Errorf("got %+v, %v", out, err)
		}
	})
	t.Run("GetRouteServerPropagations of an unknown server is NotFound", func(t *testing.T) {
		_, err := f.client.GetRouteServerPropagations(ctx, &ec2.GetRouteServerPropagationsInput{RouteServerId: aws.String("rs-0ffffffffffffffff")})
		wantCode(t, err, CodeRouteServerNotFound)
	})
	t.Run("DescribeNetworkInterfaces by id, by address filter and unknown id", func(t *testing.T) {
		out, err := f.client.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{f.eni2}})
		if err != nil || len(out.NetworkInterfaces) != 1 || aws.ToString(out.NetworkInterfaces[0].PrivateIpAddress) != "10.0.2.10" ||
			aws.ToString(out.NetworkInterfaces[0].VpcId) != testVPCID {
			t.Errorf("by id = %+v, %v", out, err)
		}
		out, err = f.client.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
			{Name: aws.String("addresses.private-ip-address"), Values: []string{"10.0.1.10"}}}})
		if err != nil || len(out.NetworkInterfaces) != 1 || aws.ToString(out.NetworkInterfaces[0].NetworkInterfaceId) != f.eni {
			t.Errorf("by address = %+v, %v", out, err)
		}
		_, err = f.client.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{NetworkInterfaceIds: []string{"eni-0ffffffffffffffff"}})
		wantCode(t, err, CodeNetworkInterfaceNotFound)
	})
	t.Run("DescribeNetworkInterfaces finds an ENI by an IPv6 address assigned to it", func(t *testing.T) {
		v6 := netip.MustParseAddr("2001:db8::10")
		if err := f.vpc.AssignIPv6Address(f.eni2, v6); err != nil {
			t.Fatal(err)
		}
		out, err := f.client.DescribeNetworkInterfaces(ctx, &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
			{Name: aws.String("ipv6-addresses.ipv6-address"), Values: []string{"2001:db8::10"}}}})
		if err != nil || len(out.NetworkInterfaces) != 1 || aws.ToString(out.NetworkInterfaces[0].NetworkInterfaceId) != f.eni2 ||
			len(out.NetworkInterfaces[0].Ipv6Addresses) != 1 || aws.ToString(out.NetworkInterfaces[0].Ipv6Addresses[0].Ipv6Address) != v6.String() {
			t.Errorf("by IPv6 address = %+v, %v", out, err)
		}
		if err := f.vpc.AssignIPv6Address(f.eni2, netip.MustParseAddr("10.0.0.1")); err == nil {
			t.Error("an IPv4 address was accepted as IPv6")
		}
	})
}
