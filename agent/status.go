package agent

import (
	"net/netip"
	"time"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/bfd"
	"github.com/rsagent/rsagent/routetable"
)

// Status is what GET /status returns and `rsagent status` prints.
type Status struct {
	Version       string             `json:"version"`
	UptimeSeconds float64            `json:"uptime_seconds"`
	Ready         bool               `json:"ready"`
	Peers         []PeerStatus       `json:"peers"`
	Services      []ServiceStatus    `json:"services"`
	Reconcile     *routetable.Status `json:"reconcile,omitempty"`
	Router        *RouterStatus      `json:"router,omitempty"`
}

// PeerStatus is one BGP peer with its BFD session.
type PeerStatus struct {
	Address            string     `json:"address"`
	ASN                uint32     `json:"asn"`
	State              string     `json:"state"`
	EstablishedSince   *time.Time `json:"established_since,omitempty"`
	UptimeSeconds      float64    `json:"uptime_seconds"`
	PrefixesAdvertised uint64     `json:"prefixes_advertised"`
	PrefixesReceived   uint64     `json:"prefixes_received"`
	LastReason         string     `json:"last_reason,omitempty"`
	LastBFDReset       string     `json:"last_bfd_reset,omitempty"`
	HeldDown           string     `json:"held_down,omitempty"`
	BFD                *BFDStatus `json:"bfd,omitempty"`
}

// BFDStatus is one BFD session as /status shows it.
type BFDStatus struct {
	State               string     `json:"state"`
	RemoteState         string     `json:"remote_state"`
	LocalDiag           string     `json:"local_diag"`
	RemoteDiag          string     `json:"remote_diag"`
	TxIntervalMs        float64    `json:"tx_interval_ms"`
	DetectTimeMs        float64    `json:"detect_time_ms"`
	RemoteMinRxMs       float64    `json:"remote_min_rx_ms"`
	RemoteMinTxMs       float64    `json:"remote_min_tx_ms"`
	RemoteMultiplier    uint8      `json:"remote_multiplier"`
	UpSince             *time.Time `json:"up_since,omitempty"`
	PacketsSent         uint64     `json:"packets_sent"`
	PacketsReceived     uint64     `json:"packets_received"`
	LocalDiscriminator  uint32     `json:"local_discriminator"`
	RemoteDiscriminator uint32     `json:"remote_discriminator"`
}

// ServiceStatus is one service, its health and what it announces.
type ServiceStatus struct {
	Name        string               `json:"name"`
	State       string               `json:"state"`
	Healthy     bool                 `json:"healthy"`
	Drained     bool                 `json:"drained"`
	Maintenance bool                 `json:"maintenance"`
	Reason      string               `json:"reason,omitempty"`
	LastChange  *time.Time           `json:"last_change,omitempty"`
	Checks      []health.CheckStatus `json:"checks"`
	Prefixes    []PrefixStatus       `json:"prefixes"`
}

// PrefixStatus says whether and how a prefix is announced.
type PrefixStatus struct {
	Prefix        string `json:"prefix"`
	Advertised    bool   `json:"advertised"`
	MED           uint32 `json:"med,omitempty"`
	ASPathPrepend uint8  `json:"as_path_prepend,omitempty"`
}

// Status snapshots the agent.
func (a *Agent) Status() Status {
	st := Status{Version: Version, Ready: a.ready.Load()}
	if !a.started.IsZero() {
		st.UptimeSeconds = time.Since(a.started).Seconds()
	}
	sessions := map[netip.Addr]bfd.SessionStatus{}
	for _, s := range a.bfd.Sessions() {
		sessions[s.Peer] = s
	}
	snap := a.snap.Load()
	resets, adverts, model, monitors := snap.lastReset, snap.adverts, snap.model, snap.monitors

	for _, p := range a.speaker.Peers() {
		ps := PeerStatus{
			Address: p.Address.String(), ASN: p.ASN, State: p.State,
			PrefixesAdvertised: p.Advertised, PrefixesReceived: p.Received,
			LastReason: p.LastReason, LastBFDReset: resets[p.Address],
		}
		if why, held := a.speaker.Held(p.Address); held {
			ps.HeldDown = why
		}
		if !p.EstablishedSince.IsZero() {
			t := p.EstablishedSince
			ps.EstablishedSince = &t
			ps.UptimeSeconds = p.Uptime.Seconds()
		}
		if s, ok := sessions[p.Address]; ok {
			ps.BFD = bfdStatus(s)
		}
		st.Peers = append(st.Peers, ps)
	}
	for _, s := range model.Services {
		ss := ServiceStatus{Name: s.Name, State: health.StateInit.String()}
		if mon, ok := monitors[s.Name]; ok {
			hs := mon.Status()
			ss.State, ss.Healthy, ss.Drained, ss.Maintenance = hs.State.String(), hs.Healthy, hs.Drained, hs.Maintenance
			ss.Reason, ss.Checks = hs.Reason, hs.Checks
			if !hs.LastChange.IsZero() {
				t := hs.LastChange
				ss.LastChange = &t
			}
		}
		for _, p := range s.Prefixes {
			ps := PrefixStatus{Prefix: p.String()}
			for _, ad := range adverts {
				if ad.Prefix == p {
					ps.Advertised, ps.MED, ps.ASPathPrepend = true, ad.MED, ad.ASPathPrepend
				}
			}
			ss.Prefixes = append(ss.Prefixes, ps)
		}
		st.Services = append(st.Services, ss)
	}
	if a.rec != nil {
		rs := a.rec.rec.Status()
		st.Reconcile = &rs
	}
	return st
}

func bfdStatus(s bfd.SessionStatus) *BFDStatus {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b := &BFDStatus{
		State: s.State.String(), RemoteState: s.RemoteState.String(),
		LocalDiag: s.LocalDiag.String(), RemoteDiag: s.RemoteDiag.String(),
		TxIntervalMs: ms(s.TxInterval), DetectTimeMs: ms(s.DetectionTime),
		RemoteMinRxMs: ms(s.RemoteRequiredMinRx), RemoteMinTxMs: ms(s.RemoteDesiredMinTx), RemoteMultiplier: s.RemoteDetectMult,
		PacketsSent: s.PacketsSent, PacketsReceived: s.PacketsReceived,
		LocalDiscriminator: s.LocalDiscriminator, RemoteDiscriminator: s.RemoteDiscriminator,
	}
	if !s.UpSince.IsZero() {
		t := s.UpSince
		b.UpSince = &t
	}
	return b
}
