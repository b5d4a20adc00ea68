package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NamePrefix starts the name of every namespace this package creates, so a
// leak is easy to spot in `ip netns list`.
const NamePrefix = "rsa-"

// NS is a network namespace created by New and deleted when its test ends.
type NS struct {
	// Name is the namespace's name under /run/netns, usable with
	// `ip netns exec`, `ip -n` and `nft` run through Exec.
	Name string

	mu      sync.Mutex
	nextIf  int
	dropped bool
}

// New creates a namespace with a unique name (rsa-<pid>-<random>), brings up
// its loopback, and registers a cleanup that kills every process left in it
// and deletes it. Call Require first.
func New(t testing.TB) *NS {
	t.Helper()
	reapStale()
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("random namespace suffix: %v", err)
	}
	n := &NS{Name: fmt.Sprintf("%s%d-%s", NamePrefix, os.Getpid(), hex.EncodeToString(rnd[:]))}
	if out, err := exec.Command("ip", "netns", "add", n.Name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", n.Name, err, out)
	}
	t.Cleanup(func() {
		if err := n.destroy(); err != nil {
			t.Errorf("removing namespace %s: %v", n.Name, err)
		}
	})
	if out, err := n.Exec(context.Background(), "ip", "link", "set", "lo", "up"); err != nil {
		t.Fatalf("bring up lo in %s: %v: %s", n.Name, err, out)
	}
	return n
}

// reapStale removes what earlier test processes left behind when they died
// without running their cleanups (a `go test -timeout` panic, SIGKILL):
// namespaces named rsa-<pid>-… and FRR/BIRD state directories
// rsa-{frr,bird}-<pid>-… whose pid no longer runs. Errors are ignored; the
// next New tries again.
func reapStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			if pid, ok := stalePid(strings.TrimPrefix(f[0], NamePrefix), f[0]); ok && pid > 0 {
				_ = (&NS{Name: f[0]}).destroy()
			}
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), NamePrefix+"*-*-*"))
	for _, d := range dirs {
		base := filepath.Base(d)
		for _, kind := range []string{"frr-", "bird-"} {
			if rest, ok := strings.CutPrefix(base, NamePrefix+kind); ok {
				if _, stale := stalePid(rest, base); stale {
					os.RemoveAll(d)
				}
			}
		}
	}
}

// stalePid parses "<pid>-…" and reports whether that process is gone.
func stalePid(s, name string) (int, bool) {
	head, _, ok := strings.Cut(s, "-")
	if !ok || !strings.HasPrefix(name, NamePrefix) {
		return 0, false
	}
	pid, err := strconv.Atoi(head)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
		return pid, false
	}
	return pid, true
}

// destroy kills whatever still runs in the namespace (daemons that forked away
// from their Proc included), then deletes it.
func (n *NS) destroy() error {
	var errs []error
	pids, err := n.Pids()
	if err != nil {
		errs = append(errs, err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill %d: %w", pid, err))
		}
	}
	err = poll(5*time.Second, func() error {
		left, err := n.Pids()
		if err != nil {
			return err
		}
		if len(left) > 0 {
			return fmt.Errorf("processes still in namespace: %v", left)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		errs = append(errs, fmt.Errorf("ip netns del: %w: %s", err, bytes.TrimSpace(out)))
	}
	return errors.Join(errs...)
}

// Pids lists the processes whose network namespace is n. The test process
// itself is never listed: while Do runs on its main thread it would appear,
// and destroy must not kill it.
func (n *NS) Pids() ([]int, error) {
	out, err := exec.Command("ip", "netns", "pids", n.Name).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w: %s", n.Name, err, bytes.TrimSpace(out))
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("ip netns pids %s: unexpected %q", n.Name, f)
		}
		if pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func (n *NS) newIfName() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	name := fmt.Sprintf("eth%d", n.nextIf)
	n.nextIf++
	return name
}

// Link joins a and b with a veth pair created directly inside them (so no
// name ever exists in the root namespace and parallel tests cannot collide),
// assigns aAddr to a's end and bAddr to b's end, and brings both up. The
// interfaces are named eth0, eth1, … in the order each namespace gets them.
// IPv6 addresses skip duplicate address detection so they are usable at once.
func Link(t testing.TB, a, b *NS, aAddr, bAddr netip.Prefix) (aIf, bIf string) {
	t.Helper()
	if a == b {
		t.Fatalf("netns.Link: both ends in %s", a.Name)
	}
	aIf, bIf = a.newIfName(), b.newIfName()
	ctx := context.Background()
	if out, err := a.Exec(ctx, "ip", "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Name); err != nil {
		t.Fatalf("create veth %s/%s <-> %s/%s: %v: %s", a.Name, aIf, b.Name, bIf, err, out)
	}
	for _, end := range []struct {
		ns     *NS
		ifName string
		addr   netip.Prefix
	}{{a, aIf, aAddr}, {b, bIf, bAddr}} {
		args := []string{"addr", "add", end.addr.String(), "dev", end.ifName}
		if end.addr.Addr().Is6() {
			args = append(args, "nodad")
		}
		if out, err := end.ns.Exec(ctx, "ip", args...); err != nil {
			t.Fatalf("address %s on %s/%s: %v: %s", end.addr, end.ns.Name, end.ifName, err, out)
		}
		if out, err := end.ns.Exec(ctx, "ip", "link", "set", end.ifName, "up"); err != nil {
			t.Fatalf("bring up %s/%s: %v: %s", end.ns.Name, end.ifName, err, out)
		}
	}
	// The kernel attaches a veth's queue only when linkwatch sees carrier,
	// up to a second later; until then sent packets vanish, which would make
	// a test's first BFD or UDP packet disappear.
	for _, end := range []struct {
		ns     *NS
		ifName string
	}{{a, aIf}, {b, bIf}} {
		err := poll(5*time.Second, func() error {
			out, err := end.ns.Exec(ctx, "ip", "-o", "link", "show", "dev", end.ifName)
			if err != nil {
				return err
			}
			if !strings.Contains(string(out), "state UP") || strings.Contains(string(out), "qdisc noop") {
				return fmt.Errorf("%s/%s not up yet: %s", end.ns.Name, end.ifName, bytes.TrimSpace(out))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("link %s/%s: %v", end.ns.Name, end.ifName, err)
		}
	}
	return aIf, bIf
}

// AddAddr adds another address to an interface inside n (for example a second
// IPv6 address on a link made by Link).
func (n *NS) AddAddr(t testing.TB, iface string, addr netip.Prefix) {
	t.Helper()
	args := []string{"addr", "add", addr.String(), "dev", iface}
	if addr.Addr().Is6() {
		args = append(args, "nodad")
	}
	if out, err := n.Exec(context.Background(), "ip", args...); err != nil {
		t.Fatalf("address %s on %s/%s: %v: %s", addr, n.Name, iface, err, out)
	}
}

// Exec runs a command inside the namespace (`ip netns exec`) and returns its
// combined stdout and stderr. The error names the command and includes the
// output.
func (n *NS) Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s in netns %s: %w: %s", name, strings.Join(args, " "), n.Name, err, bytes.TrimSpace(out))
	}
	return out, nil
}

func (n *NS) execStdin(ctx context.Context, stdin string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s in netns %s: %w: %s", name, strings.Join(args, " "), n.Name, err, bytes.TrimSpace(out))
	}
	return out, nil
}

