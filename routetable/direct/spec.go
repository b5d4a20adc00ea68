package direct

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Limits of a route spec. A VPC route table holds at most 1,000 routes, so a
// longer spec cannot be programmed; the host limit keeps a POSTed spec from
// starting thousands of health checks.
const (
	MaxSpecRoutes   = 1000
	MaxHostsPerCIDR = 64
	MaxSpecHosts    = 1000
)

// Spec is a route spec in vpc-router's format, {"10.55.0.0/16":
// ["10.33.20.142", "10.33.30.22"]}: each destination CIDR (IPv4 or IPv6)
// maps to its candidate hosts in preference order. Keys are canonical
// (masked) prefixes; a spec returned by ParseSpec or Validate is valid.
type Spec map[netip.Prefix][]netip.Addr

// SpecError lists every problem found in a route spec. Each problem names
// the CIDR (and host) it is about.
type SpecError struct {
	Problems []string
}

func (e *SpecError) Error() string {
	if len(e.Problems) == 1 {
		return "route spec: " + e.Problems[0]
	}
	return fmt.Sprintf("route spec (%d problems): %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// ErrSpecSyntax wraps JSON that is not a spec object at all.
var ErrSpecSyntax = errors.New(`route spec: want a JSON object {"CIDR": ["host IP", ...], ...}`)

// ParseSpec decodes and validates a spec. Unlike encoding/json into a map,
// it refuses a CIDR listed twice (also when written two ways, such as
// 10.55.0.0/16 and 10.55.0.00/16) instead of silently keeping the last one,
// and it reports every problem at once.
func ParseSpec(data []byte) (Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpecSyntax, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%w: the document starts with %v", ErrSpecSyntax, describeToken(tok))
	}
	spec := Spec{}
	var problems []string
	raw := map[netip.Prefix]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSpecSyntax, err)
		}
		key, _ := tok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("%w: the value of %q: %v", ErrSpecSyntax, key, err)
		}
		pfx, perr := parseCIDR(key)
		if perr != "" {
			problems = append(problems, perr)
			continue
		}
		if first, dup := raw[pfx]; dup {
			problems = append(problems, fmt.Sprintf("%q: %s is already listed as %q", key, pfx, first))
			continue
		}
		raw[pfx] = key
		var items []json.RawMessage
		if err := json.Unmarshal(val, &items); err != nil || items == nil {
			problems = append(problems, fmt.Sprintf("%s: want a list of host IP addresses, got %s", pfx, abbreviate(val)))
			continue
		}
		hosts := make([]netip.Addr, 0, len(items))
		bad := false
		for _, it := range items {
			var s string
			if err := json.Unmarshal(it, &s); err != nil {
				problems = append(problems, fmt.Sprintf("%s: host %s is not a string", pfx, abbreviate(it)))
				bad = true
				continue
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: host %q is not an IP address", pfx, s))
				bad = true
				continue
			}
			hosts = append(hosts, a)
		}
		if !bad {
			spec[pfx] = hosts
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSpecSyntax, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: something follows the object", ErrSpecSyntax)
	}
	if err := spec.validate(problems); err != nil {
		return nil, err
	}
	return spec, nil
}

func describeToken(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	case string:
		return fmt.Sprintf("the string %q", v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

func abbreviate(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

// parseCIDR returns the canonical prefix, or a problem naming the CIDR.
func parseCIDR(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Sprintf("%q is not a CIDR (want e.g. 10.55.0.0/16 or 2001:db8::/64)", s)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Sprintf("%q: write IPv4 destinations as IPv4", s)
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Sprintf("%q: a destination has no zone", s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Sprintf("%q has host bits set (did you mean %s?)", s, p.Masked())
	}
	return p, ""
}

// Validate checks a spec built in code (the config's inline routes, the
// command line), with the same rules and messages as ParseSpec.
func (s Spec) Validate() error { return s.validate(nil) }

func (s Spec) validate(problems []string) error {
	if len(s) > MaxSpecRoutes {
		problems = append(problems, fmt.Sprintf("%d destinations, more than a route table can hold (%d)", len(s), MaxSpecRoutes))
	}
	all := map[netip.Addr]bool{}
	for _, p := range s.Destinations() {
		if p != p.Masked() || !p.IsValid() {
			problems = append(problems, fmt.Sprintf("%s has host bits set (did you mean %s?)", p, p.Masked()))
		}
		hosts := s[p]
		if len(hosts) == 0 {
			problems = append(problems, fmt.Sprintf("%s: no hosts (list at least one host IP)", p))
		}
		if len(hosts) > MaxHostsPerCIDR {
			problems = append(problems, fmt.Sprintf("%s: %d hosts, at most %d", p, len(hosts), MaxHostsPerCIDR))
		}
		seen := map[netip.Addr]bool{}
		for _, h := range hosts {
			switch {
			case !h.IsValid():
				problems = append(problems, fmt.Sprintf("%s: an empty host", p))
			case h.Zone() != "":
				problems = append(problems, fmt.Sprintf("%s: host %s: a host address has no zone", p, h))
			case h.Is4In6():
				problems = append(problems, fmt.Sprintf("%s: host %s: write IPv4 hosts as IPv4 (%s)", p, h, h.Unmap()))
			case h.IsUnspecified() || h.IsMulticast():
				problems = append(problems, fmt.Sprintf("%s: host %s cannot be a route target", p, h))
			case seen[h]:
				problems = append(problems, fmt.Sprintf("%s: host %s is listed twice", p, h))
			}
			seen[h] = true
			all[h] = true
		}
	}
	if len(all) > MaxSpecHosts {
		problems = append(problems, fmt.Sprintf("%d distinct hosts, at most %d", len(all), MaxSpecHosts))
	}
	if len(problems) > 0 {
		return &SpecError{Problems: problems}
	}
	return nil
}

// Destinations returns the spec's CIDRs in a stable order (IPv4 first,
// then by address and length).
func (s Spec) Destinations() []netip.Prefix {
	out := slices.Collect(maps.Keys(s))
	slices.SortFunc(out, comparePrefix)
	return out
}

// Hosts returns every host of the spec once, sorted.
func (s Spec) Hosts() []netip.Addr {
	set := map[netip.Addr]bool{}
	for _, hs := range s {
		for _, h := range hs {
			set[h] = true
		}
	}
	out := slices.Collect(maps.Keys(set))
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Equal reports whether two specs list the same hosts, in the same order,
// for the same CIDRs.
func (s Spec) Equal(o Spec) bool {
	return maps.EqualFunc(s, o, slices.Equal)
}

// Clone returns a deep copy.
func (s Spec) Clone() Spec {
	out := make(Spec, len(s))
	for p, hs := range s {
		out[p] = slices.Clone(hs)
	}
	return out
}

// MarshalJSON writes vpc-router's format, CIDRs in a stable order.
func (s Spec) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, p := range s.Destinations() {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(p.String())
		b.Write(k)
		b.WriteByte(':')
		hosts := make([]string, len(s[p]))
		for j, h := range s[p] {
			hosts[j] = h.String()
		}
		v, err := json.Marshal(hosts)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func comparePrefix(a, b netip.Prefix) int {
	if a.Addr().Is4() != b.Addr().Is4() {
		if a.Addr().Is4() {
			return -1
		}
		return 1
	}
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}
