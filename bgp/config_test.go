package bgp

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

var (
	nh4 = netip.MustParseAddr("10.0.1.10")
	nh6 = netip.MustParseAddr("2001:db8::10")
)

func TestConfigValidation(t *testing.T) {
	good := func() Config {
		return Config{ASN: 65010, LocalAddress: nh4, Peers: []PeerConfig{{Address: netip.MustParseAddr("10.0.1.230"), ASN: 65000}}}
	}
	cases := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"a minimal config is valid", func(*Config) {}, ""},
		{"a zero ASN is rejected", func(c *Config) { c.ASN = 0 }, "asn"},
		{"a missing local address is rejected", func(c *Config) { c.LocalAddress = netip.Addr{} }, "local_address"},
		{"an IPv4 local_address_v6 is rejected", func(c *Config) { c.LocalAddressV6 = nh4 }, "local_address_v6"},
		{"an IPv6 router id is rejected", func(c *Config) { c.RouterID = nh6 }, "router_id"},
		{"a listen port above 65535 is rejected", func(c *Config) { c.ListenPort = 70000 }, "listen_port"},
		{"a peer without ASN is rejected", func(c *Config) { c.Peers[0].ASN = 0 }, "peers[0]: asn"},
		{"a sub-second hold time is rejected", func(c *Config) { c.Peers[0].HoldTime = 1500 * time.Millisecond }, "hold_time"},
		{"a hold time of 2s is rejected", func(c *Config) { c.Peers[0].HoldTime = 2 * time.Second }, "hold_time"},
		{"a fractional connect retry is rejected", func(c *Config) { c.Peers[0].ConnectRetry = 1500 * time.Millisecond }, "connect_retry"},
		{"an IPv6 peer on an IPv4 local address is rejected", func(c *Config) { c.Peers[0].Address = nh6 }, "address family"},
		{"a duplicate peer is rejected", func(c *Config) { c.Peers = append(c.Peers, c.Peers[0]) }, "listed twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(&c)
			_, err := New(c)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("New error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}

	t.Run("defaults fill router id, listen port and peer timers", func(t *testing.T) {
		n, err := good().normalized()
		if err != nil {
			t.Fatal(err)
		}
		p := n.Peers[0]
		if n.RouterID != nh4 || n.ListenPort != -1 || p.Port != 179 || p.HoldTime != 90*time.Second || p.ConnectRetry != DefaultConnectRetry {
			t.Errorf("normalized = %+v / %+v", n, p)
		}
	})
}

func TestNormalizeAdvertisements(t *testing.T) {
	cfg := Config{LocalAddress: nh4, LocalAddressV6: nh6}
	cases := []struct {
		name    string
		cfg     Config
		in      []Advertisement
		wantNH  netip.Addr
		wantErr string
	}{
		{"an IPv4 prefix defaults to local_address", cfg, []Advertisement{{Prefix: netip.MustParsePrefix("203.0.113.10/32")}}, nh4, ""},
		{"an IPv6 prefix defaults to local_address_v6", cfg, []Advertisement{{Prefix: netip.MustParsePrefix("2001:db8:1::/48")}}, nh6, ""},
		{"an IPv6 prefix without local_address_v6 is rejected", Config{LocalAddress: nh4}, []Advertisement{{Prefix: netip.MustParsePrefix("2001:db8:1::/48")}}, netip.Addr{}, "local_address_v6"},
		{"host bits are rejected", cfg, []Advertisement{{Prefix: netip.MustParsePrefix("203.0.113.10/24")}}, netip.Addr{}, "host bits"},
		{"an IPv6 next hop on an IPv4 prefix is rejected", cfg, []Advertisement{{Prefix: netip.MustParsePrefix("203.0.113.10/32"), NextHop: nh6}}, netip.Addr{}, "IPv4 next hop"},
		{"a duplicate prefix is rejected", cfg, []Advertisement{{Prefix: netip.MustParsePrefix("203.0.113.10/32")}, {Prefix: netip.MustParsePrefix("203.0.113.10/32"), MED: 5}}, netip.Addr{}, "twice"},
		{"an invalid prefix is rejected", cfg, []Advertisement{{}}, netip.Addr{}, "invalid prefix"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := normalizeAdvertisements(tc.in, tc.cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a := got[tc.in[0].Prefix]; a.NextHop != tc.wantNH {
				t.Errorf("next hop = %s, want %s", a.NextHop, tc.wantNH)
			}
		})
	}
}

func TestDiffAdvertisements(t *testing.T) {
	p1, p2, p3 := netip.MustParsePrefix("203.0.113.1/32"), netip.MustParsePrefix("203.0.113.2/32"), netip.MustParsePrefix("203.0.113.3/32")
	set := func(advs ...Advertisement) map[netip.Prefix]Advertisement {
		m := map[netip.Prefix]Advertisement{}
		for _, a := range advs {
			m[a.Prefix] = a
		}
		return m
	}
	cases := []struct {
		name      string
		have      map[netip.Prefix]Advertisement
		want      map[netip.Prefix]Advertisement
		wantPut   []netip.Prefix
		wantDel   []netip.Prefix
		wantEmpty bool
	}{
		{"an identical set changes nothing", set(Advertisement{Prefix: p1, MED: 5}), set(Advertisement{Prefix: p1, MED: 5}), nil, nil, true},
		{"a new prefix is put", set(), set(Advertisement{Prefix: p1}), []netip.Prefix{p1}, nil, false},
		{"a changed MED is put again", set(Advertisement{Prefix: p1}), set(Advertisement{Prefix: p1, MED: 1000}), []netip.Prefix{p1}, nil, false},
		{"a changed prepend is put again", set(Advertisement{Prefix: p1}), set(Advertisement{Prefix: p1, ASPathPrepend: 2}), []netip.Prefix{p1}, nil, false},
		{"a changed next hop is put again", set(Advertisement{Prefix: p1, NextHop: nh4}), set(Advertisement{Prefix: p1, NextHop: netip.MustParseAddr("10.0.1.11")}), []netip.Prefix{p1}, nil, false},
		{"a missing prefix is deleted", set(Advertisement{Prefix: p1}, Advertisement{Prefix: p2}), set(Advertisement{Prefix: p2}), nil, []netip.Prefix{p1}, false},
		{"a mixed change is sorted by prefix", set(Advertisement{Prefix: p3}, Advertisement{Prefix: p1}), set(Advertisement{Prefix: p2}, Advertisement{Prefix: p1, MED: 1}), []netip.Prefix{p1, p2}, []netip.Prefix{p3}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := diffAdvertisements(tc.have, tc.want)
			var put []netip.Prefix
			for _, a := range d.put {
				put = append(put, a.Prefix)
			}
			if !slices.Equal(put, tc.wantPut) || !slices.Equal(d.del, tc.wantDel) || d.empty() != tc.wantEmpty {
				t.Errorf("diff = put %v del %v, want put %v del %v", put, d.del, tc.wantPut, tc.wantDel)
			}
		})
	}
}

