package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rsagent/rsagent/bgp"
	"github.com/rsagent/rsagent/internal/apikey"
)

// APIKeyHeader carries the API key on mutating requests (as in AWS Sync Routes).
const APIKeyHeader = apikey.Header

type httpServer struct {
	srv *http.Server
	ln  net.Listener
}

// httpEndpoints is what one process (run, reconcile, router) serves beside
// /metrics, /healthz and /status, which every one of them serves alike.
type httpEndpoints struct {
	metrics *metrics
	status  func() Status
	// ready serves GET /readyz; nil: none.
	ready http.HandlerFunc
	// plain handlers, by pattern.
	plain map[string]http.Handler
	// mutating handlers are served behind the API key check: 403 while
	// http.api_key_file is unset, 401 without the header, 403 for a wrong key.
	mutating map[string]http.Handler
	// keyed handlers check the key themselves (the Sync Routes API answers
	// in its own format and counts its own requests); they are served only
	// with a key configured.
	keyed map[string]func(key []byte) http.Handler
}

// newHTTPServer is the one HTTP server builder of `run`, `reconcile` and
// `router`. It reads the API key and binds the listener at once, so that a
// bad key file or a port in use is a start error rather than a log line.
func newHTTPServer(m HTTPModel, e httpEndpoints) (*httpServer, error) {
	var raw []byte
	if m.APIKeyFile != "" {
		k, err := apikey.Read(m.APIKeyFile)
		if err != nil {
			return nil, &ConfigError{Problems: []string{"http.api_key_file: " + err.Error()}}
		}
		raw = k
	}
	key := apikey.New(raw)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(e.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, e.status())
	})
	if e.ready != nil {
		mux.HandleFunc("GET /readyz", e.ready)
	}
	for pattern, h := range e.plain {
		mux.Handle(pattern, h)
	}
	for pattern, h := range e.mutating {
		mux.Handle(pattern, requireKey(key, h))
	}
	if key.Set() {
		for pattern, h := range e.keyed {
			mux.Handle(pattern, h(raw))
		}
	}
	return listenHTTP(m.Listen, mux)
}

func (a *Agent) newHTTPServer(m *Model) (*httpServer, error) {
	e := httpEndpoints{
		metrics: a.metrics,
		status:  a.Status,
		ready:   a.handleReady,
		mutating: map[string]http.Handler{
			"POST /v1/drain":   a.handleDrain(true),
			"POST /v1/undrain": a.handleDrain(false),
		},
	}
	if a.rec != nil {
		e.keyed = map[string]func([]byte) http.Handler{syncRoutesPattern: a.rec.syncRoutesHandler}
	}
	return newHTTPServer(m.HTTP, e)
}

func listenHTTP(addr string, h http.Handler) (*httpServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", addr, err)
	}
	return &httpServer{ln: ln, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
	}}, nil
}

const syncRoutesPattern = "PATCH /vpcs/{vpc}/route-tables/{rtb}"

func (s *httpServer) run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *Agent) handleReady(w http.ResponseWriter, r *http.Request) {
	if !a.ready.Load() {
		http.Error(w, "not ready: starting or stopping", http.StatusServiceUnavailable)
		return
	}
	for _, p := range a.speaker.Peers() {
		if p.State == bgp.StateEstablished {
			fmt.Fprintln(w, "ready")
			return
		}
	}
	http.Error(w, "not ready: no BGP session is established", http.StatusServiceUnavailable)
}

// DrainResponse is the answer of POST /v1/drain and /v1/undrain.
type DrainResponse struct {
	Services []string `json:"services"`
	Drained  bool     `json:"drained"`
	// Sent is true when every peer that had the services' prefixes
	// acknowledged their withdrawal before the answer.
	Sent      bool     `json:"withdrawal_sent,omitempty"`
	Withdrawn []string `json:"withdrawn,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// Drain timeouts: ?timeout= on the request, default and bounds.
const (
	defaultDrainTimeout = 5 * time.Second
	maxDrainTimeout     = 5 * time.Minute
)

func (a *Agent) handleDrain(drain bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		service := r.URL.Query().Get("service")
		timeout := defaultDrainTimeout
		if raw := r.URL.Query().Get("timeout"); raw != "" {
			d, err := time.ParseDuration(raw)
			if err != nil || d <= 0 || d > maxDrainTimeout {
				writeJSON(w, http.StatusBadRequest, DrainResponse{Drained: drain,
					Error: fmt.Sprintf("timeout %q: want a duration between 0s and %s", raw, maxDrainTimeout)})
				return
			}
			timeout = d
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		res, err := a.Drain(ctx, service, drain)
		resp := DrainResponse{Services: res.Services, Drained: drain, Warnings: res.Warnings}
		for _, p := range res.Withdrawn {
			resp.Withdrawn = append(resp.Withdrawn, p.String())
		}
		switch {
		case errors.Is(err, ErrNoSuchService):
			resp.Error = err.Error()
			writeJSON(w, http.StatusNotFound, resp)
		case err != nil:
			// 504: the withdrawal could not be confirmed (in time); the
			// services stay drained.
			resp.Error = err.Error()
			writeJSON(w, http.StatusGatewayTimeout, resp)
		default:
			resp.Sent = drain
			writeJSON(w, http.StatusOK, resp)
		}
	})
}

// requireKey is the API key check in front of every mutating endpoint.
func requireKey(key apikey.Key, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := key.Verify(r.Header.Get(APIKeyHeader)); err != nil {
			writeJSON(w, apikey.Status(err), map[string]string{"error": err.Error()})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
