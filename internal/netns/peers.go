package netns

import (
	"net/netip"
	"time"
)

// Route is one route as a peer (FRR or BIRD) sees it.
type Route struct {
	Prefix    netip.Prefix
	NextHop   netip.Addr
	MED       uint32
	HasMED    bool
	LocalPref uint32
	ASPath    []uint32
	Origin    string     // "IGP", "EGP", "incomplete"
	From      netip.Addr // the BGP neighbor it was learned from, when known
	Protocol  string     // BIRD protocol name (BIRD only)
}

// BFDPeer is one BFD session as a peer sees it. State is normalised to the RFC
// 5880 names "Up", "Down", "Init" and "AdminDown"; intervals are in
// milliseconds. Fields a daemon does not report are zero.
type BFDPeer struct {
	Peer      netip.Addr
	Local     netip.Addr
	Interface string
	State     string
	Diag      string // local diagnostic as the daemon words it ("ok", "control detection time expired", …)
	Uptime    time.Duration
	// Local timers: FRR reports the configured ones; BIRD reports the
	// negotiated TX interval in TxMs and the detection time in DetectTime.
	RxMs, TxMs, Mult int
	// The peer's advertised timers (FRR only).
	RemoteRxMs, RemoteTxMs, RemoteMult int
	DetectTime                         time.Duration
}
