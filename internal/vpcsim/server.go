package vpcsim

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBody bounds a request body; EC2's own limit for Query requests is far
// larger, but nothing this emulator serves needs more.
const maxBody = 1 << 20

// Faults are the failures the server injects. The zero value injects none.
type Faults struct {
	// Latency is added to every request before it is processed. Concurrent
	// requests wait in parallel.
	Latency time.Duration
	// ErrorRate is the fraction of requests (0..1) answered 503 Unavailable
	// after they passed the token bucket. Options.Seed makes it repeatable.
	ErrorRate float64
	// FailTable makes every CreateRoute/ReplaceRoute/DeleteRoute on this
	// route table id fail, also dry runs.
	FailTable string
	// FailTableCode is the error code of FailTable failures: ""
	// means UnauthorizedOperation (HTTP 403, what an IAM policy that leaves
	// the table out gives); InternalError answers 500, which the SDK retries.
	FailTableCode string
}

// Options configure a Server.
type Options struct {
	// Mutating is the bucket of CreateRoute/ReplaceRoute/DeleteRoute; zero
	// means EC2's default 50 tokens refilled at 5/s.
	Mutating Bucket
	// NonMutating is the bucket of every other action; zero means EC2's
	// default 100 tokens refilled at 20/s.
	NonMutating Bucket
	// Account, when set, holds the buckets instead (Mutating and
	// NonMutating are then ignored): servers for VPCs of one account share
	// it, as EC2 throttles per account and Region, not per VPC.
	Account *Account
	// Faults are injected from the start; SetFaults changes them later.
	Faults Faults
	// Now is the clock of the token buckets and the request log; nil means time.Now.
	Now func() time.Time
	// Seed seeds the generator behind Faults.ErrorRate.
	Seed uint64
}

// LoggedRequest is one request as the server saw and answered it.
type LoggedRequest struct {
	At       time.Time
	Action   string
	Params   url.Values
	Status   int
	Code     string // EC2 error code, "" on success
	Mutating bool
}

// DryRun reports whether the request asked for a dry run.
func (r LoggedRequest) DryRun() bool { return r.Params.Get("DryRun") == "true" }

// Server answers the EC2 Query API for one VPC, on loopback only.
type Server struct {
	vpc *VPC
	now func() time.Time

	// applying is held (shared) by every request from the moment it may
	// change the VPC until it is in the log; Log takes it exclusively, so a
	// change visible in the VPC is always in the log too.
	applying sync.RWMutex

	account *Account

	mu      sync.Mutex
	faults  Faults
	rng     *rand.Rand
	reqSeq  uint64
	log     []LoggedRequest
	httpSrv *http.Server
	url     string
	served  chan struct{}         // closed when the goroutine Start started has returned
	fresh   map[net.Conn]struct{} // connections that have not sent a request yet
}

// trackConn keeps the set of connections that have not sent a request.
func (s *Server) trackConn(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st == http.StateNew {
		if s.fresh == nil {
			s.fresh = map[net.Conn]struct{}{}
		}
		s.fresh[c] = struct{}{}
		return
	}
	delete(s.fresh, c)
}

// NewServer returns a server for v. It starts nothing.
func NewServer(v *VPC, opts Options) *Server {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	acct := opts.Account
	if acct == nil {
		acct = NewAccount(opts.Mutating, opts.NonMutating, now)
	}
	return &Server{
		vpc:     v,
		now:     now,
		account: acct,
		faults:  opts.Faults,
		rng:     rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
	}
}

// Account returns the account whose token buckets the server charges.
func (s *Server) Account() *Account { return s.account }

// VPC returns the VPC the server answers for.
func (s *Server) VPC() *VPC { return s.vpc }

// Start listens on 127.0.0.1 on a free port and serves in the background
// until Close. It returns the base URL, e.g. "http://127.0.0.1:41234".
func (s *Server) Start() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("listen for the emulated EC2 API: %w", err)
	}
	if err := s.setListener(l); err != nil {
		l.Close()
		return "", err
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.served = done
	srv := s.httpSrv
	s.mu.Unlock()
	go func() {
		defer close(done)
		_ = srv.Serve(l) // returns ErrServerClosed after Close; other errors end in Close too
	}()
	return s.URL(), nil
}

// Serve answers requests on l, which must be a loopback TCP listener, until
// Close. It returns nil after Close.
func (s *Server) Serve(l net.Listener) error {
	if err := s.setListener(l); err != nil {
		return err
	}
	s.mu.Lock()
	srv := s.httpSrv
	s.mu.Unlock()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve the emulated EC2 API on %s: %w", l.Addr(), err)
	}
	return nil
}

func (s *Server) setListener(l net.Listener) error {
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok || !addr.IP.IsLoopback() {
		return fmt.Errorf("serve the emulated EC2 API on %s: only loopback TCP listeners are allowed", l.Addr())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpSrv != nil {
		return fmt.Errorf("serve the emulated EC2 API on %s: already serving on %s", l.Addr(), s.url)
	}
	s.httpSrv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ConnState: s.trackConn}
	s.url = "http://" + addr.String()
	return nil
}

