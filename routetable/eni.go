package routetable

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// lookupENIs finds the network interfaces of vpcID that hold one of addrs
// (an appliance's bgp.local_address and local_address_v6): one
// DescribeNetworkInterfaces per address family. The result is sorted.
func lookupENIs(ctx context.Context, api API, vpcID string, addrs []netip.Addr, opts ...func(*ec2.Options)) ([]string, error) {
	var v4, v6 []string
	for _, a := range addrs {
		if a.Is4() || a.Is4In6() {
			v4 = append(v4, a.Unmap().String())
		} else {
			v6 = append(v6, a.String())
		}
	}
	var out []string
	for _, q := range []struct {
		filter string
		values []string
	}{{"addresses.private-ip-address", v4}, {"ipv6-addresses.ipv6-address", v6}} {
		if len(q.values) == 0 {
			continue
		}
		in := &ec2.DescribeNetworkInterfacesInput{Filters: []types.Filter{
			{Name: aws.String("vpc-id"), Values: []string{vpcID}},
			{Name: aws.String(q.filter), Values: q.values},
		}}
		for {
			resp, err := api.DescribeNetworkInterfaces(ctx, in, opts...)
			if err != nil {
				return nil, fmt.Errorf("describe the network interfaces holding %v in %s: %w", q.values, vpcID, err)
			}
			for _, ni := range resp.NetworkInterfaces {
				if id := aws.ToString(ni.NetworkInterfaceId); id != "" && !slices.Contains(out, id) {
					out = append(out, id)
				}
			}
			if aws.ToString(resp.NextToken) == "" {
				break
			}
			in.NextToken = resp.NextToken
		}
	}
	slices.Sort(out)
	return out, nil
}
