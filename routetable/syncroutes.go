package routetable

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"golang.org/x/time/rate"

	"github.com/rsagent/rsagent/internal/apikey"
)

// SyncRoutesConfig configures the AWS Sync Routes-compatible handler.
type SyncRoutesConfig struct {
	// VPCID, when set, is the only VPC the handler serves.
	VPCID string
	// APIKey is compared in constant time with the X-API-Key header. Empty
	// refuses every request.
	APIKey []byte
	// Rate and Burst limit accepted requests; defaults 1/s and 10.
	Rate  float64
	Burst int
	// MaxBody caps the request body; default 4 KiB.
	MaxBody int64
	// Origins a main-table route may have to be synced; default
	// [CreateRoute], the seed's "not propagated".
	Origins []string
	// Limiter paces the EC2 writes; share the reconciler's. Nil builds
	// one with EC2's default mutating bucket.
	Limiter     *Limiter
	Concurrency int
	// Ignore lists CIDRs never touched (reconcile.ignore_routes): a request
	// for a destination inside one is refused with 400.
	Ignore []netip.Prefix
	// StallTimeout bounds how long a request keeps retrying throttled
	// writes with none getting through; default 30 s.
	StallTimeout  time.Duration
	NotifyTimeout time.Duration
	Logger        *slog.Logger
	Observer      Observer
	Notifier      Notifier
	// Serialize, when set, is held from reading the tables to the last
	// write; pass the reconciler's PassLock so that a request and a
	// reconcile pass never plan against each other's half-applied writes.
	Serialize sync.Locker
}

// Per-table results of a Sync Routes request.
const (
	SyncCreated       = "created"
	SyncReplaced      = "replaced"
	SyncUnchanged     = "unchanged"
	SyncWouldCreate   = "would-create"
	SyncWouldReplace  = "would-replace"
	SyncError         = "error"
	syncRoutesPattern = "PATCH /vpcs/{vpc}/route-tables/{rtb}"
)

// ValidID reports whether id is prefix ("vpc-", "rtb-", "eni-") followed by
// 8 or 17 lowercase hex digits: EC2's id patterns, which the Sync Routes API
// enforces and the config uses too.
func ValidID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != 8 && len(rest) != 17 {
		return false
	}
	for _, c := range rest {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// SyncRoutesResponse is the body of a processed request.
type SyncRoutesResponse struct {
	VPCID            string            `json:"vpc-id"`
	RouteTableID     string            `json:"route-table-id"`
	Destination      string            `json:"destination-cidr-block"`
	NetworkInterface string            `json:"network-interface-id"`
	DryRun           bool              `json:"dry-run"`
	RouteTables      []SyncTableResult `json:"route-tables"`
}

// SyncTableResult is what happened to one custom table.
type SyncTableResult struct {
	RouteTableID string `json:"route-table-id"`
	Result       string `json:"result"`
	PrevENI      string `json:"previous-network-interface-id,omitempty"`
	Error        string `json:"error,omitempty"`
}

type syncRoutes struct {
	api     API
	cfg     SyncRoutesConfig
	key     apikey.Key
	limit   *rate.Limiter
	applier *Applier
	log     *slog.Logger
	obs     Observer
	opts    []func(*ec2.Options)
}

// NewSyncRoutesHandler serves PATCH /vpcs/{vpc-id}/route-tables/{rtb-id}:
// copy one main-table route to every custom table of the VPC (create when
// missing, replace when the ENI differs, never delete).
func NewSyncRoutesHandler(api API, cfg SyncRoutesConfig) http.Handler {
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultAPIRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultAPIBurst
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 4 << 10
	}
	if len(cfg.Origins) == 0 {
		cfg.Origins = []string{OriginCreateRoute}
	}
	if cfg.NotifyTimeout <= 0 {
		cfg.NotifyTimeout = 5 * time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 30 * time.Second
	}
	s := &syncRoutes{api: api, cfg: cfg, key: apikey.New(cfg.APIKey), limit: rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst),
		log: cfg.Logger, obs: cfg.Observer}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.obs == nil {
		s.obs = NopObserver{}
	}
	s.opts = []func(*ec2.Options){countRequests(s.obs)}
	lim := cfg.Limiter
	if lim == nil {
		lim = NewMutatingLimiter(0, 0)
	}
	s.applier = &Applier{API: api, Limiter: lim, Concurrency: cfg.Concurrency, Options: s.opts}
	mux := http.NewServeMux()
	mux.HandleFunc(syncRoutesPattern, s.serve)
	return mux
}

