package netns

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Routes returns the best path of every IPv4 and IPv6 unicast prefix in
// bgpd's table, from `show bgp ipv4 unicast json` and `show bgp ipv6 unicast
// json`.
func (f *FRR) Routes() (map[netip.Prefix]Route, error) {
	routes := make(map[netip.Prefix]Route)
	for _, afi := range []string{"ipv4", "ipv6"} {
		out, err := f.Vtysh("show bgp " + afi + " unicast json")
		if err != nil {
			return nil, err
		}
		if err := parseFRRRoutes(out, routes); err != nil {
			return nil, fmt.Errorf("%s unicast: %w", afi, err)
		}
	}
	return routes, nil
}

type frrPath struct {
	Valid bool `json:"valid"`
	// FRR 8 prints "bestpath":true; newer releases an object with "overall".
	BestPath json.RawMessage `json:"bestpath"`
	Metric   *uint32         `json:"metric"`
	LocPrf   *uint32         `json:"locPrf"`
	Path     string          `json:"path"`
	Origin   string          `json:"origin"`
	PeerID   string          `json:"peerId"`
	NextHops []struct {
		IP    string `json:"ip"`
		Scope string `json:"scope"`
	} `json:"nexthops"`
}

// parseFRRRoutes adds the best path of each prefix in one `show bgp … json`
// document to routes.
func parseFRRRoutes(out string, routes map[netip.Prefix]Route) error {
	var doc struct {
		Routes map[string][]frrPath `json:"routes"`
	}
	if strings.TrimSpace(out) == "" || strings.TrimSpace(out) == "{}" {
		return nil // FRR prints nothing for an empty table
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return fmt.Errorf("parse show bgp json: %w", err)
	}
	for key, paths := range doc.Routes {
		pfx, err := netip.ParsePrefix(key)
		if err != nil {
			return fmt.Errorf("route key %q: %w", key, err)
		}
		best := -1
		for i, p := range paths {
			if isFRRBest(p.BestPath) {
				best = i
				break
			}
			if best < 0 && p.Valid {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		p := paths[best]
		r := Route{Prefix: pfx, Origin: p.Origin}
		if p.Metric != nil {
			r.MED, r.HasMED = *p.Metric, true
		}
		if p.LocPrf != nil {
			r.LocalPref = *p.LocPrf
		}
		if r.ASPath, err = parseASPath(p.Path); err != nil {
			return fmt.Errorf("route %s: %w", pfx, err)
		}
		if a, err := netip.ParseAddr(p.PeerID); err == nil {
			r.From = a
		}
		for _, nh := range p.NextHops {
			a, err := netip.ParseAddr(nh.IP)
			if err != nil {
				continue
			}
			if !r.NextHop.IsValid() || (nh.Scope == "global" && r.NextHop.IsLinkLocalUnicast()) {
				r.NextHop = a
			}
		}
		routes[pfx] = r
	}
	return nil
}

func isFRRBest(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var o struct {
		Overall bool `json:"overall"`
	}
	return json.Unmarshal(raw, &o) == nil && o.Overall
}

// parseASPath reads "65010 65020" (set and confederation segments, which
// rsagent never produces, are flattened).
func parseASPath(s string) ([]uint32, error) {
	var path []uint32
	for _, f := range strings.Fields(strings.NewReplacer("{", " ", "}", " ", "(", " ", ")", " ", ",", " ").Replace(s)) {
		asn, err := strconv.ParseUint(f, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("AS path %q: %w", s, err)
		}
		path = append(path, uint32(asn))
	}
	return path, nil
}

// BFDPeers returns bfdd's sessions from `show bfd peers json`.
func (f *FRR) BFDPeers() ([]BFDPeer, error) {
	out, err := f.Vtysh("show bfd peers json")
	if err != nil {
		return nil, err
	}
	return parseFRRBFDPeers(out)
}

func parseFRRBFDPeers(out string) ([]BFDPeer, error) {
	var doc []struct {
		Peer       string `json:"peer"`
		Local      string `json:"local"`
		Interface  string `json:"interface"`
		Status     string `json:"status"`
		Uptime     int64  `json:"uptime"`
		Diagnostic string `json:"diagnostic"`
		RxMs       int    `json:"receive-interval"`
		TxMs       int    `json:"transmit-interval"`
		Mult       int    `json:"detect-multiplier"`
		RemoteRxMs int    `json:"remote-receive-interval"`
		RemoteTxMs int    `json:"remote-transmit-interval"`
		RemoteMult int    `json:"remote-detect-multiplier"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return nil, fmt.Errorf("parse show bfd peers json: %w", err)
	}
	peers := make([]BFDPeer, 0, len(doc))
	for _, d := range doc {
		p := BFDPeer{
			Interface: d.Interface, State: normaliseBFDState(d.Status), Diag: d.Diagnostic,
			Uptime: time.Duration(d.Uptime) * time.Second,
			RxMs:   d.RxMs, TxMs: d.TxMs, Mult: d.Mult,
			RemoteRxMs: d.RemoteRxMs, RemoteTxMs: d.RemoteTxMs, RemoteMult: d.RemoteMult,
		}
		var err error
		if p.Peer, err = netip.ParseAddr(d.Peer); err != nil {
			return nil, fmt.Errorf("BFD peer address %q: %w", d.Peer, err)
		}
		if d.Local != "" {
			if p.Local, err = netip.ParseAddr(d.Local); err != nil {
				return nil, fmt.Errorf("BFD local address %q: %w", d.Local, err)
			}
		}
		if p.RemoteMult > 0 && p.State == "Up" {
			p.DetectTime = time.Duration(p.RemoteMult*max(p.RxMs, p.RemoteTxMs)) * time.Millisecond
		}
		peers = append(peers, p)
	}
	return peers, nil
}

// normaliseBFDState maps FRR's and BIRD's wording to the RFC 5880 names.
func normaliseBFDState(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "up":
		return "Up"
	case "down":
		return "Down"
	case "init":
		return "Init"
	case "admindown", "shutdown", "admin-down":
		return "AdminDown"
	}
	return s
}
