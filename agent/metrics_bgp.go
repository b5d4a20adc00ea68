package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rsagent/rsagent/bgp"
)

// bgpCollector reads the speaker's per-peer counters at scrape time. The
// speaker keeps them for as long as it runs, so they only grow.
type bgpCollector struct {
	peers func() []bgp.PeerStatus

	resets, malformed *prometheus.Desc
}

func newBGPCollector(peers func() []bgp.PeerStatus) *bgpCollector {
	return &bgpCollector{
		peers: peers,
		resets: prometheus.NewDesc("rsagent_bgp_session_resets_total",
			"BGP sessions (or attempts past OpenSent) that ended, by cause (GoBGP's disconnect reason, or rsagent_* for our own actions) and NOTIFICATION code/subcode (\"\" for none).",
			[]string{"peer", "cause", "notification"}, nil),
		malformed: prometheus.NewDesc("rsagent_bgp_malformed_messages_total",
			"BGP messages from the peer that could not be parsed, whatever was done about them (session reset, UPDATE treated as withdraw, attribute discarded).",
			[]string{"peer"}, nil),
	}
}

func (c *bgpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.resets
	ch <- c.malformed
}

func (c *bgpCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.peers() {
		peer := p.Address.String()
		ch <- prometheus.MustNewConstMetric(c.malformed, prometheus.CounterValue, float64(p.MalformedMessages), peer)
		for _, r := range p.Resets {
			ch <- prometheus.MustNewConstMetric(c.resets, prometheus.CounterValue, float64(r.Count), peer, r.Cause, r.Notification)
		}
	}
}
