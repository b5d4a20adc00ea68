package agent

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rsagent/rsagent/bgp"
)

// APIKeyHeader carries the API key on mutating requests (as in AWS Sync Routes).
const APIKeyHeader = "X-API-Key"

type httpServer struct {
	srv *http.Server
	ln  net.Listener
}

// newHTTPServer binds the listener at once, so that a port in use is a start
// error rather than a log line.
func (a *Agent) newHTTPServer(m *Model) (*httpServer, error) {
	var key []byte
	if m.HTTP.APIKeyFile != "" {
		k, err := readAPIKey(m.HTTP.APIKeyFile)
		if err != nil {
			return nil, &ConfigError{Problems: []string{"http.api_key_file: " + err.Error()}}
		}
		key = k
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", a.handleReady)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.Status())
	})
	mux.Handle("POST /v1/drain", requireKey(key, a.handleDrain(true)))
	mux.Handle("POST /v1/undrain", requireKey(key, a.handleDrain(false)))
	if a.rec != nil && key != nil {
		mux.Handle(syncRoutesPattern, a.rec.syncRoutesHandler(key))
	}
	return listenHTTP(m.HTTP.Listen, mux)
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
	// Sent is true when the withdrawal was confirmed sent to every
	// established peer before the answer.
	Sent  bool   `json:"withdrawal_sent,omitempty"`
	Error string `json:"error,omitempty"`
}

func (a *Agent) handleDrain(drain bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		service := r.URL.Query().Get("service")
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		names, err := a.Drain(ctx, service, drain)
		resp := DrainResponse{Services: names, Drained: drain}
		switch {
		case names == nil && err != nil:
			resp.Error = err.Error()
			writeJSON(w, http.StatusNotFound, resp)
		case err != nil:
			resp.Error = err.Error()
			writeJSON(w, http.StatusGatewayTimeout, resp)
		default:
			resp.Sent = drain
			writeJSON(w, http.StatusOK, resp)
		}
	})
}

func requireKey(key []byte, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if key == nil {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "mutating endpoints are disabled: set http.api_key_file"})
			return
		}
		got := strings.TrimSpace(r.Header.Get(APIKeyHeader))
		if got == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing " + APIKeyHeader + " header"})
			return
		}
		if subtle.ConstantTimeCompare([]byte(got), key) != 1 {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "wrong API key"})
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