type syncRequest struct {
	Destination netip.Prefix
	DryRun      bool
}

// Errors of parseSyncBody; each maps to 400.
var (
	ErrBodyNotObject    = errors.New("body must be a JSON object")
	ErrBodyUnknownKey   = errors.New("unknown property")
	ErrBodyDuplicateKey = errors.New("repeated property")
	ErrBodyMissingDest  = errors.New("destination-cidr-block is required")
	ErrBodyBadDest      = errors.New("destination-cidr-block must be a canonical IPv4 CIDR string")
	ErrBodyBadDryRun    = errors.New("dry-run must be a boolean")
)

// parseSyncBody enforces the seed's schema exactly: an object with
// "destination-cidr-block" (required) and "dry-run" (optional boolean),
// no other property, keys matched case-sensitively and never repeated,
// nothing after it. encoding/json alone would match keys in any case and
// let a repeated key win silently.
func parseSyncBody(body []byte) (syncRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return syncRequest{}, ErrBodyNotObject
	}
	raw := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syncRequest{}, ErrBodyNotObject
		}
		key, _ := tok.(string)
		if key != "destination-cidr-block" && key != "dry-run" {
			return syncRequest{}, fmt.Errorf("%w %q", ErrBodyUnknownKey, key)
		}
		if _, dup := raw[key]; dup {
			return syncRequest{}, fmt.Errorf("%w %q", ErrBodyDuplicateKey, key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return syncRequest{}, ErrBodyNotObject
		}
		raw[key] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return syncRequest{}, ErrBodyNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return syncRequest{}, ErrBodyNotObject
	}
	var req syncRequest
	d, ok := raw["destination-cidr-block"]
	if !ok {
		return syncRequest{}, ErrBodyMissingDest
	}
	var s string
	if err := json.Unmarshal(d, &s); err != nil {
		return syncRequest{}, ErrBodyBadDest
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Masked() != p {
		return syncRequest{}, ErrBodyBadDest
	}
	req.Destination = p
	if v, ok := raw["dry-run"]; ok {
		if err := json.Unmarshal(v, &req.DryRun); err != nil || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return syncRequest{}, ErrBodyBadDryRun
		}
	}
	return req, nil
}

func (s *syncRoutes) fail(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(1))
	}
	s.write(w, status, map[string]string{"error": msg})
}

func (s *syncRoutes) write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	s.obs.APIRequest(status)
}

