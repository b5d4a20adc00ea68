package bgp

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"

	apipb "github.com/osrg/gobgp/v3/api"
	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// v4CLIHint is what every v3 call we do not serve answers with.
const v4CLIHint = "rsagent embeds GoBGP v4 and serves GoBGP v3's API read-only " +
	"(gobgp neighbor, neighbor <addr>, neighbor <addr> adj-in/adj-out, global, global rib); " +
	"for everything else use GoBGP's v4 CLI: go install github.com/osrg/gobgp/v4/cmd/gobgp@v4.8.0"

// v3Service is a read-only subset of GoBGP v3's gRPC API (service
// apipb.GobgpApi), so the 3.x gobgp CLI that Debian and Ubuntu ship keeps
// working against the GoBGP v4 server beside it on the same port. GoBGP's
// gRPC server hands it every call for a service it does not know
// (grpc.UnknownServiceHandler); it dispatches through the v3 generated
// service description, so request and response framing are v3's own.
type v3Service struct {
	apipb.UnimplementedGobgpApiServer
	log *slog.Logger
	srv atomic.Pointer[server.BgpServer]
}

func newV3Service(log *slog.Logger) *v3Service { return &v3Service{log: log} }

// setServer is called once GoBGP exists; calls before that are Unavailable.
func (v *v3Service) setServer(srv *server.BgpServer) { v.srv.Store(srv) }

// v3ReadOnly are the v3 methods served; every other one is Unimplemented.
var v3ReadOnly = map[string]bool{"GetBgp": true, "ListPeer": true, "ListPath": true, "GetTable": true}

// handle is the grpc.StreamHandler for unknown services.
func (v *v3Service) handle(_ any, stream grpc.ServerStream) error {
	full, ok := grpc.MethodFromServerStream(stream)
	if !ok {
		return status.Error(codes.Internal, "no method in stream")
	}
	service, method, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	desc := &apipb.GobgpApi_ServiceDesc
	if service != desc.ServiceName {
		return status.Errorf(codes.Unimplemented, "unknown service %s", service)
	}
	if !v3ReadOnly[method] {
		return status.Errorf(codes.Unimplemented, "%s: %s", method, v4CLIHint)
	}
	if v.srv.Load() == nil {
		return status.Error(codes.Unavailable, "bgp speaker is starting")
	}
	for _, m := range desc.Methods {
		if m.MethodName == method {
			resp, err := m.Handler(v, stream.Context(), stream.RecvMsg, nil)
			if err != nil {
				return err
			}
			return stream.SendMsg(resp)
		}
	}
	for _, sd := range desc.Streams {
		if sd.StreamName == method {
			return sd.Handler(v, stream)
		}
	}
	return status.Errorf(codes.Unimplemented, "%s: %s", method, v4CLIHint)
}

// GetBgp answers `gobgp global`.
func (v *v3Service) GetBgp(ctx context.Context, _ *apipb.GetBgpRequest) (*apipb.GetBgpResponse, error) {
	r, err := v.srv.Load().GetBgp(ctx, &api.GetBgpRequest{})
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	g := r.GetGlobal()
	return &apipb.GetBgpResponse{Global: &apipb.Global{
		Asn: g.GetAsn(), RouterId: g.GetRouterId(), ListenPort: g.GetListenPort(), ListenAddresses: g.GetListenAddresses(),
	}}, nil
}

// ListPeer answers `gobgp neighbor` and `gobgp neighbor <addr>`.
func (v *v3Service) ListPeer(req *apipb.ListPeerRequest, stream apipb.GobgpApi_ListPeerServer) error {
	var sendErr error
	err := v.srv.Load().ListPeer(stream.Context(), &api.ListPeerRequest{Address: req.GetAddress(), EnableAdvertised: req.GetEnableAdvertised()},
		func(p *api.Peer) {
			if sendErr != nil {
				return
			}
			out, err := peerToV3(p)
			if err != nil {
				v.log.Warn("gobgp v3 api: cannot convert peer", "peer", p.GetState().GetNeighborAddress(), "error", err)
				return
			}
			sendErr = stream.Send(&apipb.ListPeerResponse{Peer: out})
		})
	if sendErr != nil {
		return sendErr
	}
	if err != nil {
		return status.Error(codes.NotFound, err.Error())
	}
	return nil
}

// v3Tables maps the v3 table types served to v4's.
var v3Tables = map[apipb.TableType]api.TableType{
	apipb.TableType_GLOBAL:  api.TableType_TABLE_TYPE_GLOBAL,
	apipb.TableType_ADJ_IN:  api.TableType_TABLE_TYPE_ADJ_IN,
	apipb.TableType_ADJ_OUT: api.TableType_TABLE_TYPE_ADJ_OUT,
}

