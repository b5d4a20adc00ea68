package direct

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/rsagent/rsagent/routetable"
)

// API is the slice of EC2 direct mode calls, as method values (see
// routetable.API for why not an interface). deploy/iam/router-policy.json
// grants exactly these; a test keeps the two in step.
type API struct {
	DescribeRouteTables       func(context.Context, *ec2.DescribeRouteTablesInput, ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
	DescribeNetworkInterfaces func(context.Context, *ec2.DescribeNetworkInterfacesInput, ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error)
	CreateRoute               func(context.Context, *ec2.CreateRouteInput, ...func(*ec2.Options)) (*ec2.CreateRouteOutput, error)
	ReplaceRoute              func(context.Context, *ec2.ReplaceRouteInput, ...func(*ec2.Options)) (*ec2.ReplaceRouteOutput, error)
	DeleteRoute               func(context.Context, *ec2.DeleteRouteInput, ...func(*ec2.Options)) (*ec2.DeleteRouteOutput, error)
}

// NewEC2API takes the method values direct mode needs from client.
func NewEC2API(client *ec2.Client) API {
	return API{
		DescribeRouteTables:       client.DescribeRouteTables,
		DescribeNetworkInterfaces: client.DescribeNetworkInterfaces,
		CreateRoute:               client.CreateRoute,
		ReplaceRoute:              client.ReplaceRoute,
		DeleteRoute:               client.DeleteRoute,
	}
}

// Writes is the part of the API routetable's Applier makes its calls with.
func (a API) Writes() routetable.API {
	return routetable.API{DescribeRouteTables: a.DescribeRouteTables, CreateRoute: a.CreateRoute, ReplaceRoute: a.ReplaceRoute, DeleteRoute: a.DeleteRoute}
}

// DescribeTables reads every route table of the VPC (one call per page).
func DescribeTables(ctx context.Context, api API, vpcID string, opts ...func(*ec2.Options)) ([]routetable.RouteTable, error) {
	in := &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}}
	var out []routetable.RouteTable
	for {
		resp, err := api.DescribeRouteTables(ctx, in, opts...)
		if err != nil {
			return nil, fmt.Errorf("describe route tables in %s: %w", vpcID, err)
		}
		for _, t := range resp.RouteTables {
			rt, err := routetable.FromEC2(t)
			if err != nil {
				return nil, fmt.Errorf("describe route tables in %s: %w", vpcID, err)
			}
			out = append(out, rt)
		}
		if aws.ToString(resp.NextToken) == "" {
			return out, nil
		}
		in.NextToken = resp.NextToken
	}
}

// SelectTables picks the managed tables: every table with ids nil (auto,
// vpc-router's default), else the listed ones; missing names listed ids not
// in the VPC.
func SelectTables(all []routetable.RouteTable, ids []string) (tables []routetable.RouteTable, missing []string) {
	if ids == nil {
		return all, nil
	}
	// With a list and no source table, the reconciler's target selection
	// is exactly this: the listed tables, and the ids not found.
	return routetable.SelectTargets(all, "", ids, nil)
}

// ENI is the network interface that holds a host's address.
type ENI struct {
	ID string `json:"id"`
	// Status is EC2's: "in-use" when attached; an ENI that is not attached
	// cannot forward, and a route to it is a blackhole.
	Status string `json:"status"`
	// SourceDestCheck enabled means the instance drops packets not
	// addressed to itself: a route to it "works" and traffic dies.
	SourceDestCheck bool `json:"source_dest_check"`
}

// InUse reports whether the ENI is attached to something that can forward.
func (e ENI) InUse() bool {
	return e.Status == "" || e.Status == string(types.NetworkInterfaceStatusInUse)
}

// filterValuesMax bounds the values of one filter in one call.
const filterValuesMax = 200

// LookupENIs finds, for every host, the ENI of the VPC that holds it as a
// private address (primary or secondary, IPv4 or IPv6), with one
// DescribeNetworkInterfaces per 200 hosts. It runs on every pass, so an
// instance replaced behind the same address (a new ENI) is followed at once
// (the blackhole of vpc-router #40). A host with no ENI is absent from the
// result.
func LookupENIs(ctx context.Context, api API, vpcID string, hosts []netip.Addr, opts ...func(*ec2.Options)) (map[netip.Addr]ENI, error) {
	out := map[netip.Addr]ENI{}
	var v4, v6 []string
	want := map[netip.Addr]bool{}
	for _, h := range hosts {
		want[h] = true
		if h.Is4() {
			v4 = append(v4, h.String())
		} else {
			v6 = append(v6, h.String())
		}
	}
	for _, group := range []struct {
		filter string
		values []string
	}{{"addresses.private-ip-address", v4}, {"ipv6-addresses.ipv6-address", v6}} {
		for start := 0; start < len(group.values); start += filterValuesMax {
			chunk := group.values[start:min(start+filterValuesMax, len(group.values))]
			in := &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
				{Name: aws.String("vpc-id"), Values: []string{vpcID}},
				{Name: aws.String(group.filter), Values: chunk},
			}}
			for {
				resp, err := api.DescribeNetworkInterfaces(ctx, in, opts...)
				if err != nil {
					return nil, fmt.Errorf("describe network interfaces in %s: %w", vpcID, err)
				}
				for _, ni := range resp.NetworkInterfaces {
					addENI(out, want, ni)
				}
				if aws.ToString(resp.NextToken) == "" {
					break
				}
				in.NextToken = resp.NextToken
			}
		}
	}
	return out, nil
}

func addENI(out map[netip.Addr]ENI, want map[netip.Addr]bool, ni types.NetworkInterface) {
	e := ENI{ID: aws.ToString(ni.NetworkInterfaceId), Status: string(ni.Status), SourceDestCheck: aws.ToBool(ni.SourceDestCheck)}
	var addrs []string
	if ni.PrivateIpAddress != nil {
		addrs = append(addrs, *ni.PrivateIpAddress)
	}
	for _, p := range ni.PrivateIpAddresses {
		addrs = append(addrs, aws.ToString(p.PrivateIpAddress))
	}
	for _, p := range ni.Ipv6Addresses {
		addrs = append(addrs, aws.ToString(p.Ipv6Address))
	}
	if ni.Ipv6Address != nil {
		addrs = append(addrs, *ni.Ipv6Address)
	}
	for _, s := range addrs {
		if a, err := netip.ParseAddr(s); err == nil && want[a] {
			out[a] = e
		}
	}
}
