package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
)

// RunReconciler runs the reconciler alone (`rsagent reconcile`), with the
// same /metrics, /healthz, /status and Sync Routes API on http.listen as
// inside `rsagent run`, so that a reconciler on its own host is monitored the
// same way. dryRun forces dry-run on top of the config.
func RunReconciler(ctx context.Context, m *Model, log *slog.Logger, dryRun bool) error {
	if m.Reconcile == nil {
		return &ConfigError{Problems: []string{"reconcile: the config has no reconcile section"}}
	}
	rm := *m.Reconcile
	rm.DryRun = rm.DryRun || dryRun
	met := newMetrics(Version)
	h, err := buildReconciler(ctx, &rm, nil, log, reconcileObserver{met})
	if err != nil {
		return err
	}
	met.registerReconciler(h.limiter.Rate, h.rec.Deferred)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.run(gctx) })
	if m.HTTP.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(met.reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
			rs := h.rec.Status()
			writeJSON(w, http.StatusOK, Status{Version: Version, Ready: true, Reconcile: &rs})
		})
		if m.HTTP.APIKeyFile != "" {
			key, err := readAPIKey(m.HTTP.APIKeyFile)
			if err != nil {
				return &ConfigError{Problems: []string{"http.api_key_file: " + err.Error()}}
			}
			mux.Handle(syncRoutesPattern, h.syncRoutesHandler(key))
		}
		srv, err := listenHTTP(m.HTTP.Listen, mux)
		if err != nil {
			return err
		}
		g.Go(func() error { return srv.run(gctx) })
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
