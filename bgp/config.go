package bgp

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"
)

// Defaults applied by New and SetPeers to zero-valued fields. They are the
// defaults of the agent's config too (docs/config.md), which uses these.
const (
	DefaultPort         = 179
	DefaultHoldTime     = 90 * time.Second
	DefaultConnectRetry = 2 * time.Second
	// DefaultDrainTimeout bounds the withdraw-and-wait of a Run whose
	// context ended without an explicit Shutdown.
	DefaultDrainTimeout = 2 * time.Second
	// SubscriberBuffer is the capacity of each Subscribe channel. When it
	// is full the oldest event is dropped so GoBGP is never blocked.
	SubscriberBuffer = 256
)

// idleHoldAfterReset is GoBGP's IdleHoldTimeAfterReset in seconds, the
// smallest value its API accepts (0 means "use the 30 s default"). After a
// reset the session is back in idle-hold (1 s) + first connect jitter (1–2 s).
const idleHoldAfterReset = 1

// Advertisement is one prefix the appliance announces.
type Advertisement struct {
	Prefix netip.Prefix // IPv4 or IPv6, canonical (host bits zero)
	// NextHop defaults to Config.LocalAddress (IPv4) or
	// Config.LocalAddressV6 (IPv6) when the zero Addr.
	NextHop netip.Addr
	MED     uint32
	// ASPathPrepend is the number of extra copies of our ASN; GoBGP adds
	// one more on eBGP export, so 2 makes the peer see [asn asn asn].
	ASPathPrepend uint8
}

// PeerConfig is one BGP neighbor. The speaker always initiates the session.
type PeerConfig struct {
	Address netip.Addr
	ASN     uint32
	Port    uint16 // 0 = 179
	// HoldTime is proposed in OPEN (0 = 90 s, else ≥ 3 s, whole seconds);
	// keepalive is a third of it.
	HoldTime time.Duration
	// ConnectRetry is the pause between failed connection attempts (0 =
	// 5 s, whole seconds). GoBGP waits a random 1–2× this value.
	ConnectRetry time.Duration
}

// Config configures a Speaker.
type Config struct {
	ASN      uint32
	RouterID netip.Addr // IPv4; default LocalAddress
	// LocalAddress is the session source address and the IPv4 next hop.
	LocalAddress netip.Addr
	// LocalAddressV6, when set, enables IPv6 unicast (MP-BGP over the IPv4
	// session) with this next hop.
	LocalAddressV6 netip.Addr
	// ListenPort 0 or -1 means do not listen: the speaker only initiates.
	ListenPort int32
	// GRPCListen is the GoBGP API address for the gobgp CLI; "" disables.
	GRPCListen string
	Peers      []PeerConfig
	Logger     *slog.Logger
}

func (c Config) normalized() (Config, error) {
	if c.ASN == 0 {
		return c, errors.New("asn: must be 1..4294967295")
	}
	if !c.LocalAddress.IsValid() {
		return c, errors.New("local_address: required")
	}
	c.LocalAddress = c.LocalAddress.Unmap()
	if !c.RouterID.IsValid() {
		c.RouterID = c.LocalAddress
	}
	c.RouterID = c.RouterID.Unmap()
	if !c.RouterID.Is4() {
		return c, fmt.Errorf("router_id: %s is not an IPv4 address (set router_id when local_address is IPv6)", c.RouterID)
	}
	if c.LocalAddressV6.IsValid() && (!c.LocalAddressV6.Is6() || c.LocalAddressV6.Is4In6()) {
		return c, fmt.Errorf("local_address_v6: %s is not an IPv6 address", c.LocalAddressV6)
	}
	switch {
	case c.ListenPort == 0:
		c.ListenPort = -1
	case c.ListenPort < -1 || c.ListenPort > 65535:
		return c, fmt.Errorf("listen_port: %d out of range", c.ListenPort)
	}
	peers, err := normalizePeers(c.Peers, c.LocalAddress)
	if err != nil {
		return c, err
	}
	c.Peers = peers
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

func normalizePeers(in []PeerConfig, local netip.Addr) ([]PeerConfig, error) {
	out := make([]PeerConfig, 0, len(in))
	seen := make(map[netip.Addr]bool, len(in))
	for i, p := range in {
		n, err := p.normalized(local)
		if err != nil {
			return nil, fmt.Errorf("peers[%d]: %w", i, err)
		}
		if seen[n.Address] {
			return nil, fmt.Errorf("peers[%d]: address %s listed twice", i, n.Address)
		}
		seen[n.Address] = true
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b PeerConfig) int { return a.Address.Compare(b.Address) })
	return out, nil
}

