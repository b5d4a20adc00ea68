package netns

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FRRBinDir is where Debian's frr package installs zebra, bgpd and bfdd.
const FRRBinDir = "/usr/lib/frr"

// FRRBinaries returns the binaries StartFRR needs; pass them to Require.
func FRRBinaries() []string {
	return []string{FRRBinDir + "/zebra", FRRBinDir + "/bgpd", FRRBinDir + "/bfdd", "vtysh"}
}

// FRRConfig describes one FRR instance (zebra + bfdd + bgpd).
type FRRConfig struct {
	ASN        uint32 // 0 = no `router bgp` (bfdd peers only)
	RouterID   netip.Addr
	ListenAddr netip.Addr // bgpd -l; invalid = every address
	Neighbors  []FRRNeighbor
	BFDPeers   []FRRBFDPeer
	// BGPExtra is added inside `router bgp` (for example network statements).
	BGPExtra string
	// Extra is raw bgpd configuration appended after `router bgp`.
	Extra string
}

// FRRNeighbor is one `neighbor` in `router bgp`. It is activated in the
// address family of its address only.
type FRRNeighbor struct {
	Addr    netip.Addr
	ASN     uint32
	Passive bool // never connect; wait for the peer (what a route server is to rsagent: the agent initiates)
	// HoldTime in seconds; 0 keeps FRR's default (180 s, keepalive 60 s).
	HoldTime int
	BFD      bool
	// BFD timers for this neighbor's profile; zero values mean 300 ms × 3.
	BFDRxMs, BFDTxMs, BFDMult int
	BFDPassive                bool
}

// FRRBFDPeer is a static bfdd peer, independent of BGP.
type FRRBFDPeer struct {
	Peer, Local netip.Addr
	Iface       string
	RxMs, TxMs  int // 0 = FRR default (300)
	Mult        int // 0 = FRR default (3)
	Passive     bool
}

// FRR is a running FRR instance in a namespace.
type FRR struct {
	ns    *NS
	dir   string
	procs []*Proc
}

// StartFRR writes the configuration, starts zebra, bfdd and bgpd in the
// foreground inside ns (so the harness owns their lifetime), and waits until
// vtysh reaches all three. Their state directory is a fresh directory under
// os.TempDir() owned by the frr user (the daemons drop privileges to it, and
// t.TempDir() is not traversable by other users); it is removed at cleanup.
func StartFRR(t testing.TB, ns *NS, cfg FRRConfig) *FRR {
	t.Helper()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%sfrr-%d-", NamePrefix, os.Getpid()))
	if err != nil {
		t.Fatalf("FRR state directory: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &FRR{ns: ns, dir: dir}
	confs := map[string]string{
		"zebra.conf": f.header("zebra"),
		"bfdd.conf":  f.header("bfdd") + "debug bfd peer\n!\n" + frrBFDConfig(cfg),
		"bgpd.conf":  f.header("bgpd") + "debug bgp neighbor-events\ndebug bgp bfd\n!\n" + frrBGPConfig(cfg),
	}
	for name, text := range confs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "frr.log"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chown", "-R", "frr:frr", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown FRR directory: %v: %s", err, out)
	}
	common := func(daemon string) []string {
		return []string{
			"--vty_socket", dir, "-z", filepath.Join(dir, "zserv.api"),
			"-f", filepath.Join(dir, daemon+".conf"), "-i", filepath.Join(dir, daemon+".pid"),
			"-A", "127.0.0.1",
		}
	}
	f.procs = append(f.procs, ns.Start(t, FRRBinDir+"/zebra", common("zebra")...))
	WaitFor(t, 10*time.Second, "zebra's zserv socket", func() error {
		_, err := os.Stat(filepath.Join(dir, "zserv.api"))
		return err
	})
	f.procs = append(f.procs, ns.Start(t, FRRBinDir+"/bfdd", append(common("bfdd"), "--bfdctl", filepath.Join(dir, "bfdd.sock"))...))
	bgpArgs := common("bgpd")
	if cfg.ListenAddr.IsValid() {
		bgpArgs = append(bgpArgs, "-l", cfg.ListenAddr.String())
	}
	f.procs = append(f.procs, ns.Start(t, FRRBinDir+"/bgpd", bgpArgs...))
	WaitFor(t, 15*time.Second, "FRR daemons to answer vtysh", func() error {
		for _, p := range f.procs {
			if p.Exited() {
				t.Fatalf("FRR daemon exited early: %v\n%s\nFRR log:\n%s", p.Wait(0), p.Log(), tail(f.Log(), 30))
			}
		}
		for _, d := range []string{"zebra", "bfdd", "bgpd"} {
			if _, err := os.Stat(filepath.Join(dir, d+".vty")); err != nil {
				return err
			}
		}
		out, err := f.Vtysh("show daemons")
		if err != nil {
			return err
		}
		for _, d := range []string{"zebra", "bfdd", "bgpd"} {
			if !strings.Contains(out, d) {
				return fmt.Errorf("vtysh does not reach %s yet: %q", d, out)
			}
		}
		return nil
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FRR log (%s):\n%s", ns.Name, tail(f.Log(), 60))
		}
	})
	return f
}

func (f *FRR) header(daemon string) string {
	return fmt.Sprintf("hostname %s-%s\nlog file %s debugging\nlog timestamp precision 6\n!\n",
		f.ns.Name, daemon, filepath.Join(f.dir, "frr.log"))
}

