package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rsagent/rsagent/agent"
	"github.com/rsagent/rsagent/internal/loophost"
	"github.com/rsagent/rsagent/internal/netns"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTwoRouterProcessesAgree runs two `rsagent router` processes with the
// same spec against one emulated VPC at once, as two HA members would. They
// write at most twice what is needed (both may see the same empty table),
// and once converged they write nothing more: they choose alike, where
// vpc-router's random choice flapped. The same holds for a failover.
func TestTwoRouterProcessesAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the rsagent binary twice")
	}
	bin := netns.RsagentBinary(t)
	vpc := vpcsim.NewVPC(testVPC, netip.MustParsePrefix("10.0.0.0/16"))
	tables := []string{vpc.MainTableID(), vpc.AddRouteTable(), vpc.AddRouteTable(), vpc.AddRouteTable()}
	a, b := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")
	port, closeA := hostListeners(t, a, b)
	eniA, eniB := vpc.AddNetworkInterface(a), vpc.AddNetworkInterface(b)
	var dsts []netip.Prefix
	var spec []string
	for i := range 5 {
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i * 32)}), 27)
		dsts = append(dsts, dst)
		first, second := a, b
		if i%2 == 1 {
			first, second = b, a
		}
		spec = append(spec, fmt.Sprintf("%q: [%q, %q]", dst, first, second))
	}
	specFile := writeFile(t, "spec.json", "{"+strings.Join(spec, ", ")+"}")
	srv := vpcsim.NewServer(vpc, vpcsim.Options{})
	url, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	env := os.Environ()
	for k, v := range vpcsim.OfflineAWSEnv() {
		env = append(env, k+"="+v)
	}
	type proc struct {
		addr string
		cmd  *exec.Cmd
		out  *lockedBuffer
	}
	var procs []*proc
	for range 2 {
		p := &proc{addr: freeAddr(t), out: &lockedBuffer{}}
		p.cmd = exec.Command(bin, "router", "-f", specFile, "-r", "us-east-1", "-v", testVPC, "--endpoint", url,
			"--tcp-port", fmt.Sprint(port), "--check-interval", "200ms", "--failed-hold", "1s", "--interval", "1s", "--listen", p.addr)
		p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = env, p.out, p.out
		procs = append(procs, p)
	}
	for _, p := range procs { // at once
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, p := range procs {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- p.cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("router %s: %v", p.addr, err)
				}
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				t.Errorf("router %s did not stop on SIGTERM", p.addr)
			}
			if t.Failed() {
				t.Logf("router %s log:\n%s", p.addr, p.out.String())
			}
		}
	})
	passes := func(p *proc) uint64 {
		resp, err := http.Get("http://" + p.addr + "/status")
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		var st agent.Status
		if json.NewDecoder(resp.Body).Decode(&st) != nil || st.Router == nil {
			return 0
		}
		return st.Router.Passes
	}
	// more waits until each router has finished n more passes.
	more := func(n uint64) {
		t.Helper()
		for _, p := range procs {
			start := passes(p)
			deadline := time.Now().Add(15 * time.Second)
			for passes(p) < start+n {
				if time.Now().After(deadline) {
					t.Fatalf("router %s made no %d passes in 15s", p.addr, n)
				}
				time.Sleep(50 * time.Millisecond) // polling interval
			}
		}
	}
	// settle lets a pass each router had in flight finish: the other
	// router's writes of the same burst may land after the tables look
	// converged, and belong to the count.
	settle := func() { more(1) }
	// quiet says how many writes the routers made over three more passes
	// each.
	quiet := func() int {
		t.Helper()
		before := len(srv.Mutations())
		more(3)
		return len(srv.Mutations()) - before
	}
	converge := func(want func(dst netip.Prefix) string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			gen := vpc.Generation()
			ok := true
			for _, id := range tables {
				tbl, _ := vpc.Table(id)
				for _, dst := range dsts {
					if r, found := tbl.Route(dst); !found || r.NetworkInterface != want(dst) {
						ok = false
					}
				}
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the tables did not converge in 20s")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			_, _ = vpc.WaitGeneration(ctx, gen)
			cancel()
		}
	}

	firstChoice := func(dst netip.Prefix) string {
		if dst.Addr().As4()[3]/32%2 == 1 {
			return eniB
		}
		return eniA
	}
	converge(firstChoice)
	settle()
	needed := len(tables) * len(dsts)
	writes := len(srv.Mutations())
	t.Logf("initial programming: %d writes by two routers, %d needed", writes, needed)
	if writes > 2*needed {
		t.Errorf("%d writes, more than twice the %d needed", writes, needed)
	}
	if n := quiet(); n != 0 {
		t.Fatalf("converged, yet %d more writes: the routers disagree", n)
	}

	before := len(srv.Mutations())
	closeA()
	converge(func(netip.Prefix) string { return eniB })
	settle()
	neededFailover := len(tables) * 3 // the destinations that were on A
	writes = len(srv.Mutations()) - before
	t.Logf("failover: %d writes by two routers, %d needed", writes, neededFailover)
	if writes > 2*neededFailover {
		t.Errorf("%d writes, more than twice the %d needed", writes, neededFailover)
	}
	if n := quiet(); n != 0 {
		t.Fatalf("after the failover, %d more writes: the routers disagree", n)
	}
}

// hostListeners opens a TCP listener on the same port of every address
// (the hosts' "sshd"); closeFirst closes the first one.
func hostListeners(t *testing.T, addrs ...netip.Addr) (port int, closeFirst func()) {
	t.Helper()
	p, err := loophost.StablePort("tcp", addrs...)
	if err != nil {
		t.Fatal(err)
	}
	var ls []*loophost.Listener
	for _, a := range addrs {
		l, err := loophost.Open(netip.AddrPortFrom(a, p))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		ls = append(ls, l)
	}
	return int(p), ls[0].Close
}
