package netns

import (
	"bufio"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// BIRD's text output is meant for people, so the parsers below key on the
// few stable markers (the "BGP state:" line, route header lines with a
// "[protocol …]" tag, "BGP.attr:" lines, the BFD table's first three and
// last two columns) and ignore everything else, including the time columns
// whose format depends on `timeformat`.

func parseBIRDProtocolState(out string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "BGP state:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				return f[0], nil
			}
		}
	}
	if strings.Contains(out, "syntax error") || strings.Contains(out, "No protocols match") {
		return "", fmt.Errorf("BIRD: %s", strings.TrimSpace(out))
	}
	return "", fmt.Errorf("no \"BGP state:\" line in BIRD output: %q", strings.TrimSpace(out))
}

// birdRouteHeader matches the first line of a route: an optional prefix
// (absent for further routes to the same prefix), the destination type, the
// protocol tag, and the rest (" * (100) [AS65000i]").
var birdRouteHeader = regexp.MustCompile(`^(\S+/\d+)?\s*(\w+)\s+\[(\S+?)(?:\s[^\]]*)?\](.*)$`)

func parseBIRDRoutes(out string) (map[netip.Prefix]Route, error) {
	routes := make(map[netip.Prefix]Route)
	var (
		cur       *Route
		curBest   bool
		curPrefix netip.Prefix
		via       netip.Addr
	)
	flush := func() {
		if cur == nil {
			return
		}
		if !cur.NextHop.IsValid() {
			cur.NextHop = via
		}
		if _, seen := routes[cur.Prefix]; curBest || !seen {
			routes[cur.Prefix] = *cur
		}
		cur = nil
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "Table ") {
			continue
		}
		if !strings.HasPrefix(raw, "\t") {
			if m := birdRouteHeader.FindStringSubmatch(raw); m != nil {
				flush()
				if m[1] != "" {
					p, err := netip.ParsePrefix(m[1])
					if err != nil {
						return nil, fmt.Errorf("BIRD route prefix %q: %w", m[1], err)
					}
					curPrefix = p
				}
				if !curPrefix.IsValid() {
					return nil, fmt.Errorf("BIRD route without a prefix: %q", raw)
				}
				cur = &Route{Prefix: curPrefix, Protocol: m[3]}
				curBest = strings.HasPrefix(strings.TrimSpace(m[4]), "*")
				via = netip.Addr{}
				continue
			}
		}
		if cur == nil {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "via "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				if a, err := netip.ParseAddr(f[0]); err == nil && !via.IsValid() {
					via = a
				}
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !strings.HasPrefix(name, "BGP.") {
			continue
		}
		value = strings.TrimSpace(value)
		var err error
		switch name {
		case "BGP.as_path":
			cur.ASPath, err = parseASPath(value)
		case "BGP.next_hop":
			if f := strings.Fields(value); len(f) > 0 {
				cur.NextHop, err = netip.ParseAddr(f[0])
			}
		case "BGP.med":
			var v uint64
			v, err = strconv.ParseUint(value, 10, 32)
			cur.MED, cur.HasMED = uint32(v), err == nil
		case "BGP.local_pref":
			var v uint64
			v, err = strconv.ParseUint(value, 10, 32)
			cur.LocalPref = uint32(v)
		case "BGP.origin":
			cur.Origin = value
			if value == "Incomplete" {
				cur.Origin = "incomplete"
			}
		}
		if err != nil {
			return nil, fmt.Errorf("BIRD route %s, %s %q: %w", cur.Prefix, name, value, err)
		}
	}
	flush()
	return routes, sc.Err()
}

func parseBIRDBFDSessions(out string) ([]BFDPeer, error) {
	var peers []BFDPeer
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue // protocol name line ("bfd1:"), blank lines
		}
		addr, err := netip.ParseAddr(f[0])
		if err != nil {
			continue // the header line, or anything else that is not a session
		}
		interval, err1 := strconv.ParseFloat(f[len(f)-2], 64)
		timeout, err2 := strconv.ParseFloat(f[len(f)-1], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("BIRD BFD session line %q: interval/timeout not numbers", sc.Text())
		}
		peers = append(peers, BFDPeer{
			Peer: addr, Interface: f[1], State: normaliseBFDState(f[2]),
			TxMs:       int(interval*1000 + 0.5),
			DetectTime: time.Duration(timeout * float64(time.Second)).Round(time.Millisecond),
		})
	}
	return peers, sc.Err()
}
