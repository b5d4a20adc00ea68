package bgp

import (
	"fmt"
	"net/netip"
	"time"

	apipb "github.com/osrg/gobgp/v3/api"
	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// The conversions below turn GoBGP v4's values into v3's API types for the
// read-only v3 service. Paths are built from GoBGP's native attributes, one
// case per attribute the v3 CLI knows how to print; anything else travels
// as an UnknownAttribute with its raw value, which the CLI prints as such.

func timeFromUnix(sec int64) time.Time { return time.Unix(sec, 0) }

func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		// anypb.New fails only for a message type that cannot marshal; all
		// of ours are generated types.
		panic(fmt.Sprintf("bgp: marshal %T: %v", m, err))
	}
	return a
}

func prefixToV3(n bgp.NLRI) (*apipb.IPAddressPrefix, bool) {
	p, ok := n.(*bgp.IPAddrPrefix)
	if !ok {
		return nil, false
	}
	return &apipb.IPAddressPrefix{Prefix: p.Prefix.Addr().String(), PrefixLen: uint32(p.Prefix.Bits())}, true
}

func nlriToV3(n bgp.NLRI) *anypb.Any {
	if p, ok := prefixToV3(n); ok {
		return mustAny(p)
	}
	// Only unicast is configured, so nothing else reaches here; keep the
	// text rather than fail the listing.
	return mustAny(&apipb.IPAddressPrefix{Prefix: n.String()})
}