// Close stops serving: in-flight requests get two seconds to finish.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, done := s.httpSrv, s.served
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Shutdown treats a connection that never sent a request as busy for
	// its first 5 s; a client transport dials spares when many calls start
	// at once, so close those now (they carry no request to finish).
	srv.SetKeepAlivesEnabled(false)
	s.mu.Lock()
	for c := range s.fresh {
		c.Close()
	}
	s.mu.Unlock()
	err := srv.Shutdown(ctx)
	if err != nil {
		err = srv.Close()
	}
	if done != nil {
		<-done
	}
	if err != nil {
		return fmt.Errorf("close the emulated EC2 API: %w", err)
	}
	return nil
}

// URL is the base URL once Start or Serve was called, "" before.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// SetBuckets replaces both token buckets of the server's account; they
// start full.
func (s *Server) SetBuckets(mutating, nonMutating Bucket) {
	s.account.SetBuckets(mutating, nonMutating)
}

// Log returns a copy of every request logged since the start or ResetLog.
func (s *Server) Log() []LoggedRequest {
	// A barrier: wait for the requests being applied to reach the log.
	s.applying.Lock()
	//lint:ignore SA2001 the empty critical section is the barrier
	s.applying.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]LoggedRequest, len(s.log))
	for i, r := range s.log {
		r.Params = cloneValues(r.Params)
		out[i] = r
	}
	return out
}

// ResetLog empties the request log.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// Mutations returns the successful, non-dry-run CreateRoute, ReplaceRoute
// and DeleteRoute requests of the log.
func (s *Server) Mutations() []LoggedRequest {
	var out []LoggedRequest
	for _, r := range s.Log() {
		if r.Mutating && r.Status == http.StatusOK {
			out = append(out, r)
		}
	}
	return out
}

func isMutating(action string) bool {
	switch action {
	case "CreateRoute", "ReplaceRoute", "DeleteRoute":
		return true
	}
	return false
}

// ServeHTTP answers one EC2 Query request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	parseErr := r.ParseForm()
	form := r.Form
	if form == nil {
		form = url.Values{}
	}
	action := form.Get("Action")

	s.mu.Lock()
	faults := s.faults
	s.reqSeq++
	reqID := fmt.Sprintf("00000000-0000-4000-8000-%012x", s.reqSeq)
	s.mu.Unlock()

	if faults.Latency > 0 {
		t := time.NewTimer(faults.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	s.applying.RLock()
	body, status, code := s.answer(r, form, parseErr, action, faults, reqID)
	s.mu.Lock()
	s.log = append(s.log, LoggedRequest{
		At: s.now(), Action: action, Params: cloneValues(form),
		Status: status, Code: code, Mutating: isMutating(action),
	})
	s.mu.Unlock()
	s.applying.RUnlock()

	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// answer runs the request through EC2's gates in order and returns the
// response body, status and error code.
func (s *Server) answer(r *http.Request, form url.Values, parseErr error, action string, faults Faults, reqID string) ([]byte, int, string) {
	fail := func(e *APIError) ([]byte, int, string) { return errorBody(e, reqID), e.Status, e.Code }
	if !validAuthorization(r.Header.Get("Authorization")) {
		return fail(apiErr(http.StatusUnauthorized, CodeAuthFailure,
			"AWS was not able to validate the provided access credentials (no AWS4-HMAC-SHA256 Authorization header)"))
	}
	if parseErr != nil {
		return fail(errInvalid("cannot parse the request form: %v", parseErr))
	}
	if action == "" {
		return fail(errMissing("Action"))
	}
	h, ok := handlerFor(action)
	if !ok {
		return fail(apiErr(http.StatusBadRequest, CodeInvalidAction, "The action %s is not valid for this web service.", action))
	}

	allowed := s.account.take(isMutating(action))
	s.mu.Lock()
	unavailable := allowed && faults.ErrorRate > 0 && s.rng.Float64() < faults.ErrorRate
	s.mu.Unlock()
	if !allowed {
		return fail(apiErr(statusFor(CodeRequestLimitExceeded), CodeRequestLimitExceeded, "Request limit exceeded."))
	}
	if unavailable {
		return fail(apiErr(http.StatusServiceUnavailable, CodeUnavailable, "vpcsim: injected unavailability"))
	}

	req := request{form: form, vpc: s.vpc, fail: failRule{table: faults.FailTable, code: faults.FailTableCode}}
	resp, apiError := h(&req)
	if apiError != nil {
		return fail(apiError)
	}
	body, err := responseBody(resp, reqID)
	if err != nil {
		return fail(apiErr(http.StatusInternalServerError, CodeInternalError, "vpcsim: %v", err))
	}
	return body, http.StatusOK, ""
}

// validAuthorization only checks the shape of a SigV4 header: enough to catch
// a client that signs nothing, without knowing any secret.
func validAuthorization(h string) bool {
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	return ok && strings.Contains(rest, "Credential=") && strings.Contains(rest, "Signature=")
}

func errorBody(e *APIError, reqID string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Response><Errors><Error><Code>")
	_ = xml.EscapeText(&b, []byte(e.Code))
	b.WriteString("</Code><Message>")
	_ = xml.EscapeText(&b, []byte(e.Message))
	b.WriteString("</Message></Error></Errors><RequestID>")
	b.WriteString(reqID)
	b.WriteString("</RequestID></Response>")
	return b.Bytes()
}

func responseBody(resp response, reqID string) ([]byte, error) {
	resp.setRequestID(reqID)
	out, err := xml.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("marshal %T: %w", resp, err)
	}
	return append([]byte(xml.Header), out...), nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
