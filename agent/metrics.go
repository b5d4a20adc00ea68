package agent

import (
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics holds every rsagent_ metric. docs/metrics.md is its reference; the
// names and labels are a public contract (dashboards and alerts use them).
type metrics struct {
	reg *prometheus.Registry

	bgpUp          *prometheus.GaugeVec
	bgpTransitions *prometheus.CounterVec
	bgpResets      *prometheus.CounterVec

	bfdTransitions *prometheus.CounterVec

	serviceHealthy     *prometheus.GaugeVec
	serviceState       *prometheus.GaugeVec
	serviceTransitions *prometheus.CounterVec
	prefixAdvertised   *prometheus.GaugeVec

	reconcileRuns     *prometheus.CounterVec
	reconcileChanges  *prometheus.CounterVec
	reconcileDuration prometheus.Histogram
	ec2Requests       *prometheus.CounterVec
	notifyFailures    *prometheus.CounterVec
	apiRequests       *prometheus.CounterVec

	configReloads    *prometheus.CounterVec
	configReloadTime prometheus.Gauge

	routerHostHealthy   *prometheus.GaugeVec
	routerHostProblem   *prometheus.GaugeVec
	routerRouteTarget   *prometheus.GaugeVec
	routerNoHealthyHost *prometheus.GaugeVec
	routerChanges       *prometheus.CounterVec
	routerPasses        *prometheus.CounterVec
	routerSpecUpdates   *prometheus.CounterVec
}

func newMetrics(version string) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	gv := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "rsagent", Name: name, Help: help}, labels)
		f(v)
		return v
	}
	cv := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "rsagent", Name: name, Help: help}, labels)
		f(v)
		return v
	}
	m := &metrics{reg: reg}
	build := gv("build_info", "Build information; always 1.", "version", "goversion")
	build.WithLabelValues(version, runtime.Version()).Set(1)

	m.bgpUp = gv("bgp_session_up", "1 while the BGP session to the peer is Established.", "peer")
	m.bgpTransitions = cv("bgp_session_transitions_total", "BGP session state changes, by the state entered (established, idle, …).", "peer", "to")
	m.bgpResets = cv("bgp_peer_resets_total", "BGP sessions reset by rsagent, by reason (bfd_down, bfd_strict).", "peer", "reason")

	m.bfdTransitions = cv("bfd_session_transitions_total", "BFD session state changes, by the state entered (up, down, init, admin_down).", "peer", "to")

	m.serviceHealthy = gv("service_healthy", "1 while the service's health state is up or falling (advertised as healthy).", "service")
	m.serviceState = gv("service_state", "1 for the service's current health state (init, rising, up, falling, down, disabled).", "service", "state")
	m.serviceTransitions = cv("service_transitions_total", "Service health state changes, by the state entered.", "service", "to")
	m.prefixAdvertised = gv("prefix_advertised", "1 while the prefix is in the set handed to BGP (healthy or de-preferred), 0 while withdrawn.", "service", "prefix")

	m.reconcileRuns = cv("reconcile_runs_total", "Reconcile passes, by result: ok (nothing to do), changed, error.", "result")
	m.reconcileChanges = cv("reconcile_changes_total", "Route changes made by the reconciler, by action (create, replace, delete); dry-run plans are not counted.", "action")
	m.reconcileDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "rsagent", Name: "reconcile_duration_seconds",
		Help: "Duration of reconcile passes.", Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30, 60}})
	f(m.reconcileDuration)
	m.ec2Requests = cv("ec2_requests_total", "EC2 API requests (every attempt, retries included), by operation and error code (ok on success).", "operation", "code")
	m.apiRequests = cv("sync_routes_requests_total", "Sync Routes API requests, by HTTP status code.", "code")
	m.notifyFailures = cv("notification_failures_total", "Change notifications that could not be delivered, by sink.", "sink")

	m.configReloads = cv("config_reloads_total", "Configuration reloads (SIGHUP), by result (ok, error).", "result")
	m.configReloadTime = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "rsagent", Name: "config_last_reload_success_timestamp_seconds",
		Help: "When the running configuration was loaded."})
	f(m.configReloadTime)
	m.configReloadTime.Set(float64(time.Now().Unix()))

	m.routerHostHealthy = gv("router_host_healthy", "Direct mode: 1 while the host passes its checks and is eligible (not failed, not held by failed_hold).", "host")
	m.routerHostProblem = gv("router_host_problem", "Direct mode: 1 while the host has the problem (no_eni, eni_not_attached, source_dest_check); such a host is never chosen, or cannot forward.", "host", "problem")
	m.routerRouteTarget = gv("router_route_target", "Direct mode: 1 for the host chosen as the destination's target, 0 for its other hosts.", "destination", "host")
	m.routerNoHealthyHost = gv("router_no_healthy_host", "Direct mode: 1 while no host of the destination may be its target (the routes are left as they are).", "destination")
	m.routerChanges = cv("router_changes_total", "Direct mode: routes written, by action (create, replace, delete); dry-run changes are not counted.", "action")
	m.routerPasses = cv("router_passes_total", "Direct mode: passes over the route tables, by result: ok (nothing to do), changed, error.", "result")
	m.routerSpecUpdates = cv("router_spec_updates_total", "Direct mode: route specs offered, by source (file, http, config) and result (applied, unchanged, refused).", "source", "result")
	return m
}

// registerReconciler adds the gauges read from a running reconciler: the
// client-side limiter's current (adapted) refill rate, and the changes left
// to the appliances owning them.
func (m *metrics) registerReconciler(rate func() float64, deferred func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "rsagent", Name: "ec2_mutating_rate_per_second",
		Help: "Refill rate of the client-side bucket in front of EC2 route writes: reconcile.mutating_rate.per_second, or less while recovering from RequestLimitExceeded."},
		rate))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "rsagent", Name: "reconcile_deferred_routes",
		Help: "Route changes the latest read left to the appliance owning the route (reconcile.defer_others)."},
		func() float64 { return float64(deferred()) }))
}