func TestDiffPeers(t *testing.T) {
	a, b, c := netip.MustParseAddr("10.0.1.230"), netip.MustParseAddr("10.0.2.230"), netip.MustParseAddr("10.0.3.230")
	pc := func(addr netip.Addr, hold time.Duration) PeerConfig {
		return PeerConfig{Address: addr, ASN: 65000, Port: 179, HoldTime: hold, ConnectRetry: 5 * time.Second}
	}
	set := func(ps ...PeerConfig) map[netip.Addr]PeerConfig {
		m := map[netip.Addr]PeerConfig{}
		for _, p := range ps {
			m[p.Address] = p
		}
		return m
	}
	addrs := func(ps []PeerConfig) []netip.Addr {
		var out []netip.Addr
		for _, p := range ps {
			out = append(out, p.Address)
		}
		return out
	}
	cases := []struct {
		name             string
		have, want       map[netip.Addr]PeerConfig
		add, update, del []netip.Addr
	}{
		{"an unchanged list touches nothing", set(pc(a, 90*time.Second)), set(pc(a, 90*time.Second)), nil, nil, nil},
		{"an added peer leaves the others alone", set(pc(a, 90*time.Second)), set(pc(a, 90*time.Second), pc(b, 90*time.Second)), []netip.Addr{b}, nil, nil},
		{"a removed peer is deleted", set(pc(a, 90*time.Second), pc(b, 90*time.Second)), set(pc(b, 90*time.Second)), nil, nil, []netip.Addr{a}},
		{"a changed hold time is an update", set(pc(a, 90*time.Second), pc(c, 90*time.Second)), set(pc(a, 30*time.Second), pc(c, 90*time.Second)), nil, []netip.Addr{a}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := diffPeers(tc.have, tc.want)
			if !slices.Equal(addrs(d.add), tc.add) || !slices.Equal(addrs(d.update), tc.update) || !slices.Equal(d.del, tc.del) {
				t.Errorf("diff = add %v update %v del %v, want %v %v %v", addrs(d.add), addrs(d.update), d.del, tc.add, tc.update, tc.del)
			}
		})
	}
}

