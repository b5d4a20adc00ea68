package agent

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/rsagent/rsagent/bfd"
)

// bfdCollector reads the BFD manager's snapshots at scrape time, so the
// gauges can never disagree with `rsagent status`.
type bfdCollector struct {
	sessions func() []bfd.SessionStatus
	drops    func() map[string]uint64

	up, detect, tx, sent, received, dropped *prometheus.Desc
}

func newBFDCollector(sessions func() []bfd.SessionStatus, drops func() map[string]uint64) *bfdCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("rsagent_bfd_"+name, help, labels, nil)
	}
	return &bfdCollector{
		sessions: sessions, drops: drops,
		up:       d("session_up", "1 while the BFD session to the peer is Up.", "peer"),
		detect:   d("detect_time_seconds", "Negotiated BFD detection time (0 until the peer has been heard).", "peer"),
		tx:       d("tx_interval_seconds", "Negotiated BFD transmit interval before jitter.", "peer"),
		sent:     d("packets_sent_total", "BFD control packets sent.", "peer"),
		received: d("packets_received_total", "BFD control packets received and accepted by the session.", "peer"),
		dropped:  d("packets_dropped_total", "BFD control packets dropped, by reason (bad_ttl, malformed, unknown_discriminator, …).", "reason"),
	}
}

func (c *bfdCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.detect, c.tx, c.sent, c.received, c.dropped} {
		ch <- d
	}
}

func (c *bfdCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.sessions() {
		peer := s.Peer.String()
		up := 0.0
		if s.State == bfd.StateUp {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, peer)
		ch <- prometheus.MustNewConstMetric(c.detect, prometheus.GaugeValue, s.DetectionTime.Seconds(), peer)
		ch <- prometheus.MustNewConstMetric(c.tx, prometheus.GaugeValue, s.TxInterval.Seconds(), peer)
		ch <- prometheus.MustNewConstMetric(c.sent, prometheus.CounterValue, float64(s.PacketsSent), peer)
		ch <- prometheus.MustNewConstMetric(c.received, prometheus.CounterValue, float64(s.PacketsReceived), peer)
	}
	for reason, n := range c.drops() {
		ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(n), reason)
	}
}