func (p PeerConfig) normalized(local netip.Addr) (PeerConfig, error) {
	if !p.Address.IsValid() {
		return p, errors.New("address: required")
	}
	p.Address = p.Address.Unmap()
	if p.Address.Is4() != local.Is4() {
		return p, fmt.Errorf("address: %s is not in the address family of local_address %s", p.Address, local)
	}
	if p.ASN == 0 {
		return p, errors.New("asn: must be 1..4294967295")
	}
	if p.Port == 0 {
		p.Port = DefaultPort
	}
	if p.HoldTime == 0 {
		p.HoldTime = DefaultHoldTime
	}
	if err := CheckHoldTime(p.HoldTime); err != nil {
		return p, fmt.Errorf("hold_time: %w", err)
	}
	if p.ConnectRetry == 0 {
		p.ConnectRetry = DefaultConnectRetry
	}
	if err := CheckConnectRetry(p.ConnectRetry); err != nil {
		return p, fmt.Errorf("connect_retry: %w", err)
	}
	return p, nil
}

// CheckHoldTime is the rule for a hold time we propose (RFC 4271 §4.2: 0
// or at least 3 s; GoBGP takes whole seconds). The agent's config uses it.
func CheckHoldTime(d time.Duration) error {
	if d < 3*time.Second || d%time.Second != 0 || d > 65535*time.Second {
		return fmt.Errorf("%s: must be whole seconds between 3s and 65535s (RFC 4271)", d)
	}
	return nil
}

// CheckConnectRetry is the rule for the pause between connection attempts
// (GoBGP takes whole seconds). The agent's config uses it.
func CheckConnectRetry(d time.Duration) error {
	if d < time.Second || d > time.Hour || d%time.Second != 0 {
		return fmt.Errorf("%s: must be whole seconds between 1s and 1h", d)
	}
	return nil
}

// normalizeAdvertisements validates a desired set and fills default next hops.
func normalizeAdvertisements(in []Advertisement, cfg Config) (map[netip.Prefix]Advertisement, error) {
	out := make(map[netip.Prefix]Advertisement, len(in))
	for i, a := range in {
		if !a.Prefix.IsValid() {
			return nil, fmt.Errorf("advertisement[%d]: invalid prefix", i)
		}
		if a.Prefix.Addr().Is4In6() {
			return nil, fmt.Errorf("advertisement[%d]: %s is an IPv4-mapped IPv6 prefix", i, a.Prefix)
		}
		if a.Prefix.Masked() != a.Prefix {
			return nil, fmt.Errorf("advertisement[%d]: %s has host bits set (did you mean %s?)", i, a.Prefix, a.Prefix.Masked())
		}
		v4 := a.Prefix.Addr().Is4()
		if !a.NextHop.IsValid() {
			if v4 {
				a.NextHop = cfg.LocalAddress
			} else {
				a.NextHop = cfg.LocalAddressV6
			}
		}
		if v4 && !a.NextHop.Is4() {
			return nil, fmt.Errorf("advertisement[%d]: %s needs an IPv4 next hop, got %s", i, a.Prefix, a.NextHop)
		}
		if !v4 {
			if !cfg.LocalAddressV6.IsValid() {
				return nil, fmt.Errorf("advertisement[%d]: %s is IPv6 but local_address_v6 is not set", i, a.Prefix)
			}
			if !a.NextHop.Is6() || a.NextHop.Is4In6() {
				return nil, fmt.Errorf("advertisement[%d]: %s needs an IPv6 next hop, got %s", i, a.Prefix, a.NextHop)
			}
		}
		if _, dup := out[a.Prefix]; dup {
			return nil, fmt.Errorf("advertisement[%d]: %s listed twice", i, a.Prefix)
		}
		out[a.Prefix] = a
	}
	return out, nil
}

// advDiff is what must change in GoBGP's global RIB to go from one set of
// advertisements to another.
type advDiff struct {
	put []Advertisement // new or changed: AddPath replaces implicitly
	del []netip.Prefix
}

func (d advDiff) empty() bool { return len(d.put) == 0 && len(d.del) == 0 }

func diffAdvertisements(have, want map[netip.Prefix]Advertisement) advDiff {
	var d advDiff
	for p, w := range want {
		if h, ok := have[p]; !ok || h != w {
			d.put = append(d.put, w)
		}
	}
	for p := range have {
		if _, ok := want[p]; !ok {
			d.del = append(d.del, p)
		}
	}
	slices.SortFunc(d.put, func(a, b Advertisement) int { return comparePrefix(a.Prefix, b.Prefix) })
	slices.SortFunc(d.del, comparePrefix)
	return d
}

// peerDiff is what must change in GoBGP's neighbor table.
type peerDiff struct {
	add, update []PeerConfig
	del         []netip.Addr
}

func (d peerDiff) empty() bool { return len(d.add) == 0 && len(d.update) == 0 && len(d.del) == 0 }

func diffPeers(have, want map[netip.Addr]PeerConfig) peerDiff {
	var d peerDiff
	for a, w := range want {
		h, ok := have[a]
		switch {
		case !ok:
			d.add = append(d.add, w)
		case h != w:
			d.update = append(d.update, w)
		}
	}
	for a := range have {
		if _, ok := want[a]; !ok {
			d.del = append(d.del, a)
		}
	}
	byAddr := func(a, b PeerConfig) int { return a.Address.Compare(b.Address) }
	slices.SortFunc(d.add, byAddr)
	slices.SortFunc(d.update, byAddr)
	slices.SortFunc(d.del, netip.Addr.Compare)
	return d
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}
