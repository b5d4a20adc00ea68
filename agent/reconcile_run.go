package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

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
	if m.Router != nil {
		return &ConfigError{Problems: []string{"router: `rsagent reconcile` does not run direct mode; give the router a config file of its own (`rsagent router`)"}}
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
		srv, err := newHTTPServer(m.HTTP, httpEndpoints{
			metrics: met,
			status: func() Status {
				rs := h.rec.Status()
				return Status{Version: Version, Ready: true, Reconcile: &rs}
			},
			keyed: map[string]func([]byte) http.Handler{syncRoutesPattern: h.syncRoutesHandler},
		})
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
