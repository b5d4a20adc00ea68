package agent

import (
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
)

// Reload applies a new validated config to the running agent. It diffs old
// and new and touches only what changed: an untouched peer keeps its BGP and
// BFD sessions, an untouched service keeps its health state and its
// announcements (MetalLB #1944/#2454 flapped sessions on every reload).
// Changes that cannot be applied live are refused as a whole, and the running
// config stays.
func (a *Agent) Reload(next *Model) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.model
	if err := restartOnly(cur, next); err != nil {
		return err
	}
	if a.run.Load() == nil {
		return fmt.Errorf("reload: the agent is not running")
	}

	// BGP peers: the speaker diffs and only adds, removes or updates what
	// changed.
	if !slices.Equal(peerConfigs(cur), peerConfigs(next)) {
		if err := a.speaker.SetPeers(peerConfigs(next)); err != nil {
			return fmt.Errorf("reload: bgp peers: %w", err)
		}
	}
	a.reloadBFD(cur, next)
	if !bfdAuthEqual(cur.BFDAuth, next.BFDAuth) {
		a.log.Info("reload: bfd authentication changed", "from", authString(cur.BFDAuth), "to", authString(next.BFDAuth))
	}

	a.model = next
	oldSvc := map[string]ServiceModel{}
	for _, s := range cur.Services {
		oldSvc[s.Name] = s
	}
	for _, s := range next.Services {
		old, ok := oldSvc[s.Name]
		delete(oldSvc, s.Name)
		switch {
		case !ok:
			if err := a.startMonitorLocked(s, false); err != nil {
				return err
			}
			a.log.Info("reload: service added", "service", s.Name)
		case !reflect.DeepEqual(old.Health, s.Health) || old.MaintenanceFile != s.MaintenanceFile:
			// New checks: the old verdict says nothing about them. An
			// operator's drain stays.
			drained := a.monitors[s.Name].mon.Status().Drained
			a.stopMonitorLocked(s.Name)
			if err := a.startMonitorLocked(s, drained); err != nil {
				return err
			}
			a.log.Info("reload: service health checks changed; re-evaluating", "service", s.Name)
		default:
			a.monitors[s.Name].model = s
		}
	}
	for name, old := range oldSvc {
		a.stopMonitorLocked(name)
		for _, p := range old.Prefixes {
			a.metrics.prefixAdvertised.DeleteLabelValues(name, p.String())
		}
		a.log.Info("reload: service removed", "service", name)
	}
	a.applyAdvertsLocked()
	if a.opts.LogLevel != nil && cur.Log.Level != next.Log.Level {
		a.opts.LogLevel.Set(parseLevel(next.Log.Level))
	}
	a.metrics.configReloads.WithLabelValues("ok").Inc()
	a.metrics.configReloadTime.SetToCurrentTime()
	return nil
}

func (a *Agent) reloadBFD(cur, next *Model) {
	old := map[netip.Addr]PeerModel{}
	for _, p := range cur.BGP.Peers {
		old[p.Address] = p
	}
	for _, p := range next.BGP.Peers {
		o, existed := old[p.Address]
		delete(old, p.Address)
		switch {
		case p.BFD == nil && existed && o.BFD != nil:
			a.removeBFD(p.Address)
		case p.BFD == nil:
		case !existed || o.BFD == nil:
			if err := a.addBFDLocked(p); err != nil {
				a.log.Error("reload: bfd session not added", "peer", p.Address, "error", err)
			}
		case *o.BFD != *p.BFD || !bfdAuthEqual(cur.BFDAuth, next.BFDAuth):
			// A Poll sequence negotiates the new timers; the session stays Up.
			if err := a.bfd.UpdateSession(bfdSessionConfig(next, p)); err != nil {
				a.log.Error("reload: bfd timers not updated", "peer", p.Address, "error", err)
			}
		}
	}
	for addr, o := range old {
		a.metrics.bgpUp.DeleteLabelValues(addr.String())
		if o.BFD != nil {
			a.removeBFD(addr)
		}
	}
}

func (a *Agent) removeBFD(peer netip.Addr) {
	if err := a.bfd.RemoveSession(peer); err != nil {
		a.log.Warn("reload: bfd session not removed", "peer", peer, "error", err)
	}
	if a.model.BFDStrict {
		if err := a.speaker.HoldDown(peer, false, ""); err != nil {
			a.log.Warn("reload: bgp session not released", "peer", peer, "error", err)
		}
	}
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
