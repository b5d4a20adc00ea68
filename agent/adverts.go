package agent

import (
	"net/netip"
	"sort"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/bgp"
)

// advertised is one prefix the agent wants announced, and by which service.
type advertised struct {
	Service string
	bgp.Advertisement
}

// desiredAdverts decides what every service announces for its health state.
// It is the whole of the "health → BGP" policy and is pure:
//
//   - up, falling: the healthy attributes (ExaBGP also keeps announcing while
//     falling — one failed check must not move traffic);
//   - disabled (maintenance file or drain): nothing, whatever when_unhealthy
//     says — an operator who drains wants the traffic gone;
//   - init, rising, down: when_unhealthy — nothing, or the prefix with a
//     worse MED / longer AS path so that a healthy HA partner wins.
func desiredAdverts(services []ServiceModel, states map[string]health.State, nh4, nh6 netip.Addr) []advertised {
	var out []advertised
	for _, s := range services {
		st := states[s.Name]
		med, prepend := s.MED, s.ASPathPrepend
		switch {
		case st.Healthy():
		case st == health.StateDisabled || s.Unhealthy.Withdraw:
			continue
		default:
			med, prepend = s.Unhealthy.MED, s.Unhealthy.ASPathPrepend
		}
		for _, p := range s.Prefixes {
			nh := nh4
			if p.Addr().Is6() {
				nh = nh6
			}
			out = append(out, advertised{Service: s.Name, Advertisement: bgp.Advertisement{
				Prefix: p, NextHop: nh, MED: med, ASPathPrepend: prepend,
			}})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix.String() < out[j].Prefix.String() })
	return out
}

func bgpAdverts(a []advertised) []bgp.Advertisement {
	out := make([]bgp.Advertisement, len(a))
	for i := range a {
		out[i] = a[i].Advertisement
	}
	return out
}
