package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"
	"golang.org/x/time/rate"

	"github.com/rsagent/rsagent/routetable"
)

// reconcilerHandle wires the routetable reconciler (and the Sync Routes API,
// which shares its EC2 client and write budget) into the agent.
type reconcilerHandle struct {
	rec     *routetable.Reconciler
	api     routetable.API
	model   *ReconcileModel
	limiter *rate.Limiter
	obs     routetable.Observer
	notify  routetable.Notifier
	log     *slog.Logger
}

// NewReconciler builds a reconciler from a validated model, for
// `rsagent reconcile`. dryRun forces dry-run on top of the config.
func NewReconciler(ctx context.Context, m *ReconcileModel, log *slog.Logger, dryRun bool) (*routetable.Reconciler, error) {
	mm := *m
	mm.DryRun = mm.DryRun || dryRun
	h, err := buildReconciler(ctx, &mm, log, routetable.NopObserver{})
	if err != nil {
		return nil, err
	}
	return h.rec, nil
}

func newReconcilerHandle(m *ReconcileModel, log *slog.Logger, met *metrics) (*reconcilerHandle, error) {
	return buildReconciler(context.Background(), m, log, reconcileObserver{met})
}

func buildReconciler(ctx context.Context, m *ReconcileModel, log *slog.Logger, obs routetable.Observer) (*reconcilerHandle, error) {
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
	rec, err := routetable.NewReconciler(api, routetable.Config{
		VPCID: m.VPCID, Interval: m.Interval, Source: m.Source, Targets: m.Targets,
		Origins: m.Origins, Prefixes: m.Prefixes, Prune: m.Prune, DryRun: m.DryRun,
		Limiter: limiter, PropagationTTL: m.PropagationTTL,
		Logger: log, Observer: obs, Notifier: notifier,
	})
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
		Limiter: h.limiter, Logger: h.log, Observer: h.obs, Notifier: h.notify,
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
