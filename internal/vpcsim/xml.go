package vpcsim

import "encoding/xml"

// The element names below are the ones aws-sdk-go-v2's ec2 deserializers
// (service/ec2 v1.344.1, deserializers.go) look for.

type response interface{ setRequestID(string) }

type ec2Response struct {
	RequestID string `xml:"requestId"`
}

func (r *ec2Response) setRequestID(id string) { r.RequestID = id }

type xmlRoute struct {
	DestinationCidrBlock     string `xml:"destinationCidrBlock,omitempty"`
	DestinationIpv6CidrBlock string `xml:"destinationIpv6CidrBlock,omitempty"`
	GatewayID                string `xml:"gatewayId,omitempty"`
	NetworkInterfaceID       string `xml:"networkInterfaceId,omitempty"`
	IPAddress                string `xml:"ipAddress,omitempty"`
	State                    string `xml:"state"`
	Origin                   string `xml:"origin"`
}

type xmlAssociationState struct {
	State string `xml:"state"`
}

type xmlAssociation struct {
	ID           string              `xml:"routeTableAssociationId"`
	RouteTableID string              `xml:"routeTableId"`
	SubnetID     string              `xml:"subnetId,omitempty"`
	Main         bool                `xml:"main"`
	State        xmlAssociationState `xml:"associationState"`
}

type xmlRouteTable struct {
	RouteTableID string           `xml:"routeTableId"`
	VpcID        string           `xml:"vpcId"`
	OwnerID      string           `xml:"ownerId"`
	Routes       []xmlRoute       `xml:"routeSet>item"`
	Associations []xmlAssociation `xml:"associationSet>item"`
}

type describeRouteTablesResponse struct {
	XMLName xml.Name `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeRouteTablesResponse"`
	ec2Response
	RouteTables []xmlRouteTable `xml:"routeTableSet>item"`
	NextToken   string          `xml:"nextToken,omitempty"`
}

type createRouteResponse struct {
	XMLName xml.Name `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ CreateRouteResponse"`
	ec2Response
	Return bool `xml:"return"`
}

type replaceRouteResponse struct {
	XMLName xml.Name `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ ReplaceRouteResponse"`
	ec2Response
	Return bool `xml:"return"`
}

type deleteRouteResponse struct {
	XMLName xml.Name `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DeleteRouteResponse"`
	ec2Response
	Return bool `xml:"return"`
}

type xmlPropagation struct {
	RouteServerID string `xml:"routeServerId"`
	RouteTableID  string `xml:"routeTableId"`
	State         string `xml:"state"`
}

type getRouteServerPropagationsResponse struct {
	XMLName xml.Name `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ GetRouteServerPropagationsResponse"`
	ec2Response
	Propagations []xmlPropagation `xml:"routeServerPropagationSet>item"`
}

type xmlRouteServer struct {
	RouteServerID           string `xml:"routeServerId"`
	AmazonSideAsn           uint32 `xml:"amazonSideAsn"`
	State                   string `xml:"state"`
	PersistRoutesState      string `xml:"persistRoutesState"`
	PersistRoutesDuration   int    `xml:"persistRoutesDuration,omitempty"`
	SnsNotificationsEnabled bool   `xml:"snsNotificationsEnabled"`
}

type describeRouteServersResponse struct {
	XMLName xml.Name `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeRouteServersResponse"`
	ec2Response
	RouteServers []xmlRouteServer `xml:"routeServerSet>item"`
	NextToken    string           `xml:"nextToken,omitempty"`
}

type xmlPrivateIP struct {
	PrivateIPAddress string `xml:"privateIpAddress"`
	Primary          bool   `xml:"primary"`
}

type xmlNetworkInterface struct {
	NetworkInterfaceID string           `xml:"networkInterfaceId"`
	VpcID              string           `xml:"vpcId"`
	OwnerID            string           `xml:"ownerId"`
	InterfaceType      string           `xml:"interfaceType"`
	Status             string           `xml:"status"`
	PrivateIPAddress   string           `xml:"privateIpAddress"`
	SourceDestCheck    bool             `xml:"sourceDestCheck"`
	PrivateIPs         []xmlPrivateIP   `xml:"privateIpAddressesSet>item"`
	IPv6Addresses      []xmlIPv6Address `xml:"ipv6AddressesSet>item,omitempty"`
}

type xmlIPv6Address struct {
	IPv6Address string `xml:"ipv6Address"`
}

type describeNetworkInterfacesResponse struct {
	XMLName xml.Name `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeNetworkInterfacesResponse"`
	ec2Response
	NetworkInterfaces []xmlNetworkInterface `xml:"networkInterfaceSet>item"`
	NextToken         string                `xml:"nextToken,omitempty"`
}

type xmlBGPOptions struct {
	PeerASN  uint32 `xml:"peerAsn"`
	Liveness string `xml:"peerLivenessDetection"`
}

type xmlStatus struct {
	Status string `xml:"status"`
}

type xmlRouteServerPeer struct {
	ID                 string        `xml:"routeServerPeerId"`
	RouteServerID      string        `xml:"routeServerId"`
	EndpointID         string        `xml:"routeServerEndpointId"`
	VpcID              string        `xml:"vpcId"`
	SubnetID           string        `xml:"subnetId"`
	State              string        `xml:"state"`
	EndpointENI        string        `xml:"endpointEniId"`
	EndpointENIAddress string        `xml:"endpointEniAddress"`
	PeerAddress        string        `xml:"peerAddress"`
	BGPOptions         xmlBGPOptions `xml:"bgpOptions"`
	BGPStatus          xmlStatus     `xml:"bgpStatus"`
	BFDStatus          *xmlStatus    `xml:"bfdStatus,omitempty"`
}

type describeRouteServerPeersResponse struct {
	XMLName xml.Name `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeRouteServerPeersResponse"`
	ec2Response
	Peers     []xmlRouteServerPeer `xml:"routeServerPeerSet>item"`
	NextToken string               `xml:"nextToken,omitempty"`
}

type xmlInstallation struct {
	RouteTableID string `xml:"routeTableId"`
	Status       string `xml:"routeInstallationStatus"`
	Reason       string `xml:"routeInstallationStatusReason,omitempty"`
}

type xmlRIBRoute struct {
	Prefix        string            `xml:"prefix"`
	RouteStatus   string            `xml:"routeStatus"`
	EndpointID    string            `xml:"routeServerEndpointId,omitempty"`
	PeerID        string            `xml:"routeServerPeerId,omitempty"`
	NextHop       string            `xml:"nextHopIp"`
	MED           uint32            `xml:"med"`
	ASPath        []string          `xml:"asPathSet>item"`
	Installations []xmlInstallation `xml:"routeInstallationDetailSet>item"`
}

type getRouteServerRoutingDatabaseResponse struct {
	XMLName xml.Name `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ GetRouteServerRoutingDatabaseResponse"`
	ec2Response
	AreRoutesPersisted bool          `xml:"areRoutesPersisted"`
	Routes             []xmlRIBRoute `xml:"routeSet>item"`
	NextToken          string        `xml:"nextToken,omitempty"`
}
