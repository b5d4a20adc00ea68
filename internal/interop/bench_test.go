package interop

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/netns"
)

// BenchmarkHealthFailToWithdrawal measures the time from the health target
// going away to FRR no longer having the prefix. Goal (issue 2):
// ≤ fall × interval + 50 ms.
func BenchmarkHealthFailToWithdrawal(b *testing.B) {
	netns.Require(b, netns.FRRBinaries()...)
	agentNS, peerNS, _, _ := linkAgentAndPeer(b)
	frr := netns.StartFRR(b, peerNS, netns.FRRConfig{
		ASN: peerASN, RouterID: peerAddr, ListenAddr: peerAddr,
		Neighbors: []netns.FRRNeighbor{{Addr: agentAddr, ASN: agentASN, Passive: true}},
	})
	peer := frrPeer{frr}
	target := newHealthTarget(b, agentNS, "127.0.0.1:5060")
	newHealthTarget(b, agentNS, "127.0.0.1:5061")
	startAgent(b, agentNS, speakerConfig)
	netns.WaitFor(b, 15*time.Second, "BGP Established", peer.Established)
	const runs = 5
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		for range runs {
			waitRoute(b, peer, voicePrefix, 15*time.Second, "voice announced", present)
			target.Stop()
			took = append(took, waitRoute(b, peer, voicePrefix, 10*time.Second, "voice withdrawn", absent))
			target.Start()
		}
	}
	b.StopTimer()
	slices.Sort(took)
	goal := fall*interval + 50*time.Millisecond
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
	b.Logf("health fail -> withdrawn at FRR over %d runs (interval %v, fast_interval %v, fall %d): median %v, max %v; goal <= %v",
		len(took), interval, fastInterval, fall, took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond), goal)
}

// BenchmarkAgentRSS measures the agent's resident memory with 2 peers (FRR
// and BIRD) and 100 announced prefixes. Goal (issues 2 and 9): ≤ 40 MB.
func BenchmarkAgentRSS(b *testing.B) {
	netns.Require(b, append(netns.FRRBinaries(), netns.BIRDBinaries()...)...)
	agentNS, peerNS, _, peerIf := linkAgentAndPeer(b)
	peer2 := netip.MustParseAddr("198.51.100.231")
	peerNS.AddAddr(b, peerIf, netip.PrefixFrom(peer2, 24))
	frr := netns.StartFRR(b, peerNS, netns.FRRConfig{
		ASN: peerASN, RouterID: peerAddr, ListenAddr: peerAddr,
		Neighbors: []netns.FRRNeighbor{{Addr: agentAddr, ASN: agentASN, Passive: true}},
	})
	netns.StartBIRD(b, peerNS, netns.BIRDConfig{
		ASN: peerASN, RouterID: peer2,
		Neighbors: []netns.BIRDNeighbor{{Addr: agentAddr, LocalAddr: peer2, ASN: agentASN, Passive: true}},
	})
	prefixes := hundredPrefixes()
	cfg := fmt.Sprintf(`
bgp:
  asn: %d
  local_address: %s
  peers:
    - {address: %s, asn: %d, bfd: {enabled: true}}
    - {address: %s, asn: %d, bfd: {enabled: true, passive: true}}
services:
  - name: bulk
    prefixes: [%s]
http:
  listen: %s
`, agentASN, agentAddr, peerAddr, peerASN, peer2, peerASN, strings.Join(prefixes, ", "), httpListen)
	a := startAgent(b, agentNS, cfg)
	netns.WaitFor(b, 20*time.Second, "100 prefixes at FRR", func() error {
		routes, err := frrPeer{frr}.Routes()
		if err == nil && len(routes) < 100 {
			err = fmt.Errorf("%d routes", len(routes))
		}
		return err
	})
	for range b.N {
		// Let the runtime settle, as on an appliance that has been up a while.
		time.Sleep(3 * time.Second)
	}
	rss := procStatus(b, a.proc.Pid())
	mb := func(k string) float64 { return float64(rss[k]) / (1 << 20) }
	b.ReportMetric(mb("VmRSS"), "rss-MB")
	b.Logf("agent RSS with 2 peers (FRR, BIRD) and 100 prefixes: %.1f MB (anonymous %.1f, file-backed %.1f); goal <= 40 MB (GoBGP v3.37: 27.2 MB)",
		mb("VmRSS"), mb("RssAnon"), mb("RssFile"))
}

// procStatus returns the byte-sized fields (VmRSS, RssAnon, RssFile, …) of
// /proc/PID/status.
func procStatus(b *testing.B, pid int) map[string]int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "kB" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			out[strings.TrimSuffix(f[0], ":")] = kb << 10
		}
	}
	if out["VmRSS"] == 0 {
		b.Fatal("no VmRSS")
	}
	return out
}

// BenchmarkBinarySize builds rsagent as `make build` does. Goal (issues 2
// and 9): ≤ 35 MB.
func BenchmarkBinarySize(b *testing.B) {
	out := filepath.Join(b.TempDir(), "rsagent")
	for range b.N {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "github.com/rsagent/rsagent/cmd/rsagent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build: %v\n%s", err, msg)
		}
	}
	st, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Size())/(1<<20), "MB")
	b.Logf("rsagent binary (-trimpath -s -w): %.1f MB; goal <= 35 MB (GoBGP v3.37: 25.0 MB)", float64(st.Size())/(1<<20))
}

// hundredPrefixes returns 100 /32s from the test ranges (never 192.0.2.0/24).
func hundredPrefixes() []string {
	var out []string
	for i := range 50 {
		out = append(out, fmt.Sprintf("203.0.113.%d/32", 100+i), fmt.Sprintf("198.51.100.%d/32", 100+i))
	}
	return out
}
