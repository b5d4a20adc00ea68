package netns

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BIRDBinaries returns the binaries StartBIRD needs; pass them to Require.
func BIRDBinaries() []string { return []string{"bird", "birdc"} }

// BIRDConfig describes one BIRD 2 instance.
type BIRDConfig struct {
	ASN       uint32
	RouterID  netip.Addr
	Neighbors []BIRDNeighbor
	// BFDInterface gets `protocol bfd { interface "IF" { … } }`; "" with a
	// BFD neighbor means every interface ("*").
	BFDInterface  string
	BFDIntervalMs int // 0 = 100
	BFDMult       int // 0 = 3
	// BFDNeighbors are static BFD sessions (`neighbor ADDR;` in protocol
	// bfd), for BFD tests without BGP.
	BFDNeighbors []netip.Addr
	// Extra is raw configuration appended at the end, for example
	// `protocol static s4 { ipv4; route 203.0.113.0/24 blackhole; }`.
	Extra string
}

// BIRDNeighbor is one `protocol bgp`.
type BIRDNeighbor struct {
	// Name of the protocol; "" = BIRDProtocolName(Addr).
	Name string
	Addr netip.Addr
	// LocalAddr, when set, becomes `local ADDR` with `strict bind yes`, so
	// two BIRDs (or BIRD and a speaker) can share a namespace.
	LocalAddr netip.Addr
	ASN       uint32
	Passive   bool
	BFD       bool
	// HoldTime in seconds; 0 keeps BIRD's default (240 s).
	HoldTime int
	// Export is the channel's export clause; "" = "none". For example
	// `where proto = "s4"` or "all".
	Export string
}

// BIRDProtocolName is the protocol name StartBIRD gives a neighbor with no
// Name: "bgp_" and the address with '.' and ':' replaced by '_'.
func BIRDProtocolName(addr netip.Addr) string {
	return "bgp_" + strings.NewReplacer(".", "_", ":", "_").Replace(addr.String())
}

// BIRD is a running BIRD instance in a namespace.
type BIRD struct {
	ns   *NS
	dir  string
	proc *Proc
}

// StartBIRD writes the configuration and runs `bird -f` inside ns until
// cleanup, then waits until birdc answers. Its socket and log live in a fresh
// short directory under os.TempDir() (unix socket paths are limited to 108
// bytes, and test temp dirs can be longer), removed at cleanup.
func StartBIRD(t testing.TB, ns *NS, cfg BIRDConfig) *BIRD {
	t.Helper()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%sbird-%d-", NamePrefix, os.Getpid()))
	if err != nil {
		t.Fatalf("BIRD state directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b := &BIRD{ns: ns, dir: dir}
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(birdConfig(cfg, b.logPath())), 0o644); err != nil {
		t.Fatalf("write BIRD config: %v", err)
	}
	b.proc = ns.Start(t, "bird", "-f", "-c", conf, "-s", b.socket(), "-P", filepath.Join(dir, "bird.pid"))
	WaitFor(t, 10*time.Second, "BIRD to answer birdc", func() error {
		if b.proc.Exited() {
			t.Fatalf("bird exited early: %v\n%s", b.proc.Wait(0), b.proc.Log())
		}
		_, err := b.Birdc("show status")
		return err
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("BIRD log (%s):\n%s", ns.Name, tail(b.Log(), 60))
		}
	})
	return b
}

func (b *BIRD) socket() string  { return filepath.Join(b.dir, "bird.ctl") }
func (b *BIRD) logPath() string { return filepath.Join(b.dir, "bird.log") }

