package vpcsim

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	gobgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/rsagent/rsagent/bfd"
	"github.com/rsagent/rsagent/bgp"
	"github.com/rsagent/rsagent/internal/loophost"
)

// Addresses of this test only, so it can run beside the lab's and the bgp
// package's loopback tests.
var (
	wireAppliance = netip.MustParseAddr("127.0.0.20")
	wireEndpoint  = netip.MustParseAddr("127.0.0.232")
	wirePrefix    = netip.MustParsePrefix("203.0.113.20/32")
)

func wireLogger() *slog.Logger {
	if os.Getenv("RSAGENT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func freeLoopbackPorts(t *testing.T) (tcp uint16, udp int) {
	t.Helper()
	tcp, err := loophost.StablePort("tcp", wireEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	u, err := loophost.StablePort("udp", wireEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	return tcp, int(u)
}

// waitVPC re-checks cond on every change of the VPC until it holds.
func waitVPC(t *testing.T, v *VPC, within time.Duration, what string, cond func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		gen := v.Generation()
		err := cond()
		if err == nil {
			return
		}
		if _, werr := v.WaitGeneration(ctx, gen); werr != nil {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
	}
}

// TestRouteServerOverTheWire peers a plain GoBGP "appliance" with BFD to
// the emulated Route Server on loopback and follows its route into the
// main table through announcement, BFD loss, BFD recovery and withdrawal.
func TestRouteServerOverTheWire(t *testing.T) {
	if testing.Short() {
		t.Skip("wire test")
	}
	bgpPort, bfdPort := freeLoopbackPorts(t)
	v := NewVPC(testVPCID, netip.MustParsePrefix("10.0.0.0/16"))
	custom := v.AddRouteTable()
	eni := v.AddNetworkInterface(wireAppliance)
	rs, err := NewRouteServer(v, RouteServerConfig{
		Endpoints: []netip.Addr{wireEndpoint}, Port: bgpPort, BFDPort: bfdPort,
		BFDMinTx: 50 * time.Millisecond, BFDMinRx: 50 * time.Millisecond,
		Peers:  []RouteServerPeerConfig{{Address: wireAppliance, ASN: 65010, BFD: true}},
		Logger: wireLogger(), HoldPeers: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.EnablePropagation(rs.ID(), v.MainTableID()); err != nil {
		t.Fatal(err)
	}
	stopRS, err := rs.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stopRS(); err != nil {
			t.Errorf("route server Run: %v", err)
		}
	})

	ctx := t.Context()
	// The appliance: GoBGP dialling the endpoint, started before the endpoint
	// admits it (GoBGP v4.8.0 globals), and a BFD manager bound to its own address.
	app := server.NewBgpServer(server.LoggerOption(bgp.GoBGPLogger(wireLogger())))
	go app.Serve()
	t.Cleanup(func() { bgp.StopGoBGP(app, "test appliance stopping", time.Second) })
	if err := app.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: 65010, RouterId: wireAppliance.String(), ListenPort: -1}}); err != nil {
		t.Fatal(err)
	}
	err = app.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: wireEndpoint.String(), PeerAsn: 65000},
		Transport: &api.Transport{LocalAddress: wireAppliance.String(), RemotePort: uint32(bgpPort)},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1, HoldTime: 9, KeepaliveInterval: 3}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	// HoldPeers: the endpoint knows no neighbor, so it refuses the
	// appliance, until AdmitPeers (once).
	var configured int
	if err := rs.endpoints[0].srv.ListPeer(ctx, &api.ListPeerRequest{}, func(*api.Peer) { configured++ }); err != nil {
		t.Fatal(err)
	}
	if configured != 0 {
		t.Fatalf("endpoint has %d neighbors before AdmitPeers, want 0", configured)
	}
	if err := rs.AdmitPeers(ctx); err != nil {
		t.Fatalf("AdmitPeers: %v", err)
	}
	if err := rs.AdmitPeers(ctx); err == nil {
		t.Error("a second AdmitPeers succeeded")
	}
	appBFD := bfd.NewManager(bfd.ManagerConfig{Port: bfdPort, ListenAddrs: []netip.Addr{wireAppliance}})
	if err := appBFD.AddSession(bfd.SessionConfig{Peer: wireEndpoint, Local: wireAppliance,
		DesiredMinTx: 50 * time.Millisecond, RequiredMinRx: 50 * time.Millisecond, DetectMult: 3}); err != nil {
		t.Fatal(err)
	}
	bfdCtx, stopBFD := context.WithCancel(context.Background())
	bfdDone := make(chan error, 1)
	go func() { bfdDone <- appBFD.Run(bfdCtx) }()
	t.Cleanup(func() { stopBFD(); <-bfdDone })

	path := wirePath(t, 2)
	if _, err := app.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{path}}); err != nil {
		t.Fatal(err)
	}
	want := Route{Destination: wirePrefix, NetworkInterface: eni, IPAddress: wireAppliance.String(), Origin: OriginAdvertisement, State: StateActive}
	routeIs := func(table string, want *Route) func() error {
		return func() error {
			tb, _ := v.Table(table)
			got, ok := tb.Route(wirePrefix)
			switch {
			case want == nil && ok:
				return fmt.Errorf("route still there: %+v", got)
			case want != nil && (!ok || got != *want):
				return fmt.Errorf("route = %+v (found %v), want %+v", got, ok, *want)
			}
			return nil
		}
	}

	t.Run("an announced path is installed with the appliance's ENI as target", func(t *testing.T) {
		waitVPC(t, v, 15*time.Second, "route installed", routeIs(v.MainTableID(), &want))
		if err := routeIs(custom, nil)(); err != nil {
			t.Errorf("custom table without propagation: %v", err)
		}
	})
	t.Run("peer status and routing database are mirrored into the VPC", func(t *testing.T) {
		waitVPC(t, v, 5*time.Second, "peer up", func() error {
			ps := v.RouteServerPeers()
			if len(ps) != 1 || ps[0].BGPStatus != PeerStatusUp || ps[0].BFDStatus != PeerStatusUp {
				return fmt.Errorf("peers = %+v", ps)
			}
			return nil
		})
		// The tables, the peer status and the routing database are each
		// written by their own step of a pass: the database may lag the
		// route by one pass.
		waitVPC(t, v, 5*time.Second, "routing database", func() error {
			rib := rs.RIB()
			if len(rib) != 1 || !rib[0].InFIB || rib[0].NextHop != wireAppliance || !slices.Equal(rib[0].ASPath, []uint32{65010, 65010, 65010}) {
				return fmt.Errorf("RIB = %+v, want one in-FIB path with AS path [65010 65010 65010]", rib)
			}
			if r := rs.Routes(); len(r) != 1 || r[0].ASPathLen != 3 {
				return fmt.Errorf("Routes() = %+v", r)
			}
			return nil
		})
	})
	t.Run("BFD loss drops the route while BGP stays up", func(t *testing.T) {
		rs.SetPartitioned(wireAppliance, true)
		waitVPC(t, v, 5*time.Second, "route removed", routeIs(v.MainTableID(), nil))
		// The peer status is mirrored by its own update, which may follow
		// the route removal.
		waitVPC(t, v, 5*time.Second, "BGP up and BFD down", func() error {
			if ps := v.RouteServerPeers(); ps[0].BFDStatus != PeerStatusDown || ps[0].BGPStatus != PeerStatusUp {
				return fmt.Errorf("peer = %+v", ps[0])
			}
			return nil
		})
	})
	t.Run("BFD recovery brings the route back", func(t *testing.T) {
		rs.SetPartitioned(wireAppliance, false)
		waitVPC(t, v, 10*time.Second, "route back", routeIs(v.MainTableID(), &want))
	})
	t.Run("a withdrawal removes the route", func(t *testing.T) {
		if err := app.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{path}}); err != nil {
			t.Fatal(err)
		}
		waitVPC(t, v, 5*time.Second, "route withdrawn", routeIs(v.MainTableID(), nil))
		// The routing database is mirrored after the tables are written.
		waitVPC(t, v, 5*time.Second, "RIB empty", func() error {
			if rib := rs.RIB(); len(rib) != 0 {
				return fmt.Errorf("RIB after withdrawal = %+v", rib)
			}
			return nil
		})
	})
}

// wirePath is wirePrefix via the appliance with prepend extra copies of its
// ASN (GoBGP adds one more on export).
func wirePath(t *testing.T, prepend int) *apiutil.Path {
	t.Helper()
	nlri, err := gobgp.NewIPAddrPrefix(wirePrefix)
	if err != nil {
		t.Fatal(err)
	}
	nh, err := gobgp.NewPathAttributeNextHop(wireAppliance)
	if err != nil {
		t.Fatal(err)
	}
	attrs := []gobgp.PathAttributeInterface{
		gobgp.NewPathAttributeOrigin(gobgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		nh,
		gobgp.NewPathAttributeAsPath([]gobgp.AsPathParamInterface{
			gobgp.NewAs4PathParam(gobgp.BGP_ASPATH_ATTR_TYPE_SEQ, slices.Repeat([]uint32{65010}, prepend)),
		}),
	}
	return &apiutil.Path{Family: gobgp.RF_IPv4_UC, Nlri: nlri, Attrs: attrs, Age: time.Now().Unix()}
}
