package netns

import (
	"net/netip"
	"strings"
	"testing"
)

func TestFRRConfigGeneration(t *testing.T) {
	rs := netip.MustParseAddr("198.51.100.1")
	agent := netip.MustParseAddr("198.51.100.2")
	agent6 := netip.MustParseAddr("2001:db8:5::2")
	tests := []struct {
		name   string
		cfg    FRRConfig
		bgp    []string // lines that must appear in bgpd.conf, in order
		notBGP []string
		bfd    []string
		notBFD []string
	}{
		{
			name: "a passive BFD neighbor gets a profile with its timers and quick reconnects",
			cfg: FRRConfig{ASN: 65000, RouterID: rs, Neighbors: []FRRNeighbor{{
				Addr: agent, ASN: 65010, Passive: true, HoldTime: 9, BFD: true, BFDRxMs: 100, BFDTxMs: 150, BFDMult: 3,
			}}},
			bgp: []string{"router bgp 65000", " bgp router-id 198.51.100.1", " no bgp ebgp-requires-policy", " bgp log-neighbor-changes",
				" neighbor 198.51.100.2 remote-as 65010", " neighbor 198.51.100.2 passive", " neighbor 198.51.100.2 timers connect 1",
				" neighbor 198.51.100.2 timers 3 9", " neighbor 198.51.100.2 bfd", " neighbor 198.51.100.2 bfd profile rsa-n0",
				" address-family ipv4 unicast", "  neighbor 198.51.100.2 activate", " address-family ipv6 unicast"},
			bfd: []string{"bfd", " profile rsa-n0", "  receive-interval 100", "  transmit-interval 150", "  detect-multiplier 3"},
		},
		{
			name:   "a neighbor without BFD or passive gets neither, and an IPv6 one is activated in ipv6 only",
			cfg:    FRRConfig{ASN: 65000, Neighbors: []FRRNeighbor{{Addr: agent6, ASN: 65010}}},
			bgp:    []string{" neighbor 2001:db8:5::2 remote-as 65010", " address-family ipv6 unicast", "  neighbor 2001:db8:5::2 activate"},
			notBGP: []string{"passive", " bfd", "bgp router-id", "timers 3"},
			notBFD: []string{"profile"},
		},
		{
			name:   "ASN 0 means bfdd only: a static passive peer and no router bgp",
			cfg:    FRRConfig{BFDPeers: []FRRBFDPeer{{Peer: agent, Local: rs, Iface: "eth0", RxMs: 50, Passive: true}}},
			notBGP: []string{"router bgp"},
			bfd:    []string{"bfd", " peer 198.51.100.2 local-address 198.51.100.1 interface eth0", "  receive-interval 50", "  passive-mode"},
			notBFD: []string{"transmit-interval", "detect-multiplier"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertLinesInOrder(t, "bgpd.conf", frrBGPConfig(tt.cfg), tt.bgp, tt.notBGP)
			assertLinesInOrder(t, "bfdd.conf", frrBFDConfig(tt.cfg), tt.bfd, tt.notBFD)
		})
	}
}

func TestBIRDConfigGeneration(t *testing.T) {
	rs := netip.MustParseAddr("198.51.100.1")
	agent := netip.MustParseAddr("198.51.100.2")
	tests := []struct {
		name  string
		cfg   BIRDConfig
		want  []string
		never []string
	}{
		{
			name: "a BFD neighbor gets protocol bfd, bfd on, quick timers and strict bind",
			cfg: BIRDConfig{ASN: 65000, RouterID: rs, BFDInterface: "eth0", BFDIntervalMs: 100, BFDMult: 3,
				Neighbors: []BIRDNeighbor{{Addr: agent, LocalAddr: rs, ASN: 65010, Passive: true, BFD: true}}},
			want: []string{`timeformat log "%F %T.%6f";`, "router id 198.51.100.1;", "protocol bfd {", "  strict bind yes;",
				`  interface "eth0" { interval 100 ms; multiplier 3; };`, "protocol bgp bgp_198_51_100_2 {",
				"  local 198.51.100.1 as 65000;", "  strict bind yes;", "  neighbor 198.51.100.2 as 65010;", "  passive on;", "  bfd on;",
				"  connect delay time 1;", "  connect retry time 2;", "  error wait time 1,5;", "  ipv4 { import all; export none; };"},
		},
		{
			name:  "a plain neighbor has no BFD protocol and no strict bind",
			cfg:   BIRDConfig{ASN: 65000, Neighbors: []BIRDNeighbor{{Name: "rs1", Addr: agent, ASN: 65010, Export: "all"}}},
			want:  []string{"protocol bgp rs1 {", "  local as 65000;", "  ipv4 { import all; export all; };"},
			never: []string{"protocol bfd", "strict bind", "passive on", "bfd on"},
		},
		{
			name: "static BFD neighbors alone get a BFD protocol on every interface with the defaults",
			cfg:  BIRDConfig{BFDNeighbors: []netip.Addr{agent}},
			want: []string{"protocol bfd {", `  interface "*" { interval 100 ms; multiplier 3; };`, "  neighbor 198.51.100.2;", "}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertLinesInOrder(t, "bird.conf", birdConfig(tt.cfg, "/tmp/x/bird.log"), tt.want, tt.never)
		})
	}
}

// assertLinesInOrder checks that want appear as whole lines in text in this
// order, and that no line contains any of never.
func assertLinesInOrder(t *testing.T, what, text string, want, never []string) {
	t.Helper()
	lines := strings.Split(text, "\n")
	i := 0
	for _, w := range want {
		for i < len(lines) && lines[i] != w {
			i++
		}
		if i == len(lines) {
			t.Errorf("%s lacks line %q (in this order):\n%s", what, w, text)
			return
		}
	}
	for _, l := range lines {
		for _, n := range never {
			if strings.Contains(l, n) {
				t.Errorf("%s has %q in line %q", what, n, l)
			}
		}
	}
}

func FuzzParseBIRD(f *testing.F) {
	f.Add("Table master4:\n203.0.113.0/24       unicast [bgp_a 2026-11-22 05:03:54] * (100) [AS65000i]\n\tvia 198.51.100.1 on eth0\n\tBGP.as_path: 65000\n\tBGP.med: 5\n")
	f.Add("bfd1:\nIP address                Interface  State      Since         Interval  Timeout\n198.51.100.1              eth0       Up         2026-11-22 05:03:51    0.100    0.300\n")
	f.Add("  BGP state:          Established\n")
	f.Fuzz(func(t *testing.T, out string) {
		// The parsers must never panic, whatever BIRD prints.
		_, _ = parseBIRDRoutes(out)
		_, _ = parseBIRDBFDSessions(out)
		_, _ = parseBIRDProtocolState(out)
	})
}
