package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/bfd"
)

// Reload applies a new validated config to the running agent, whole or not
// at all. Plan, then commit:
//
//   - plan (on the caller's goroutine, nothing changes): refuse changes that
//     need a restart, diff old and new, build the monitors of new and
//     re-checked services and the BFD session configs. Everything that can
//     fail fails here, and then the running config stays as it was.
//   - commit (on the loop): apply the plan in start-up order — bfd.strict
//     holds before new peers, peers, BFD sessions, services, then the
//     advertisement set. Each step takes validated input and cannot fail
//     halfway; GoBGP refusing a peer is retried by the speaker towards the
//     committed list.
//
// Only what changed is touched: an untouched peer keeps its BGP and BFD
// sessions, an untouched service its health state and announcements
// (MetalLB #1944/#2454 flapped sessions on every reload), and a service whose
// only change is its check timing keeps its state too.
func (a *Agent) Reload(next *Model) error {
	cur := a.snap.Load().model
	pl, err := a.plan(cur, next)
	if err != nil {
		return err
	}
	var commitErr error
	if err := a.do(context.Background(), func(c *core) { commitErr = c.commit(pl) }); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	if commitErr != nil {
		return commitErr
	}
	a.metrics.configReloads.WithLabelValues("ok").Inc()
	a.metrics.configReloadTime.SetToCurrentTime()
	a.log.Info("reload applied", "changes", pl.summary())
	return nil
}

// reloadPlan is everything a commit needs, built and checked beforehand.
type reloadPlan struct {
	from, to *Model

	peersChanged bool
	strictHolds  []netip.Addr // new peers to hold down before they are added
	bfdAdd       []bfd.SessionConfig
	bfdUpdate    []bfd.SessionConfig
	bfdRemove    []netip.Addr
	peersRemoved []netip.Addr

	svcAdd     []ServiceModel
	svcReplace []ServiceModel // checks or maintenance file changed: re-evaluated
	svcRetime  []ServiceModel // only timing changed: state kept
	svcUpdate  []ServiceModel // prefixes or attributes changed
	svcRemove  []ServiceModel

	logLevel string // "" = unchanged
}

func (a *Agent) plan(cur, next *Model) (*reloadPlan, error) {
	if err := restartOnly(cur, next); err != nil {
		return nil, err
	}
	pl := &reloadPlan{from: cur, to: next}
	pl.peersChanged = !slices.Equal(peerConfigs(cur), peerConfigs(next))
	old := map[netip.Addr]PeerModel{}
	for _, p := range cur.BGP.Peers {
		old[p.Address] = p
	}
	authChanged := !bfdAuthEqual(cur.BFDAuth, next.BFDAuth)
	for _, p := range next.BGP.Peers {
		o, existed := old[p.Address]
		delete(old, p.Address)
		switch {
		case p.BFD == nil && existed && o.BFD != nil:
			pl.bfdRemove = append(pl.bfdRemove, p.Address)
		case p.BFD == nil:
		case !existed || o.BFD == nil:
			sc := bfdSessionConfig(next, p)
			if err := sc.Validate(); err != nil {
				return nil, &ConfigError{Problems: []string{fmt.Sprintf("bfd session to %s: %v", p.Address, err)}}
			}
			pl.bfdAdd = append(pl.bfdAdd, sc)
			if next.BFDStrict && !existed {
				pl.strictHolds = append(pl.strictHolds, p.Address)
			}
		case *o.BFD != *p.BFD || authChanged:
			sc := bfdSessionConfig(next, p)
			if err := sc.Validate(); err != nil {
				return nil, &ConfigError{Problems: []string{fmt.Sprintf("bfd session to %s: %v", p.Address, err)}}
			}
			pl.bfdUpdate = append(pl.bfdUpdate, sc)
		}
	}
	for addr, o := range old {
		pl.peersRemoved = append(pl.peersRemoved, addr)
		if o.BFD != nil {
			pl.bfdRemove = append(pl.bfdRemove, addr)
		}
	}
	slices.SortFunc(pl.peersRemoved, netip.Addr.Compare)
	slices.SortFunc(pl.bfdRemove, netip.Addr.Compare)

	oldSvc := map[string]ServiceModel{}
	for _, s := range cur.Services {
		oldSvc[s.Name] = s
	}
	for _, s := range next.Services {
		o, ok := oldSvc[s.Name]
		delete(oldSvc, s.Name)
		switch {
		case !ok:
			pl.svcAdd = append(pl.svcAdd, s)
		case !sameChecks(o.Health, s.Health):
			pl.svcReplace = append(pl.svcReplace, s)
		case o.Health.Timing() != s.Health.Timing():
			pl.svcRetime = append(pl.svcRetime, s)
		case !reflect.DeepEqual(o, s):
			pl.svcUpdate = append(pl.svcUpdate, s)
		}
	}
	for _, s := range cur.Services {
		if _, gone := oldSvc[s.Name]; gone {
			pl.svcRemove = append(pl.svcRemove, s)
		}
	}
	for _, s := range append(slices.Clone(pl.svcAdd), pl.svcReplace...) {
		if err := s.Health.Validate(); err != nil {
			return nil, &ConfigError{Problems: []string{fmt.Sprintf("services[%s].health: %v", s.Name, err)}}
		}
	}
	if cur.Log.Level != next.Log.Level {
		pl.logLevel = next.Log.Level
	}
	return pl, nil
}