// dropTable is the nft table DropAll creates; deleting it undoes every drop.
const dropTable = "rsagent_drop"

// DropAll makes iface inside n drop every IP packet in both directions with
// nft (this kernel has no netem, and `ip link set down` would end BGP at once
// instead of exercising BFD timers). Call it again for more interfaces. The
// rules are removed by Undrop and at cleanup.
func (n *NS) DropAll(t testing.TB, iface string) {
	t.Helper()
	q := strconv.Quote(iface)
	script := strings.Join([]string{
		"add table inet " + dropTable,
		"add chain inet " + dropTable + " in { type filter hook input priority 0 ; }",
		"add chain inet " + dropTable + " out { type filter hook output priority 0 ; }",
		"add rule inet " + dropTable + " in iifname " + q + " drop",
		"add rule inet " + dropTable + " out oifname " + q + " drop",
	}, "\n") + "\n"
	if out, err := n.execStdin(context.Background(), script, "nft", "-f", "-"); err != nil {
		t.Fatalf("drop all on %s/%s: %v: %s", n.Name, iface, err, out)
	}
	n.dropCleanup(t)
}

// DropTCPPort makes n drop every TCP segment to or from port (e.g. 179: the
// BGP session freezes while BFD and everything else still flow). Undrop and
// cleanup remove it, as for DropAll.
func (n *NS) DropTCPPort(t testing.TB, port int) {
	t.Helper()
	p := strconv.Itoa(port)
	script := strings.Join([]string{
		"add table inet " + dropTable,
		"add chain inet " + dropTable + " in { type filter hook input priority 0 ; }",
		"add chain inet " + dropTable + " out { type filter hook output priority 0 ; }",
		"add rule inet " + dropTable + " in tcp sport " + p + " drop",
		"add rule inet " + dropTable + " in tcp dport " + p + " drop",
		"add rule inet " + dropTable + " out tcp sport " + p + " drop",
		"add rule inet " + dropTable + " out tcp dport " + p + " drop",
	}, "\n") + "\n"
	if out, err := n.execStdin(context.Background(), script, "nft", "-f", "-"); err != nil {
		t.Fatalf("drop tcp port %d in %s: %v: %s", port, n.Name, err, out)
	}
	n.dropCleanup(t)
}

// dropCleanup registers, once per namespace, the removal of the drop rules.
func (n *NS) dropCleanup(t testing.TB) {
	n.mu.Lock()
	first := !n.dropped
	n.dropped = true
	n.mu.Unlock()
	if first {
		t.Cleanup(func() {
			if err := n.undrop(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}
}

// Undrop removes every drop rule DropAll installed in n.
func (n *NS) Undrop(t testing.TB) {
	t.Helper()
	if err := n.undrop(); err != nil {
		t.Fatal(err)
	}
}

func (n *NS) undrop() error {
	ctx := context.Background()
	if _, err := n.Exec(ctx, "nft", "list", "table", "inet", dropTable); err != nil {
		return nil // nothing to remove
	}
	if _, err := n.Exec(ctx, "nft", "delete", "table", "inet", dropTable); err != nil {
		return fmt.Errorf("remove drop rules in %s: %w", n.Name, err)
	}
	return nil
}