func frrBFDConfig(cfg FRRConfig) string {
	var b strings.Builder
	b.WriteString("bfd\n")
	timers := func(indent string, rx, tx, mult int, passive bool) {
		if rx > 0 {
			fmt.Fprintf(&b, "%sreceive-interval %d\n", indent, rx)
		}
		if tx > 0 {
			fmt.Fprintf(&b, "%stransmit-interval %d\n", indent, tx)
		}
		if mult > 0 {
			fmt.Fprintf(&b, "%sdetect-multiplier %d\n", indent, mult)
		}
		if passive {
			fmt.Fprintf(&b, "%spassive-mode\n", indent)
		}
	}
	for i, n := range cfg.Neighbors {
		if !n.BFD {
			continue
		}
		fmt.Fprintf(&b, " profile %s\n", frrProfileName(i))
		timers("  ", n.BFDRxMs, n.BFDTxMs, n.BFDMult, n.BFDPassive)
		b.WriteString(" exit\n !\n")
	}
	for _, p := range cfg.BFDPeers {
		fmt.Fprintf(&b, " peer %s", p.Peer)
		if p.Local.IsValid() {
			fmt.Fprintf(&b, " local-address %s", p.Local)
		}
		if p.Iface != "" {
			fmt.Fprintf(&b, " interface %s", p.Iface)
		}
		b.WriteString("\n")
		timers("  ", p.RxMs, p.TxMs, p.Mult, p.Passive)
		b.WriteString(" exit\n !\n")
	}
	b.WriteString("exit\n!\n")
	return b.String()
}

func frrProfileName(i int) string { return fmt.Sprintf("rsa-n%d", i) }

func frrBGPConfig(cfg FRRConfig) string {
	var b strings.Builder
	if cfg.ASN == 0 { // bfdd only, for BFD tests without BGP
		b.WriteString(cfg.Extra)
		return b.String()
	}
	fmt.Fprintf(&b, "router bgp %d\n", cfg.ASN)
	if cfg.RouterID.IsValid() {
		fmt.Fprintf(&b, " bgp router-id %s\n", cfg.RouterID)
	}
	b.WriteString(" no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n bgp log-neighbor-changes\n no bgp network import-check\n")
	for i, n := range cfg.Neighbors {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n", n.Addr, n.ASN)
		if n.Passive {
			fmt.Fprintf(&b, " neighbor %s passive\n", n.Addr)
		}
		fmt.Fprintf(&b, " neighbor %s timers connect 1\n", n.Addr)
		fmt.Fprintf(&b, " neighbor %s advertisement-interval 0\n", n.Addr)
		if n.HoldTime > 0 {
			fmt.Fprintf(&b, " neighbor %s timers %d %d\n", n.Addr, max(n.HoldTime/3, 1), n.HoldTime)
		}
		if n.BFD {
			fmt.Fprintf(&b, " neighbor %s bfd\n", n.Addr)
			fmt.Fprintf(&b, " neighbor %s bfd profile %s\n", n.Addr, frrProfileName(i))
		}
	}
	if cfg.BGPExtra != "" {
		b.WriteString(cfg.BGPExtra)
		if !strings.HasSuffix(cfg.BGPExtra, "\n") {
			b.WriteString("\n")
		}
	}
	for _, afi := range []struct {
		name string
		v6   bool
	}{{"ipv4", false}, {"ipv6", true}} {
		fmt.Fprintf(&b, " address-family %s unicast\n", afi.name)
		for _, n := range cfg.Neighbors {
			if n.Addr.Is6() == afi.v6 {
				fmt.Fprintf(&b, "  neighbor %s activate\n", n.Addr)
			}
		}
		b.WriteString(" exit-address-family\n")
	}
	b.WriteString("exit\n!\n")
	b.WriteString(cfg.Extra)
	return b.String()
}

// Dir is the FRR state directory (configs, sockets, frr.log).
func (f *FRR) Dir() string { return f.dir }

// Vtysh runs vtysh -c for each command against this instance.
func (f *FRR) Vtysh(cmds ...string) (string, error) {
	args := []string{"--vty_socket", f.dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := f.ns.Exec(ctx, "vtysh", args...)
	return string(out), err
}

// Log returns FRR's log file (all three daemons, debugging level).
func (f *FRR) Log() string {
	b, err := os.ReadFile(filepath.Join(f.dir, "frr.log"))
	if err != nil {
		return fmt.Sprintf("(reading FRR log: %v)", err)
	}
	return string(b)
}

// NeighborState returns bgpd's state for a neighbor: "Established", "Active",
// "Connect", "Idle", "OpenSent", …
func (f *FRR) NeighborState(peer netip.Addr) (string, error) {
	out, err := f.Vtysh("show bgp neighbors " + peer.String() + " json")
	if err != nil {
		return "", err
	}
	return parseFRRNeighborState(out, peer)
}

func parseFRRNeighborState(out string, peer netip.Addr) (string, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		return "", fmt.Errorf("parse show bgp neighbors json: %w", err)
	}
	raw, ok := doc[peer.String()]
	if !ok {
		return "", fmt.Errorf("FRR has no neighbor %s: %s", peer, strings.TrimSpace(out))
	}
	var n struct {
		BGPState string `json:"bgpState"`
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("parse neighbor %s: %w", peer, err)
	}
	return n.BGPState, nil
}
