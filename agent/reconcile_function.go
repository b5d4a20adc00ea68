package agent

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/rsagent/rsagent/routetable"
)

// ReconcileFunction is the reconciler and the Sync Routes handler built
// exactly as `run` and `reconcile` build them — one EC2 client, one
// mutating-call budget, one pass lock, the same pacing and ownership rules —
// for a caller that drives passes itself instead of running the loop: the
// Lambda form (agent/lambda). Build it once and keep it: the reconciler's
// memory (routes it wrote, propagation cache) lives in it.
type ReconcileFunction struct {
	h *reconcilerHandle
}

// NewReconcileFunction builds from a validated reconcile model. obs receives
// every pass, change and EC2 request, as Prometheus does in the daemon.
// It starts nothing.
func NewReconcileFunction(ctx context.Context, m *ReconcileModel, log *slog.Logger, obs routetable.Observer) (*ReconcileFunction, error) {
	if obs == nil {
		obs = routetable.NopObserver{}
	}
	// The function runs on no appliance: no own ENIs, so every route counts
	// as its own unless reconcile.network_interface_ids says otherwise.
	h, err := buildReconciler(ctx, m, nil, log, obs)
	if err != nil {
		return nil, err
	}
	return &ReconcileFunction{h: h}, nil
}

// RunOnce is one reconcile pass (routetable.Reconciler.RunOnce): it ends by
// ctx's deadline at the latest, and Result says what it did either way.
func (f *ReconcileFunction) RunOnce(ctx context.Context) (routetable.Result, error) {
	return f.h.rec.RunOnce(ctx)
}

// FollowUps are the delays after a change was signalled at which the
// daemon looks again: Route Server installs routes asynchronously.
func (f *ReconcileFunction) FollowUps() []time.Duration { return slices.Clone(followUpPasses[:]) }

// SyncRoutes is the Sync Routes API handler that `run` mounts, accepting
// the API key key. It shares the reconciler's write budget and pass lock.
func (f *ReconcileFunction) SyncRoutes(key []byte) http.Handler {
	return f.h.syncRoutesHandler(key)
}
