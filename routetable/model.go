package routetable

import (
	"fmt"
	"net/netip"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Route origins and states as EC2 spells them.
const (
	OriginAdvertisement    = "Advertisement"
	OriginCreateRoute      = "CreateRoute"
	OriginCreateRouteTable = "CreateRouteTable"
	OriginVGWPropagation   = "EnableVgwRoutePropagation"

	StateActive    = "active"
	StateBlackhole = "blackhole"
)

// RouteTable is the part of an EC2 route table the reconciler reasons about.
type RouteTable struct {
	ID     string  `json:"id"`
	VPCID  string  `json:"vpc_id,omitempty"`
	Main   bool    `json:"main,omitempty"`
	Routes []Route `json:"routes"`
}

// Route is one EC2 route. Routes whose destination is a prefix list are not
// modelled: the reconciler neither copies nor touches them.
type Route struct {
	Destination      netip.Prefix `json:"destination"`
	NetworkInterface string       `json:"network_interface,omitempty"`
	// Gateway is any non-ENI target (igw-, nat-, tgw-, "local", …); a route
	// with one is never eligible nor managed. InstanceId is not one: EC2
	// reports it beside NetworkInterfaceId for an ENI attached to an instance.
	Gateway   string `json:"gateway,omitempty"`
	IPAddress string `json:"ip_address,omitempty"`
	Origin    string `json:"origin"`
	State     string `json:"state"`
}

// Local reports whether r is the VPC's implicit local route.
func (r Route) Local() bool { return r.Gateway == "local" }

// ENITarget reports whether r targets a network interface and nothing else.
func (r Route) ENITarget() bool { return r.NetworkInterface != "" && r.Gateway == "" }

// Route returns the route for dst, if the table has one.
func (t RouteTable) Route(dst netip.Prefix) (Route, bool) {
	for _, r := range t.Routes {
		if r.Destination == dst {
			return r, true
		}
	}
	return Route{}, false
}

// FromEC2 converts a DescribeRouteTables item. Prefix-list routes are
// dropped; a destination that does not parse is an error because silently
// ignoring it could hide a route we must not overwrite.
func FromEC2(t types.RouteTable) (RouteTable, error) {
	out := RouteTable{ID: deref(t.RouteTableId), VPCID: deref(t.VpcId)}
	for _, a := range t.Associations {
		if a.Main != nil && *a.Main {
			out.Main = true
		}
	}
	for _, r := range t.Routes {
		var s string
		switch {
		case r.DestinationCidrBlock != nil:
			s = *r.DestinationCidrBlock
		case r.DestinationIpv6CidrBlock != nil:
			s = *r.DestinationIpv6CidrBlock
		default:
			continue
		}
		dst, err := netip.ParsePrefix(s)
		if err != nil {
			return RouteTable{}, fmt.Errorf("parse destination of a route in %s: %w", out.ID, err)
		}
		out.Routes = append(out.Routes, Route{
			Destination:      dst.Masked(),
			NetworkInterface: deref(r.NetworkInterfaceId),
			Gateway:          firstNonEmpty(r.GatewayId, r.NatGatewayId, r.TransitGatewayId, r.VpcPeeringConnectionId, r.CarrierGatewayId, r.LocalGatewayId, r.EgressOnlyInternetGatewayId, r.CoreNetworkArn, r.OdbNetworkArn),
			IPAddress:        deref(r.IpAddress),
			Origin:           string(r.Origin),
			State:            string(r.State),
		})
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func firstNonEmpty(ss ...*string) string {
	for _, s := range ss {
		if v := deref(s); v != "" {
			return v
		}
	}
	return ""
}
