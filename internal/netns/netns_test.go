package netns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRequireDecision(t *testing.T) {
	tests := []struct {
		name      string
		root      bool
		missing   []string
		env       string
		wantRun   bool
		wantFatal bool
		wantIn    string
	}{
		{name: "root with every binary runs", root: true, wantRun: true},
		{name: "root with every binary runs even when required", root: true, env: "1", wantRun: true},
		{name: "non-root skips", root: false, wantIn: "root"},
		{name: "non-root fails when interop is required", root: false, env: "1", wantFatal: true, wantIn: "root"},
		{name: "a missing binary skips and is named", root: true, missing: []string{"bird"}, wantIn: "bird"},
		{name: "a missing binary fails when interop is required", root: true, missing: []string{"bird", "vtysh"}, env: "1", wantFatal: true, wantIn: "bird, vtysh"},
		{name: "a value other than 1 still skips", root: true, missing: []string{"bird"}, env: "0", wantIn: "bird"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, fatal := requireDecision(tt.root, tt.missing, tt.env)
			if gotRun := reason == ""; gotRun != tt.wantRun {
				t.Fatalf("runs = %v (reason %q), want %v", gotRun, reason, tt.wantRun)
			}
			if !tt.wantRun && fatal != tt.wantFatal {
				t.Errorf("fatal = %v, want %v", fatal, tt.wantFatal)
			}
			if !strings.Contains(reason, tt.wantIn) {
				t.Errorf("reason %q does not mention %q", reason, tt.wantIn)
			}
		})
	}
}

func TestBinaryExistsFindsAbsoluteAndPathNames(t *testing.T) {
	if !binaryExists("sh") {
		t.Error("sh on PATH not found")
	}
	if !binaryExists("/bin/sh") {
		t.Error("/bin/sh not found")
	}
	if binaryExists("/nonexistent/rsagent-no-such-binary") || binaryExists("rsagent-no-such-binary") {
		t.Error("a missing binary was reported present")
	}
}