func birdConfig(cfg BIRDConfig, logPath string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "log %q all;\n", logPath)
	s.WriteString("timeformat log \"%F %T.%6f\";\ntimeformat protocol iso long;\ntimeformat route iso long;\n")
	if cfg.RouterID.IsValid() {
		fmt.Fprintf(&s, "router id %s;\n", cfg.RouterID)
	}
	s.WriteString("protocol device { scan time 10; }\n")
	anyBFD, strict := false, false
	for _, n := range cfg.Neighbors {
		anyBFD = anyBFD || n.BFD
		strict = strict || n.LocalAddr.IsValid()
	}
	if anyBFD || cfg.BFDInterface != "" || len(cfg.BFDNeighbors) > 0 {
		iface := cfg.BFDInterface
		if iface == "" {
			iface = "*"
		}
		interval, mult := cfg.BFDIntervalMs, cfg.BFDMult
		if interval == 0 {
			interval = 100
		}
		if mult == 0 {
			mult = 3
		}
		s.WriteString("protocol bfd {\n")
		if strict {
			s.WriteString("  strict bind yes;\n")
		}
		fmt.Fprintf(&s, "  interface %q { interval %d ms; multiplier %d; };\n", iface, interval, mult)
		for _, n := range cfg.BFDNeighbors {
			fmt.Fprintf(&s, "  neighbor %s;\n", n)
		}
		s.WriteString("}\n")
	}
	for _, n := range cfg.Neighbors {
		name := n.Name
		if name == "" {
			name = BIRDProtocolName(n.Addr)
		}
		fmt.Fprintf(&s, "protocol bgp %s {\n", name)
		if n.LocalAddr.IsValid() {
			fmt.Fprintf(&s, "  local %s as %d;\n  strict bind yes;\n", n.LocalAddr, cfg.ASN)
		} else {
			fmt.Fprintf(&s, "  local as %d;\n", cfg.ASN)
		}
		fmt.Fprintf(&s, "  neighbor %s as %d;\n", n.Addr, n.ASN)
		if n.Passive {
			s.WriteString("  passive on;\n")
		}
		if n.BFD {
			s.WriteString("  bfd on;\n")
		}
		if n.HoldTime > 0 {
			fmt.Fprintf(&s, "  hold time %d;\n  keepalive time %d;\n", n.HoldTime, max(n.HoldTime/3, 1))
		}
		// Without these a BFD-caused drop keeps BGP idle for 60 s.
		s.WriteString("  connect delay time 1;\n  connect retry time 2;\n  error wait time 1,5;\n")
		s.WriteString("  debug { states, events };\n")
		export := n.Export
		if export == "" {
			export = "none"
		}
		afi := "ipv4"
		if n.Addr.Is6() {
			afi = "ipv6"
		}
		fmt.Fprintf(&s, "  %s { import all; export %s; };\n}\n", afi, export)
	}
	s.WriteString(cfg.Extra)
	s.WriteString("\n")
	return s.String()
}

// Dir is BIRD's state directory (config, socket, log).
func (b *BIRD) Dir() string { return b.dir }

// Birdc runs one birdc command against this instance and returns its output
// without the "BIRD x.y ready." banner.
func (b *BIRD) Birdc(cmd string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := b.ns.Exec(ctx, "birdc", append([]string{"-s", b.socket()}, strings.Fields(cmd)...)...)
	s := string(out)
	if err != nil {
		return s, err
	}
	if i := strings.Index(s, " ready.\n"); i >= 0 && strings.HasPrefix(s, "BIRD ") {
		s = s[i+len(" ready.\n"):]
	}
	return s, nil
}

// Log returns BIRD's log file.
func (b *BIRD) Log() string {
	data, err := os.ReadFile(b.logPath())
	if err != nil {
		return fmt.Sprintf("(reading BIRD log: %v)", err)
	}
	return string(data)
}

// ProtocolState returns the BGP state of a protocol ("Established", "Active",
// "Connect", "Idle", …) from `show protocols all NAME`.
func (b *BIRD) ProtocolState(name string) (string, error) {
	out, err := b.Birdc("show protocols all " + name)
	if err != nil {
		return "", err
	}
	return parseBIRDProtocolState(out)
}

// Routes returns the preferred route of every prefix in BIRD's tables, from
// `show route all`.
func (b *BIRD) Routes() (map[netip.Prefix]Route, error) {
	out, err := b.Birdc("show route all")
	if err != nil {
		return nil, err
	}
	return parseBIRDRoutes(out)
}

// BFDSessions returns BIRD's BFD sessions from `show bfd sessions`.
func (b *BIRD) BFDSessions() ([]BFDPeer, error) {
	out, err := b.Birdc("show bfd sessions")
	if err != nil {
		return nil, err
	}
	return parseBIRDBFDSessions(out)
}
