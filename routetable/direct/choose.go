package direct

import "net/netip"

// HostView is what the choice needs to know about one host.
type HostView struct {
	// ENI is the network interface that holds the host's address in the
	// VPC now; "" when there is none (the host is never chosen).
	ENI string
	// Healthy: routes pointing at the host may stay (HostState.Healthy).
	Healthy bool
	// Eligible: the host may become a target (HostState.Eligible).
	Eligible bool
}

func (v HostView) usable() bool { return v.ENI != "" }

// Choose picks the one target of a destination, deterministically, so that
// several routers with the same spec and the same view agree without a
// leader (vpc-router chose at random, and two of them flapped):
//
//   - without preempt: keep a current target while it is healthy and
//     listed (the earliest in spec order if the tables disagree);
//     otherwise the first eligible host in spec order;
//   - with preempt: the first host in spec order that is eligible, or is a
//     current target and healthy, so traffic returns to the preferred host
//     once it is eligible again.
//
// current holds the listed hosts that some table's route points at now.
// ok is false when no host qualifies: the caller then leaves the routes as
// they are (never deletes into a blackhole).
func Choose(hosts []netip.Addr, current map[netip.Addr]bool, view func(netip.Addr) HostView, preempt bool) (chosen netip.Addr, ok bool) {
	if preempt {
		for _, h := range hosts {
			v := view(h)
			if v.usable() && (v.Eligible || current[h] && v.Healthy) {
				return h, true
			}
		}
		return netip.Addr{}, false
	}
	for _, h := range hosts {
		if v := view(h); current[h] && v.usable() && v.Healthy {
			return h, true
		}
	}
	for _, h := range hosts {
		if v := view(h); v.usable() && v.Eligible {
			return h, true
		}
	}
	return netip.Addr{}, false
}