// netnsOf returns the inode of the calling thread's network namespace.
func netnsOf(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

func TestDoSocketsTalkAcrossTheVethAndTheRootNamespaceIsUnaffected(t *testing.T) {
	t.Parallel()
	Require(t, "ip")
	a, b := New(t), New(t)
	aPfx, bPfx := netip.MustParsePrefix("198.51.100.1/30"), netip.MustParsePrefix("198.51.100.2/30")
	Link(t, a, b, aPfx, bPfx)

	rootBefore, err := netnsOf("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inA uint64
	err = a.Do(func() error {
		var err error
		inA, err = netnsOf(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if inA == rootBefore {
		t.Fatal("Do ran fn in the root namespace")
	}

	bConn, err := b.ListenPacket("udp4", netip.AddrPortFrom(bPfx.Addr(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer bConn.Close()
	aConn, err := a.ListenPacket("udp4", netip.AddrPortFrom(aPfx.Addr(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer aConn.Close()

	// The same address cannot be bound in the root namespace: the veth
	// addresses exist only inside the test's namespaces.
	if c, err := net.ListenPacket("udp4", netip.AddrPortFrom(aPfx.Addr(), 0).String()); err == nil {
		c.Close()
		t.Error("198.51.100.1 is bindable in the root namespace; the socket was not created inside the namespace")
	}

	if !udpReaches(aConn, bConn, 5*time.Second) {
		t.Fatalf("no packet from %v in A reached %v in B", aConn.LocalAddr(), bConn.LocalAddr())
	}

	// Threads go back to the root namespace: many calls later, every thread
	// this goroutine can land on is still in the root namespace.
	for i := 0; i < 20; i++ {
		if err := a.Do(func() error { return nil }); err != nil {
			t.Fatal(err)
		}
		now, err := netnsOf(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
		if err != nil {
			t.Fatal(err)
		}
		if now != rootBefore {
			t.Fatalf("after Do, thread %d is in namespace %d, not the root %d", syscall.Gettid(), now, rootBefore)
		}
	}
}

func TestDoReturnsErrorsAndPanicsOfFn(t *testing.T) {
	t.Parallel()
	Require(t, "ip")
	n := New(t)
	sentinel := errors.New("boom")
	if err := n.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want %v", err, sentinel)
	}
	if err := n.Do(func() error { panic("oops") }); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("Do with a panicking fn returned %v, want an error naming the panic", err)
	}
}

func TestStartCapturesOutputAndCleanupRemovesEverything(t *testing.T) {
	t.Parallel()
	Require(t, "ip", "sleep", "sh")
	var name string
	var pid, escaped int
	t.Run("a namespace with a running process", func(t *testing.T) {
		n := New(t)
		name = n.Name
		p := n.Start(t, "sh", "-c", "echo hello from $0; exec sleep 600", "ns")
		pid = p.Pid()
		WaitFor(t, 5*time.Second, "output of sh", func() error {
			if !strings.Contains(p.Log(), "hello from ns") {
				return fmt.Errorf("log so far: %q", p.Log())
			}
			return nil
		})
		pids, err := n.Pids()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) != 1 || pids[0] != pid {
			t.Errorf("pids in namespace = %v, want [%d]", pids, pid)
		}
		// A daemon that escaped its Proc still dies with the namespace.
		out, err := n.Exec(context.Background(), "sh", "-c", "setsid sleep 600 >/dev/null 2>&1 & echo $!")
		if err != nil {
			t.Fatal(err)
		}
		if escaped, err = strconv.Atoi(strings.TrimSpace(string(out))); err != nil {
			t.Fatalf("pid of the escaped daemon: %v", err)
		}
		if err := p.Wait(100 * time.Millisecond); err == nil {
			t.Error("Wait returned nil for a running process")
		}
	})
	assertGone(t, name, pid, escaped)
}

// assertGone checks that a namespace and a process no longer exist.
func assertGone(t *testing.T, name string, pids ...int) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	if strings.Contains(string(out), name) {
		t.Errorf("namespace %s still listed:\n%s", name, out)
	}
	for _, pid := range pids {
		// The process may linger a moment as a zombie of init; it must not
		// be runnable.
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err == nil && !strings.Contains(string(st), ") Z ") {
			t.Errorf("process %d still alive: %s", pid, st)
		}
	}
}

func TestHTTPClientDialsInsideTheNamespace(t *testing.T) {
	t.Parallel()
	Require(t, "ip")
	a, b := New(t), New(t)
	bAddr := netip.MustParsePrefix("198.51.100.6/30")
	Link(t, a, b, netip.MustParsePrefix("198.51.100.5/30"), bAddr)
	l, err := b.Listen("tcp4", netip.AddrPortFrom(bAddr.Addr(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.RemoteAddr)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	resp, err := a.HTTPClient().Get("http://" + l.Addr().String() + "/")
	if err != nil {
		t.Fatalf("GET from namespace A: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "hello 198.51.100.5:") {
		t.Errorf("body %q, want a greeting to 198.51.100.5", body)
	}
	if _, err := (&http.Client{Timeout: time.Second}).Get("http://" + l.Addr().String() + "/"); err == nil {
		t.Error("the root namespace reached a server that lives only in namespace B")
	}
}

func TestDropAllBlocksTheLinkUntilUndrop(t *testing.T) {
	t.Parallel()
	Require(t, "ip", "nft")
	a, b := New(t), New(t)
	aIf, _ := Link(t, a, b, netip.MustParsePrefix("198.51.100.9/30"), netip.MustParsePrefix("198.51.100.10/30"))
	bConn, err := b.ListenPacket("udp4", "198.51.100.10:0")
	if err != nil {
		t.Fatal(err)
	}
	defer bConn.Close()
	aConn, err := a.ListenPacket("udp4", "198.51.100.9:0")
	if err != nil {
		t.Fatal(err)
	}
	defer aConn.Close()
	reachesWithin := func(d time.Duration) bool { return udpReaches(aConn, bConn, d) }
	if !reachesWithin(5 * time.Second) {
		t.Fatal("packets do not flow before DropAll")
	}
	a.DropAll(t, aIf)
	if reachesWithin(time.Second) {
		t.Fatal("a packet crossed the link after DropAll")
	}
	a.Undrop(t)
	if !reachesWithin(5 * time.Second) {
		t.Fatal("packets do not flow after Undrop")
	}
	a.DropAll(t, aIf)
	out, err := a.Exec(context.Background(), "nft", "list", "tables")
	if err != nil || !strings.Contains(string(out), dropTable) {
		t.Fatalf("drop table not listed after the second DropAll: %v %s", err, out)
	}
}

func TestProcSignalAndExitCode(t *testing.T) {
	t.Parallel()
	Require(t, "ip", "sh")
	n := New(t)
	p := n.Start(t, "sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done")
	WaitFor(t, 5*time.Second, "the shell to install its trap", func() error {
		if !strings.Contains(p.Log(), "ready") {
			return errors.New("not ready")
		}
		return nil
	})
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(5 * time.Second); err == nil {
		t.Fatal("Wait returned nil for exit status 7")
	}
	if got := p.ExitCode(); got != 7 {
		t.Errorf("exit code %d, want 7", got)
	}
}

// udpReaches sends a packet from "from" to "to" every 100 ms until one
// arrives or d passes: the first packets on a fresh veth can be lost while
// ARP settles on a loaded machine.
func udpReaches(from, to net.PacketConn, d time.Duration) bool {
	deadline := time.Now().Add(d)
	buf := make([]byte, 16)
	for time.Now().Before(deadline) {
		// With an nft output drop in place the send fails with EPERM.
		_, _ = from.WriteTo([]byte("ping"), to.LocalAddr())
		_ = to.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if n, src, err := to.ReadFrom(buf); err == nil && string(buf[:n]) == "ping" && src.String() == from.LocalAddr().String() {
			return true
		}
	}
	return false
}

func TestNewReapsWhatDeadTestProcessesLeft(t *testing.T) {
	Require(t, "ip", "sleep", "true")
	// A pid that surely does not run: a process that has exited and been
	// reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := dead.Process.Pid
	name := fmt.Sprintf("%s%d-leftover", NamePrefix, deadPid)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	daemon := exec.Command("ip", "netns", "exec", name, "sleep", "600")
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { _ = daemon.Wait(); close(waited) }()
	t.Cleanup(func() { _ = daemon.Process.Kill(); <-waited })
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("%sfrr-%d-leftover", NamePrefix, deadPid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	WaitFor(t, 5*time.Second, "the leftover daemon to be in its namespace", func() error {
		pids, err := (&NS{Name: name}).Pids()
		if err == nil && len(pids) == 0 {
			err = errors.New("no process yet")
		}
		return err
	})

	New(t)

	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Error("the leftover daemon still runs")
	}
	assertGone(t, name)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("leftover FRR directory %s still exists (%v)", dir, err)
	}
}