// serve runs every check in order and stops at the first that fails:
// the seed forgot two returns, so each check here ends in one.
func (s *syncRoutes) serve(w http.ResponseWriter, r *http.Request) {
	if err := s.key.Verify(r.Header.Get(apikey.Header)); err != nil {
		s.fail(w, apikey.Status(err), err.Error())
		return
	}
	if !s.limit.Allow() {
		s.fail(w, http.StatusTooManyRequests, "Too Many Requests")
		return
	}
	vpc, rtb := r.PathValue("vpc"), r.PathValue("rtb")
	if !ValidID("vpc-", vpc) {
		s.fail(w, http.StatusBadRequest, "vpc id must be vpc- and 8 or 17 hex digits")
		return
	}
	if !ValidID("rtb-", rtb) {
		s.fail(w, http.StatusBadRequest, "route table id must be rtb- and 8 or 17 hex digits")
		return
	}
	if s.cfg.VPCID != "" && vpc != s.cfg.VPCID {
		s.fail(w, http.StatusBadRequest, "this agent does not serve "+vpc)
		return
	}
	if r.ContentLength > s.cfg.MaxBody {
		s.fail(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, http.StatusRequestEntityTooLarge, "body too large")
			return
		}
		s.fail(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	req, err := parseSyncBody(body)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if l := s.cfg.Serialize; l != nil {
		l.Lock()
		defer l.Unlock()
	}
	s.sync(r.Context(), w, vpc, rtb, req)
}

func (s *syncRoutes) sync(ctx context.Context, w http.ResponseWriter, vpc, rtb string, req syncRequest) {
	tables, err := describeTables(ctx, s.api, vpc, s.opts...)
	if err != nil {
		s.log.Warn("sync routes: describe failed", "vpc_id", vpc, "error", err)
		s.fail(w, http.StatusBadGateway, err.Error())
		return
	}
	main, found := findTable(tables, rtb)
	if !found {
		s.fail(w, http.StatusBadRequest, fmt.Sprintf("route table %s is not in %s", rtb, vpc))
		return
	}
	if !main.Main {
		s.fail(w, http.StatusBadRequest, fmt.Sprintf("route table %s is not the main route table of %s", rtb, vpc))
		return
	}
	if inAny(s.cfg.Ignore, req.Destination) {
		s.fail(w, http.StatusBadRequest, fmt.Sprintf("%s is inside reconcile.ignore_routes: never touched", req.Destination))
		return
	}
	route, ok := main.Route(req.Destination)
	if !ok {
		s.fail(w, http.StatusBadRequest, fmt.Sprintf("no route to %s in %s", req.Destination, rtb))
		return
	}
	if msg := s.checkRoute(route); msg != "" {
		s.fail(w, http.StatusBadRequest, fmt.Sprintf("route to %s in %s %s", req.Destination, rtb, msg))
		return
	}
	targets := otherTables(tables, rtb)
	applier := *s.applier
	applier.DryRun = req.DryRun
	// The first plan uses the read the checks were made on; a throttled
	// write is planned again from a fresh read of the same route.
	first := true
	outs, err := settle(ctx, &applier, func(ctx context.Context) ([]Change, error) {
		if !first {
			if tables, err = describeTables(ctx, s.api, vpc, s.opts...); err != nil {
				return nil, err
			}
			main, _ := findTable(tables, rtb)
			if route, ok = main.Route(req.Destination); !ok || s.checkRoute(route) != "" {
				return nil, nil
			}
			targets = otherTables(tables, rtb)
		}
		first = false
		src := RouteTable{ID: rtb, Main: true, Routes: []Route{route}}
		return Plan(src, targets, Rules{Origins: []string{route.Origin}}), nil
	}, s.cfg.StallTimeout)
	if err != nil {
		s.log.Warn("sync routes: re-reading after a throttled write failed", "vpc_id", vpc, "error", err)
	}
	logChanges(s.log, s.obs, "sync-routes", vpc, req.DryRun, outs, nil)
	deliver(ctx, s.cfg.Notifier, events("sync-routes", vpc, req.DryRun, outs), s.cfg.NotifyTimeout, s.log, s.obs)
	s.write(w, http.StatusOK, syncResponse(vpc, rtb, route, req, targets, outs))
}

func otherTables(tables []RouteTable, id string) []RouteTable {
	var out []RouteTable
	for _, t := range tables {
		if t.ID != id {
			out = append(out, t)
		}
	}
	return out
}

func findTable(tables []RouteTable, id string) (RouteTable, bool) {
	i := slices.IndexFunc(tables, func(t RouteTable) bool { return t.ID == id })
	if i < 0 {
		return RouteTable{}, false
	}
	return tables[i], true
}

// checkRoute returns why a main-table route may not be synced, or "".
func (s *syncRoutes) checkRoute(r Route) string {
	switch {
	case r.Local():
		return "is the local route"
	case r.State != StateActive:
		return "is not active (" + r.State + ")"
	case !slices.Contains(s.cfg.Origins, r.Origin):
		return "has origin " + r.Origin + ", not one of " + fmt.Sprint(s.cfg.Origins)
	case !r.ENITarget():
		return "does not target a network interface"
	}
	return ""
}

func syncResponse(vpc, rtb string, route Route, req syncRequest, targets []RouteTable, outs []Outcome) SyncRoutesResponse {
	resp := SyncRoutesResponse{VPCID: vpc, RouteTableID: rtb, Destination: req.Destination.String(),
		NetworkInterface: route.NetworkInterface, DryRun: req.DryRun, RouteTables: []SyncTableResult{}}
	byTable := map[string]Outcome{}
	for _, o := range outs {
		byTable[o.Table] = o
	}
	for _, t := range targets {
		res := SyncTableResult{RouteTableID: t.ID, Result: SyncUnchanged}
		if o, ok := byTable[t.ID]; ok {
			res.PrevENI = o.PrevENI
			switch {
			case o.Action == ActionSkip:
				res.Result, res.Error = SyncError, o.Reason+"; left alone"
			case o.Error != "":
				res.Result, res.Error = SyncError, o.Error
			case !o.Applied:
				res.Result, res.Error = SyncError, "not sent: EC2 kept throttling writes"
			case o.Action == ActionCreate && req.DryRun:
				res.Result = SyncWouldCreate
			case o.Action == ActionCreate:
				res.Result = SyncCreated
			case req.DryRun:
				res.Result = SyncWouldReplace
			default:
				res.Result = SyncReplaced
			}
		}
		resp.RouteTables = append(resp.RouteTables, res)
	}
	return resp
}