func TestNativePathCarriesTheAttributes(t *testing.T) {
	const asn = 4200000001
	cases := []struct {
		name        string
		adv         Advertisement
		wantAS      []uint32
		wantMPReach bool
	}{
		{"no prepend gives an empty AS_PATH (GoBGP adds ours on export)", Advertisement{Prefix: netip.MustParsePrefix("203.0.113.10/32"), NextHop: nh4, MED: 10}, nil, false},
		{"prepend 2 gives two copies of our ASN", Advertisement{Prefix: netip.MustParsePrefix("203.0.113.10/32"), NextHop: nh4, ASPathPrepend: 2}, []uint32{asn, asn}, false},
		{"an IPv6 prefix uses MP_REACH_NLRI with the IPv6 next hop", Advertisement{Prefix: netip.MustParsePrefix("2001:db8:1::/48"), NextHop: nh6, MED: 3}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := nativePath(tc.adv, asn, time.Unix(1_700_000_000, 0))
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]bgp.Family{true: bgp.RF_IPv6_UC, false: bgp.RF_IPv4_UC}[tc.wantMPReach]; p.Family != want || p.Age != 1_700_000_000 {
				t.Errorf("family %s age %d, want %s and the given time (GoBGP needs both)", p.Family, p.Age, want)
			}
			attrs := p.Attrs
			var gotAS []uint32
			var origin, med, mp, nh bool
			for _, a := range attrs {
				switch a := a.(type) {
				case *bgp.PathAttributeOrigin:
					origin = a.Value == bgp.BGP_ORIGIN_ATTR_TYPE_IGP
				case *bgp.PathAttributeMultiExitDisc:
					med = a.Value == tc.adv.MED
				case *bgp.PathAttributeAsPath:
					for _, s := range a.Value {
						gotAS = append(gotAS, s.GetAS()...)
					}
				case *bgp.PathAttributeNextHop:
					nh = a.Value.String() == tc.adv.NextHop.String()
				case *bgp.PathAttributeMpReachNLRI:
					mp = a.Nexthop.String() == tc.adv.NextHop.String()
				}
			}
			if !origin || !med || !slices.Equal(gotAS, tc.wantAS) || mp != tc.wantMPReach || nh == tc.wantMPReach {
				t.Errorf("attrs %v: origin IGP %v, med %v, as path %v (want %v), mp_reach %v, next_hop %v", attrs, origin, med, gotAS, tc.wantAS, mp, nh)
			}
		})
	}
}

