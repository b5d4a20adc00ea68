package bgp

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"

	apipb "github.com/osrg/gobgp/v3/api"
	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestV3PeerWireCompatibility guards peerToV3, which re-reads a v4 Peer as a
// v3 one through the wire form: every field reachable from v3's Peer must
// have the same number and kind in v4, except the ones peerToV3 fixes up.
func TestV3PeerWireCompatibility(t *testing.T) {
	fixedUp := map[string]bool{
		"apipb.PeerState.remote_cap": true, // Any in v3, a oneof message in v4: capsToV3
		"apipb.PeerState.local_cap":  true,
		"apipb.Peer.apply_policy":    true, // cleared: the CLI's neighbor view does not show it
		"apipb.AfiSafi.apply_policy": true,
	}
	var mismatches []string
	seen := map[protoreflect.FullName]bool{}
	var walk func(v3 protoreflect.MessageDescriptor)
	walk = func(v3 protoreflect.MessageDescriptor) {
		if seen[v3.FullName()] || v3.FullName().Parent() == "google.protobuf" {
			return
		}
		seen[v3.FullName()] = true
		v4name := protoreflect.FullName("api").Append(v3.Name())
		if p := v3.Parent(); p != nil {
			if pm, ok := p.(protoreflect.MessageDescriptor); ok {
				v4name = protoreflect.FullName("api").Append(pm.Name()).Append(v3.Name())
			}
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(v4name)
		if err != nil {
			mismatches = append(mismatches, fmt.Sprintf("%s: no v4 message %s", v3.FullName(), v4name))
			return
		}
		v4 := mt.Descriptor()
		for i := range v3.Fields().Len() {
			f := v3.Fields().Get(i)
			name := string(v3.FullName()) + "." + string(f.Name())
			if fixedUp[name] {
				continue
			}
			g := v4.Fields().ByNumber(f.Number())
			if g == nil || g.Kind() != f.Kind() || g.Cardinality() != f.Cardinality() {
				mismatches = append(mismatches, fmt.Sprintf("%s (%d %s): v4 has %v", name, f.Number(), f.Kind(), g))
				continue
			}
			if f.Message() != nil {
				walk(f.Message())
			}
		}
	}
	walk((&apipb.Peer{}).ProtoReflect().Descriptor())
	if len(seen) < 10 {
		t.Fatalf("walked only %d messages", len(seen))
	}
	for _, m := range mismatches {
		t.Error(m)
	}
}

func TestPeerToV3(t *testing.T) {
	in := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: "10.0.1.230", PeerAsn: 65000},
		State: &api.PeerState{NeighborAddress: "10.0.1.230", PeerAsn: 65000, SessionState: api.PeerState_SESSION_STATE_ESTABLISHED,
			AdminState: api.PeerState_ADMIN_STATE_DOWN,
			Messages:   &api.Messages{Sent: &api.Message{Update: 7}, Received: &api.Message{Discarded: 2}},
			RemoteCap: []*api.Capability{{Cap: &api.Capability_MultiProtocol{MultiProtocol: &api.MultiProtocolCapability{
				Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}}}}},
			DisconnectReason: api.PeerState_DISCONNECT_REASON_HOLD_TIMER_EXPIRED},
		Timers:    &api.Timers{State: &api.TimersState{NegotiatedHoldTime: 90, Uptime: timestamppb.Now()}},
		Transport: &api.Transport{LocalAddress: "10.0.1.10", IpTos: 7},
		Bfd:       &api.BfdPeerConfig{Enabled: true},
	}
	out, err := peerToV3(in)
	if err != nil {
		t.Fatal(err)
	}
	st := out.GetState()
	if st.GetNeighborAddress() != "10.0.1.230" || st.GetPeerAsn() != 65000 || st.GetSessionState() != apipb.PeerState_ESTABLISHED ||
		st.GetAdminState() != apipb.PeerState_DOWN || st.GetMessages().GetSent().GetUpdate() != 7 ||
		st.GetMessages().GetReceived().GetDiscarded() != 2 || out.GetTimers().GetState().GetNegotiatedHoldTime() != 90 ||
		out.GetTransport().GetLocalAddress() != "10.0.1.10" {
		t.Errorf("peerToV3 = %v", out)
	}
	if len(st.GetRemoteCap()) != 1 {
		t.Fatalf("remote caps = %v", st.GetRemoteCap())
	}
	var mp apipb.MultiProtocolCapability
	if err := st.GetRemoteCap()[0].UnmarshalTo(&mp); err != nil || mp.GetFamily().GetAfi() != apipb.Family_AFI_IP {
		t.Errorf("remote cap = %v (%v)", st.GetRemoteCap()[0], err)
	}
}

func TestPathToV3(t *testing.T) {
	comms := bgp.NewPathAttributeCommunities([]uint32{65000<<16 | 100})
	in, err := nativePath(Advertisement{Prefix: netip.MustParsePrefix("2001:db8:1::/48"), NextHop: netip.MustParseAddr("2001:db8::10"), MED: 5, ASPathPrepend: 1}, 65010, timeFromUnix(1_700_000_000))
	if err != nil {
		t.Fatal(err)
	}
	in.Attrs = append(in.Attrs, comms, bgp.NewPathAttributeUnknown(bgp.BGP_ATTR_FLAG_OPTIONAL|bgp.BGP_ATTR_FLAG_TRANSITIVE, 99, []byte{1, 2}))
	in.Best = true
	out := pathToV3(in)
	var nlri apipb.IPAddressPrefix
	if err := out.GetNlri().UnmarshalTo(&nlri); err != nil || nlri.GetPrefix() != "2001:db8:1::" || nlri.GetPrefixLen() != 48 {
		t.Errorf("nlri %v (%v)", &nlri, err)
	}
	if out.GetFamily().GetAfi() != apipb.Family_AFI_IP6 || !out.GetBest() || out.GetAge().GetSeconds() != 1_700_000_000 {
		t.Errorf("path %v", out)
	}
	var kinds []string
	for _, a := range out.GetPattrs() {
		m, err := a.UnmarshalNew()
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, string(m.ProtoReflect().Descriptor().Name()))
		switch m := m.(type) {
		case *apipb.MpReachNLRIAttribute:
			if !slices.Equal(m.GetNextHops(), []string{"2001:db8::10"}) || len(m.GetNlris()) != 1 {
				t.Errorf("mp_reach %v", m)
			}
		case *apipb.UnknownAttribute:
			if m.GetType() != 99 || !slices.Equal(m.GetValue(), []byte{1, 2}) {
				t.Errorf("unknown attribute %v", m)
			}
		}
	}
	want := []string{"OriginAttribute", "AsPathAttribute", "MultiExitDiscAttribute", "MpReachNLRIAttribute", "CommunitiesAttribute", "UnknownAttribute"}
	if !slices.Equal(kinds, want) {
		t.Errorf("attributes %v, want %v", kinds, want)
	}
}