// sameChecks: the same checks (by what they check) and maintenance file; the
// old verdict still holds.
func sameChecks(a, b health.Spec) bool {
	return a.MaintenanceFile == b.MaintenanceFile && slices.EqualFunc(a.Checks, b.Checks,
		func(x, y health.Checker) bool { return x.String() == y.String() })
}

// commit applies pl on the loop. It refuses only a plan made against a model
// that is no longer the one in force (another reload came first).
func (c *core) commit(pl *reloadPlan) error {
	a := c.a
	if c.model != pl.from {
		return fmt.Errorf("reload: the running config changed while this reload was planned; reload again")
	}
	// Start-up order: a new peer under bfd.strict is held before it is
	// added, so that BGP never comes up ahead of its BFD session.
	for _, addr := range pl.strictHolds {
		if err := a.speaker.HoldDown(addr, true, strictHoldReason); err != nil {
			a.log.Warn("reload: bfd.strict hold not placed", "peer", addr, "error", err)
		}
	}
	if pl.peersChanged {
		// The speaker keeps the new list as its desired state and retries
		// what GoBGP refused; the rest of the plan follows it.
		if err := a.speaker.SetPeers(peerConfigs(pl.to)); err != nil {
			a.log.Warn("reload: bgp peers not all applied yet; the speaker retries", "error", err)
		}
	}
	for _, sc := range pl.bfdAdd {
		if err := a.bfd.AddSession(sc); err != nil {
			a.log.Error("reload: bfd session not added", "peer", sc.Peer, "error", err)
		}
	}
	for _, sc := range pl.bfdUpdate {
		// A Poll sequence negotiates the new timers; the session stays Up.
		if err := a.bfd.UpdateSession(sc); err != nil {
			a.log.Error("reload: bfd session not updated", "peer", sc.Peer, "error", err)
		}
	}
	for _, addr := range pl.bfdRemove {
		if err := a.bfd.RemoveSession(addr); err != nil {
			a.log.Warn("reload: bfd session not removed", "peer", addr, "error", err)
		}
		if pl.to.BFDStrict {
			if err := a.speaker.HoldDown(addr, false, ""); err != nil {
				a.log.Warn("reload: bgp session not released", "peer", addr, "error", err)
			}
		}
	}
	for _, addr := range pl.peersRemoved {
		a.metrics.bgpUp.DeleteLabelValues(addr.String())
		delete(c.lastReset, addr)
	}
	c.model = pl.to
	old := map[string]ServiceModel{}
	for _, s := range pl.from.Services {
		old[s.Name] = s
	}
	for _, s := range pl.svcRemove {
		c.stopService(s.Name)
	}
	// A prefix a service no longer has must not stay in the metrics at its
	// last value.
	for name, o := range old {
		var keep []netip.Prefix
		if i := slices.IndexFunc(pl.to.Services, func(s ServiceModel) bool { return s.Name == name }); i >= 0 {
			keep = pl.to.Services[i].Prefixes
		}
		for _, p := range o.Prefixes {
			if !slices.Contains(keep, p) {
				a.metrics.prefixAdvertised.DeleteLabelValues(name, p.String())
			}
		}
	}
	for _, s := range pl.svcReplace {
		// New checks: the old verdict says nothing about them. An
		// operator's drain stays.
		drained := c.services[s.Name].mon.Status().Drained
		c.stopService(s.Name)
		c.startService(c.newServiceRun(s, drained))
	}
	for _, s := range pl.svcAdd {
		c.startService(c.newServiceRun(s, false))
	}
	for _, s := range pl.svcRetime {
		r := c.services[s.Name]
		if err := r.mon.SetTiming(s.Health.Timing()); err != nil {
			a.log.Error("reload: health timing not applied", "service", s.Name, "error", err)
		}
		r.model = s
	}
	for _, s := range pl.svcUpdate {
		c.services[s.Name].model = s
	}
	if !c.stopping {
		c.applyAdverts()
	}
	c.checkDrains()
	if pl.logLevel != "" && a.opts.LogLevel != nil {
		a.opts.LogLevel.Set(parseLevel(pl.logLevel))
	}
	if !bfdAuthEqual(pl.from.BFDAuth, pl.to.BFDAuth) {
		a.log.Info("reload: bfd authentication changed", "from", authString(pl.from.BFDAuth), "to", authString(pl.to.BFDAuth))
	}
	return nil
}

