package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/rsagent/rsagent/routetable"
)

// reconcilerHandle wires the routetable reconciler (and the Sync Routes API,
// which shares its EC2 client and write budget) into the agent.
type reconcilerHandle struct {
	rec     *routetable.Reconciler
	api     routetable.API
	model   *ReconcileModel
	limiter *routetable.Limiter
	obs     routetable.Observer
	notify  routetable.Notifier
	log     *slog.Logger
}

// NewReconciler builds a reconciler from a validated model, for
// `rsagent reconcile` (standalone: unless reconcile.network_interface_ids
// says otherwise, every route counts as its own). dryRun forces dry-run on
// top of the config.
func NewReconciler(ctx context.Context, m *ReconcileModel, log *slog.Logger, dryRun bool) (*routetable.Reconciler, error) {
	mm := *m
	mm.DryRun = mm.DryRun || dryRun
	h, err := buildReconciler(ctx, &mm, nil, log, routetable.NopObserver{})
	if err != nil {
		return nil, err
	}
	return h.rec, nil
}

// newReconcilerHandle builds the reconciler of `rsagent run`: unless
// reconcile.network_interface_ids is set, its own ENIs are those holding
// the speaker's local addresses.
func newReconcilerHandle(m *Model, log *slog.Logger, met *metrics) (*reconcilerHandle, error) {
	local := []netip.Addr{m.BGP.LocalAddress}
	if m.BGP.LocalAddressV6.IsValid() {
		local = append(local, m.BGP.LocalAddressV6)
	}
	h, err := buildReconciler(context.Background(), m.Reconcile, local, log, reconcileObserver{met})
	if err != nil {
		return nil, err
	}
	met.registerReconciler(h.limiter.Rate, h.rec.Deferred)
	return h, nil
}

// buildReconciler builds the reconciler and its limiter. local are the
// appliance's addresses, whose ENIs count as its own when
// network_interface_ids is not configured; nil means every route does.
func buildReconciler(ctx context.Context, m *ReconcileModel, local []netip.Addr, log *slog.Logger, obs routetable.Observer) (*reconcilerHandle, error) {
	log = log.With("component", "reconcile")
	awsCfg, err := routetable.LoadAWSConfig(ctx, routetable.ClientOptions{Region: m.Region, Endpoint: m.Endpoint})
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	api := routetable.NewEC2API(routetable.NewEC2Client(awsCfg, m.Endpoint))
	var sinks []routetable.Notifier
	if m.Webhook != "" {
		sinks = append(sinks, routetable.NewWebhookNotifier(m.Webhook, 2*time.Second))
	}
	if m.SNSTopicARN != "" {
		sinks = append(sinks, routetable.NewSNSNotifier(sns.NewFromConfig(awsCfg), m.SNSTopicARN))
	}
	var notifier routetable.Notifier
	if len(sinks) > 0 {
		notifier = routetable.Multi(sinks...)
	}
	limiter := routetable.NewMutatingLimiter(m.MutatingBurst, m.MutatingPerSecond)
	cfg := routetable.Config{
		VPCID: m.VPCID, Interval: m.Interval, Source: m.Source, Targets: m.Targets,
		Origins: m.Origins, Prefixes: m.Prefixes, Ignore: m.IgnoreRoutes, Prune: m.Prune, DryRun: m.DryRun,
		Limiter: limiter, PropagationTTL: m.PropagationTTL, DeferOthers: m.DeferOthers,
		Logger: log, Observer: obs, Notifier: notifier,
	}
	if m.ENIsConfigured {
		cfg.NetworkInterfaceIDs = m.NetworkInterfaceIDs
	} else {
		cfg.LocalAddresses = local
	}
	rec, err := routetable.NewReconciler(api, cfg)
	if err != nil {
		return nil, &ConfigError{Problems: []string{"reconcile: " + err.Error()}}
	}
	return &reconcilerHandle{rec: rec, api: api, model: m, limiter: limiter, obs: obs, notify: notifier, log: log}, nil
}

func (h *reconcilerHandle) run(ctx context.Context) error { return h.rec.Run(ctx) }

// trigger asks for a pass now and for follow-ups shortly after: Route Server
// installs our changed advertisement asynchronously, so the pass that runs at
// once may still see the old main table. It never blocks; passes coalesce.
func (h *reconcilerHandle) trigger() {
	h.rec.Trigger()
	for _, d := range followUpPasses {
		time.AfterFunc(d, h.rec.Trigger)
	}
}

// followUpPasses are when a change is looked at again; later installs are
// caught by the interval.
var followUpPasses = [...]time.Duration{300 * time.Millisecond, time.Second}

// syncRoutesHandler serves the AWS Sync Routes-compatible API.
func (h *reconcilerHandle) syncRoutesHandler(key []byte) http.Handler {
	return routetable.NewSyncRoutesHandler(h.api, routetable.SyncRoutesConfig{
		VPCID: h.model.VPCID, APIKey: key, Rate: h.model.APIRate, Burst: h.model.APIBurst,
		Limiter: h.limiter, Ignore: h.model.IgnoreRoutes, Logger: h.log, Observer: h.obs, Notifier: h.notify,
		Serialize: h.rec.PassLock(),
	})
}

// reconcileObserver adapts routetable's measurements to Prometheus.
type reconcileObserver struct{ m *metrics }

func (o reconcileObserver) PassDone(result string, d time.Duration) {
	o.m.reconcileRuns.WithLabelValues(result).Inc()
	o.m.reconcileDuration.Observe(d.Seconds())
}
func (o reconcileObserver) Changed(action string) { o.m.reconcileChanges.WithLabelValues(action).Inc() }
func (o reconcileObserver) EC2Request(op, code string) {
	o.m.ec2Requests.WithLabelValues(op, code).Inc()
}
func (o reconcileObserver) NotificationFailed(sink string) {
	o.m.notifyFailures.WithLabelValues(sink).Inc()
}
func (o reconcileObserver) APIRequest(status int) {
	o.m.apiRequests.WithLabelValues(strconv.Itoa(status)).Inc()
}