func TestSessionStartPrefersTheFreshestView(t *testing.T) {
	base := time.Date(2026, 1, 1, 12, 0, 10, 0, time.UTC)
	cases := []struct {
		name  string
		state string
		ours  time.Time
		want  time.Time
	}{
		{"our precise time is used when it matches GoBGP's second", StateEstablished, base.Add(300 * time.Millisecond), base.Add(300 * time.Millisecond)},
		{"a stale view of an older session falls back to the end of GoBGP's second", StateEstablished, base.Add(-5 * time.Second), base.Add(time.Second)},
		{"a view that has not seen Established yet falls back too", StateOpenConfirm, base.Add(-5 * time.Second), base.Add(time.Second)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := sessionStart(tc.state, tc.ours, base); !got.Equal(tc.want) {
				t.Errorf("sessionStart = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSubscribe(t *testing.T) {
	t.Run("a slow consumer loses the oldest events, never blocks", func(t *testing.T) {
		s := newTestSpeaker(t, nil)
		ch, cancel := s.Subscribe()
		defer cancel()
		total := SubscriberBuffer + 10
		// Before Run the subscription is queued for the owner; this test
		// plays the owner (nothing else runs).
		s.own.runQueued()
		for i := range total {
			s.own.publishEvent(PeerEvent{Reason: string(rune('a' + i%26)), At: time.Unix(int64(i), 0)})
		}
		if len(ch) != SubscriberBuffer {
			t.Fatalf("buffered %d events, want %d", len(ch), SubscriberBuffer)
		}
		if first := <-ch; first.At.Unix() != int64(total-SubscriberBuffer) {
			t.Errorf("oldest kept event is #%d, want #%d", first.At.Unix(), total-SubscriberBuffer)
		}
	})
	t.Run("cancel closes the channel once the owner runs it, and may be called twice", func(t *testing.T) {
		s := newTestSpeaker(t, nil)
		ch, cancel := s.Subscribe()
		cancel()
		cancel()
		// Before Run both are queued; this test plays the owner.
		s.own.runQueued()
		if _, ok := <-ch; ok {
			t.Error("channel still open after cancel")
		}
	})
	t.Run("shutdown before run closes subscriptions and makes Run return", func(t *testing.T) {
		s := newTestSpeaker(t, nil)
		ch, _ := s.Subscribe()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, ok := <-ch; ok {
			t.Error("channel still open after Shutdown")
		}
		if err := s.Run(context.Background()); err != nil {
			t.Errorf("Run after Shutdown = %v, want nil", err)
		}
		if err := s.Set([]Advertisement{{Prefix: netip.MustParsePrefix("203.0.113.1/32")}}); !errors.Is(err, ErrClosed) {
			t.Errorf("Set after Shutdown = %v, want ErrClosed", err)
		}
	})
}

func TestGoBGPLoggerAdapter(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	l, _ := gobgpLogger(base)
	l.Info("Add a peer configuration", slog.String("Topic", "Peer"), slog.String("Communicated-Reason", "x"))
	l.Warn("the received Update message was treated as withdraw", slog.String("Key", "10.0.1.230"))

	out := buf.String()
	for _, want := range []string{"level=DEBUG msg=\"Add a peer configuration\"", "communicated_reason=x", "topic=Peer",
		"component=gobgp", "level=WARN", "key=10.0.1.230"} {
		if !strings.Contains(out, want) {
			t.Errorf("log output lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	quiet, _ := gobgpLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	quiet.Info("routine chatter")
	if buf.Len() != 0 {
		t.Errorf("GoBGP's info chatter reached an info-level log: %s", buf.String())
	}
}

func TestDisconnectReasonsComeFromGoBGPsAPI(t *testing.T) {
	cases := []struct {
		name, msg, want string
	}{
		{"a NOTIFICATION we sent gives its code and subcode", "notification-sent " + bgp.NewNotificationErrorCode(1, 3).String(), "1/3"},
		{"a NOTIFICATION we received too", "notification-received " + bgp.NewNotificationErrorCode(6, 4).String(), "6/4"},
		{"a reason without NOTIFICATION gives none", "hold-timer-expired", ""},
		{"an unknown wording gives none rather than a guess", "notification-sent something else", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := notificationCode(tc.msg); got != tc.want {
				t.Errorf("notificationCode(%q) = %q, want %q", tc.msg, got, tc.want)
			}
		})
	}
	if got := disconnectCause(api.PeerState_DISCONNECT_REASON_NOTIFICATION_SENT); got != "notification_sent" {
		t.Errorf("disconnectCause = %q", got)
	}
}

func TestDropCausesAreOursOnlyForTheDropWeCaused(t *testing.T) {
	peer := netip.MustParseAddr("10.0.1.230")
	event := func(st bgp.FSMState, reason api.PeerState_DisconnectReason, msg string) peerEvent {
		return peerEvent{at: time.Now(), ev: &apiutil.WatchEventMessage_PeerEvent{Type: apiutil.PEER_EVENT_STATE,
			Peer: apiutil.Peer{State: apiutil.PeerState{NeighborAddress: peer, SessionState: st, DisconnectReason: reason, DisconnectMessage: msg}}}}
	}
	holdTimer := event(bgp.BGP_FSM_IDLE, api.PeerState_DISCONNECT_REASON_HOLD_TIMER_EXPIRED, "hold-timer-expired")
	cases := []struct {
		name      string
		from      bgp.FSMState
		ours      bool
		wantCause string
	}{
		{"our reset of an established session is ours", bgp.BGP_FSM_ESTABLISHED, true, "rsagent_reset"},
		{"GoBGP's reason when we did nothing", bgp.BGP_FSM_ESTABLISHED, false, "hold_timer_expired"},
		{"an action on a peer without a session leaves nothing behind", bgp.BGP_FSM_ACTIVE, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestSpeaker(t, nil, PeerConfig{Address: peer, ASN: 65000})
			o := s.own
			o.havePeers[peer] = o.wantPeers[peer]
			o.onPeerEvent(event(tc.from, 0, ""))
			if tc.ours {
				o.expectDrop(o.rt[peer], "reset: bfd down", "rsagent_reset")
			}
			o.onPeerEvent(holdTimer)
			var got string
			for k := range o.rt[peer].resets {
				got = k.cause
			}
			if got != tc.wantCause {
				t.Errorf("cause %q, want %q (resets %v)", got, tc.wantCause, o.rt[peer].resets)
			}
			// A later drop of a later session is GoBGP's again.
			o.onPeerEvent(event(bgp.BGP_FSM_ESTABLISHED, 0, ""))
			o.onPeerEvent(holdTimer)
			if o.rt[peer].resets[resetKey{"hold_timer_expired", ""}] == 0 {
				t.Errorf("a later drop was not GoBGP's: %v", o.rt[peer].resets)
			}
		})
	}
}