func addrs(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func attrToV3(a bgp.PathAttributeInterface) *anypb.Any {
	switch a := a.(type) {
	case *bgp.PathAttributeOrigin:
		return mustAny(&apipb.OriginAttribute{Origin: uint32(a.Value)})
	case *bgp.PathAttributeAsPath:
		out := &apipb.AsPathAttribute{}
		for _, seg := range a.Value {
			out.Segments = append(out.Segments, &apipb.AsSegment{Type: apipb.AsSegment_Type(seg.GetType()), Numbers: seg.GetAS()})
		}
		return mustAny(out)
	case *bgp.PathAttributeNextHop:
		return mustAny(&apipb.NextHopAttribute{NextHop: a.Value.String()})
	case *bgp.PathAttributeMultiExitDisc:
		return mustAny(&apipb.MultiExitDiscAttribute{Med: a.Value})
	case *bgp.PathAttributeLocalPref:
		return mustAny(&apipb.LocalPrefAttribute{LocalPref: a.Value})
	case *bgp.PathAttributeAtomicAggregate:
		return mustAny(&apipb.AtomicAggregateAttribute{})
	case *bgp.PathAttributeAggregator:
		return mustAny(&apipb.AggregatorAttribute{Asn: a.Value.AS, Address: a.Value.Address.String()})
	case *bgp.PathAttributeCommunities:
		return mustAny(&apipb.CommunitiesAttribute{Communities: a.Value})
	case *bgp.PathAttributeOriginatorId:
		return mustAny(&apipb.OriginatorIdAttribute{Id: a.Value.String()})
	case *bgp.PathAttributeClusterList:
		return mustAny(&apipb.ClusterListAttribute{Ids: addrs(a.Value)})
	case *bgp.PathAttributeLargeCommunities:
		out := &apipb.LargeCommunitiesAttribute{}
		for _, c := range a.Values {
			out.Communities = append(out.Communities, &apipb.LargeCommunity{GlobalAdmin: c.ASN, LocalData1: c.LocalData1, LocalData2: c.LocalData2})
		}
		return mustAny(out)
	case *bgp.PathAttributeMpReachNLRI:
		if x, ok := mpReachToV3(a); ok {
			return mustAny(x)
		}
	case *bgp.PathAttributeMpUnreachNLRI:
		out := &apipb.MpUnreachNLRIAttribute{Family: &apipb.Family{Afi: apipb.Family_Afi(a.AFI), Safi: apipb.Family_Safi(a.SAFI)}}
		ok := true
		for _, n := range a.Value {
			p, isPrefix := prefixToV3(n.NLRI)
			ok = ok && isPrefix
			out.Nlris = append(out.Nlris, mustAny(p))
		}
		if ok {
			return mustAny(out)
		}
	}
	return unknownToV3(a)
}

func mpReachToV3(a *bgp.PathAttributeMpReachNLRI) (*apipb.MpReachNLRIAttribute, bool) {
	out := &apipb.MpReachNLRIAttribute{Family: &apipb.Family{Afi: apipb.Family_Afi(a.AFI), Safi: apipb.Family_Safi(a.SAFI)}}
	if a.Nexthop.IsValid() {
		out.NextHops = append(out.NextHops, a.Nexthop.String())
	}
	if a.LinkLocalNexthop.IsValid() {
		out.NextHops = append(out.NextHops, a.LinkLocalNexthop.String())
	}
	for _, n := range a.Value {
		p, ok := prefixToV3(n.NLRI)
		if !ok {
			return nil, false
		}
		out.Nlris = append(out.Nlris, mustAny(p))
	}
	return out, true
}

// unknownToV3 carries an attribute as its raw value.
func unknownToV3(a bgp.PathAttributeInterface) *anypb.Any {
	b, err := a.Serialize()
	hdr := 3
	if a.GetFlags()&bgp.BGP_ATTR_FLAG_EXTENDED_LENGTH != 0 {
		hdr = 4
	}
	if err != nil || len(b) < hdr {
		b, hdr = nil, 0
	}
	return mustAny(&apipb.UnknownAttribute{Flags: uint32(a.GetFlags()), Type: uint32(a.GetType()), Value: b[hdr:]})
}

// peerToV3 renders a GoBGP v4 peer in v3's API types. Peer and its nested
// messages kept their v3 field numbers in v4 (checked by a test), so the
// wire form carries over; what changed is fixed up here: the admin state
// enum gained an UNSPECIFIED 0, capabilities became a oneof instead of Any,
// and a few fields are dropped: v4-only ones (BFD, disconnect reason) and
// the policy assignments, whose messages changed (the CLI's neighbor view
// does not show them).
func peerToV3(p *api.Peer) (*apipb.Peer, error) {
	c := proto.Clone(p).(*api.Peer)
	remote, local := c.GetState().GetRemoteCap(), c.GetState().GetLocalCap()
	admin := c.GetState().GetAdminState()
	if st := c.GetState(); st != nil {
		st.RemoteCap, st.LocalCap = nil, nil
		st.AdminState = api.PeerState_ADMIN_STATE_UNSPECIFIED
		st.DisconnectReason, st.DisconnectMessage, st.BfdState = 0, "", nil
	}
	c.Bfd, c.ApplyPolicy = nil, nil
	for _, af := range c.GetAfiSafis() {
		af.ApplyPolicy = nil
	}
	if t := c.GetTransport(); t != nil {
		t.IpTos = 0
	}
	b, err := proto.Marshal(c)
	if err != nil {
		return nil, err
	}
	out := &apipb.Peer{}
	if err := proto.Unmarshal(b, out); err != nil {
		return nil, err
	}
	if out.State == nil {
		out.State = &apipb.PeerState{}
	}
	switch admin {
	case api.PeerState_ADMIN_STATE_DOWN:
		out.State.AdminState = apipb.PeerState_DOWN
	case api.PeerState_ADMIN_STATE_PFX_CT:
		out.State.AdminState = apipb.PeerState_PFX_CT
	default:
		out.State.AdminState = apipb.PeerState_UP
	}
	out.State.RemoteCap = capsToV3(remote)
	out.State.LocalCap = capsToV3(local)
	return out, nil
}

// capsToV3 converts each capability by name: v4's oneof member
// api.XCapability becomes an Any holding apipb.XCapability. A capability
// whose v3 form differs is left out of the listing.
func capsToV3(caps []*api.Capability) []*anypb.Any {
	var out []*anypb.Any
	for _, c := range caps {
		m := c.ProtoReflect()
		od := m.Descriptor().Oneofs().ByName("cap")
		if od == nil {
			continue
		}
		fd := m.WhichOneof(od)
		if fd == nil || fd.Message() == nil {
			continue
		}
		inner := m.Get(fd).Message().Interface()
		if x, err := convertByName(inner, "apipb"); err == nil {
			out = append(out, mustAny(x))
		}
	}
	return out
}

// convertByName re-reads src as the message of the same short name in
// package pkg, through the wire form.
func convertByName(src proto.Message, pkg protoreflect.FullName) (proto.Message, error) {
	name := pkg.Append(src.ProtoReflect().Descriptor().Name())
	mt, err := protoregistry.GlobalTypes.FindMessageByName(name)
	if err != nil {
		return nil, err
	}
	b, err := proto.Marshal(src)
	if err != nil {
		return nil, err
	}
	dst := mt.New().Interface()
	if err := proto.Unmarshal(b, dst); err != nil {
		return nil, err
	}
	return dst, nil
}