// summary says exactly what a plan changes, for the log.
func (pl *reloadPlan) summary() string {
	var parts []string
	add := func(what string, n int) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", what, n))
		}
	}
	names := func(ss []ServiceModel) []string {
		out := make([]string, len(ss))
		for i, s := range ss {
			out[i] = s.Name
		}
		return out
	}
	if pl.peersChanged {
		parts = append(parts, "bgp peers")
	}
	add("bfd sessions added", len(pl.bfdAdd))
	add("bfd sessions retimed", len(pl.bfdUpdate))
	add("bfd sessions removed", len(pl.bfdRemove))
	for _, g := range []struct {
		what string
		ss   []ServiceModel
	}{
		{"services added", pl.svcAdd}, {"services re-checked", pl.svcReplace}, {"services retimed", pl.svcRetime},
		{"services updated", pl.svcUpdate}, {"services removed", pl.svcRemove},
	} {
		if len(g.ss) > 0 {
			parts = append(parts, fmt.Sprintf("%s %v", g.what, names(g.ss)))
		}
	}
	if pl.logLevel != "" {
		parts = append(parts, "log.level "+pl.logLevel)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// restartOnly refuses changes that would need the process to restart (new
// sockets, a new BGP identity), so that a reload never half-applies them.
func restartOnly(cur, next *Model) error {
	var p problems
	if cur.BGP.ASN != next.BGP.ASN {
		p.addf("bgp.asn", "changed from %d to %d: restart rsagent to apply", cur.BGP.ASN, next.BGP.ASN)
	}
	if cur.BGP.RouterID != next.BGP.RouterID {
		p.addf("bgp.router_id", "changed: restart rsagent to apply")
	}
	if cur.BGP.LocalAddress != next.BGP.LocalAddress || cur.BGP.LocalAddressV6 != next.BGP.LocalAddressV6 {
		p.addf("bgp.local_address", "changed: restart rsagent to apply")
	}
	if cur.BGP.GRPCListen != next.BGP.GRPCListen {
		p.addf("bgp.grpc_listen", "changed: restart rsagent to apply")
	}
	if cur.BGP.ListenPort != next.BGP.ListenPort {
		p.addf("bgp.listen_port", "changed: restart rsagent to apply")
	}
	if cur.BFDPort != next.BFDPort {
		p.addf("bfd.port", "changed: restart rsagent to apply")
	}
	if cur.BFDStrict != next.BFDStrict {
		p.addf("bfd.strict", "changed: restart rsagent to apply")
	}
	if cur.HTTP != next.HTTP {
		p.addf("http", "changed: restart rsagent to apply")
	}
	if !reflect.DeepEqual(cur.Reconcile, next.Reconcile) {
		p.addf("reconcile", "changed: restart rsagent to apply")
	}
	if next.Router != nil || next.RouterOnly || next.ReconcileOnly {
		p.addf("router", "this file is not an `rsagent run` config any more (a router section, or no bgp): restart with the right command")
	}
	if len(p) > 0 {
		return &ConfigError{Problems: p}
	}
	return nil
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}

// ReloadFailed records a rejected reload in the metrics.
func (a *Agent) ReloadFailed() { a.metrics.configReloads.WithLabelValues("error").Inc() }