func v3Family(f *apipb.Family) (bgp.Family, error) {
	if f == nil {
		return bgp.RF_IPv4_UC, nil
	}
	fam := bgp.NewFamily(uint16(f.GetAfi()), uint8(f.GetSafi()))
	if fam != bgp.RF_IPv4_UC && fam != bgp.RF_IPv6_UC {
		return 0, status.Errorf(codes.InvalidArgument, "address family %s: rsagent carries only ipv4-unicast and ipv6-unicast", fam)
	}
	return fam, nil
}

func v3Table(req interface {
	GetTableType() apipb.TableType
	GetFamily() *apipb.Family
}) (api.TableType, bgp.Family, error) {
	t, ok := v3Tables[req.GetTableType()]
	if !ok {
		return 0, 0, status.Errorf(codes.Unimplemented, "table %s: %s", req.GetTableType(), v4CLIHint)
	}
	fam, err := v3Family(req.GetFamily())
	return t, fam, err
}

// ListPath answers `gobgp global rib` and `gobgp neighbor <addr> adj-in|adj-out`.
func (v *v3Service) ListPath(req *apipb.ListPathRequest, stream apipb.GobgpApi_ListPathServer) error {
	t, fam, err := v3Table(req)
	if err != nil {
		return err
	}
	lr := apiutil.ListPathRequest{TableType: t, Name: req.GetName(), Family: fam, EnableFiltered: req.GetEnableFiltered()}
	if req.GetSortType() == apipb.ListPathRequest_PREFIX {
		lr.SortType = api.ListPathRequest_SORT_TYPE_PREFIX
	}
	for _, p := range req.GetPrefixes() {
		opt := apiutil.LOOKUP_EXACT
		switch p.GetType() {
		case apipb.TableLookupPrefix_LONGER:
			opt = apiutil.LOOKUP_LONGER
		case apipb.TableLookupPrefix_SHORTER:
			opt = apiutil.LOOKUP_SHORTER
		}
		lr.Prefixes = append(lr.Prefixes, &apiutil.LookupPrefix{Prefix: p.GetPrefix(), RD: p.GetRd(), LookupOption: opt})
	}
	var sendErr error
	err = v.srv.Load().ListPath(lr, func(prefix bgp.NLRI, paths []*apiutil.Path) {
		if sendErr != nil {
			return
		}
		d := &apipb.Destination{Prefix: prefix.String()}
		for _, p := range paths {
			d.Paths = append(d.Paths, pathToV3(p))
		}
		sendErr = stream.Send(&apipb.ListPathResponse{Destination: d})
	})
	if sendErr != nil {
		return sendErr
	}
	if err != nil {
		return status.Error(codes.NotFound, err.Error())
	}
	return nil
}

// GetTable answers `gobgp global rib summary` and the adj-in/adj-out summaries.
func (v *v3Service) GetTable(ctx context.Context, req *apipb.GetTableRequest) (*apipb.GetTableResponse, error) {
	t, fam, err := v3Table(req)
	if err != nil {
		return nil, err
	}
	afi, safi := fam.Afi(), fam.Safi()
	r, err := v.srv.Load().GetTable(ctx, &api.GetTableRequest{TableType: t, Name: req.GetName(),
		Family: &api.Family{Afi: api.Family_Afi(afi), Safi: api.Family_Safi(safi)}})
	if err != nil {
		return nil, status.Error(codes.NotFound, err.Error())
	}
	return &apipb.GetTableResponse{NumDestination: r.GetNumDestination(), NumPath: r.GetNumPath(), NumAccepted: r.GetNumAccepted()}, nil
}

// pathToV3 renders a GoBGP v4 path in v3's API types.
func pathToV3(p *apiutil.Path) *apipb.Path {
	afi, safi := p.Family.Afi(), p.Family.Safi()
	out := &apipb.Path{
		Nlri:               nlriToV3(p.Nlri),
		Age:                timestamppb.New(timeFromUnix(p.Age)),
		Best:               p.Best,
		IsWithdraw:         p.Withdrawal,
		NoImplicitWithdraw: p.NoImplicitWithdraw,
		Family:             &apipb.Family{Afi: apipb.Family_Afi(afi), Safi: apipb.Family_Safi(safi)},
		SourceAsn:          p.PeerASN,
		Filtered:           p.Filtered,
		Stale:              p.Stale,
		IsFromExternal:     p.IsFromExternal,
		IsNexthopInvalid:   p.IsNexthopInvalid,
		SendMaxFiltered:    p.SendMaxFiltered,
		Identifier:         p.RemoteID,
		LocalIdentifier:    p.LocalID,
	}
	if p.PeerID.IsValid() {
		out.SourceId = p.PeerID.String()
	}
	if p.PeerAddress.IsValid() {
		out.NeighborIp = p.PeerAddress.String()
	}
	for _, a := range p.Attrs {
		if x := attrToV3(a); x != nil {
			out.Pattrs = append(out.Pattrs, x)
		}
	}
	return out
}
