package bfd_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rsagent/rsagent/bfd"
)

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func slicesMax(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Max(ds)
}

// txRecorder timestamps every periodic (non-Final) packet a session sends.
type txRecorder struct {
	*net.UDPConn
	mu *sync.Mutex
	at *[]time.Time
}

func (r txRecorder) WriteTo(b []byte, a net.Addr) (int, error) {
	now := time.Now()
	if p, err := bfd.Unmarshal(b); err == nil && !p.Final && p.State == bfd.StateUp {
		r.mu.Lock()
		*r.at = append(*r.at, now)
		r.mu.Unlock()
	}
	return r.UDPConn.WriteTo(b, a)
}

// BenchmarkTxTimingUnderLoad runs two loopback sessions at 100ms × 3 for
// 60 s per load profile and reports the share of transmit intervals inside
// 75–100 % of the negotiated interval. Profiles: an otherwise idle process;
// one allocating goroutine per CPU busy half the time; one per CPU busy all
// the time (the Go scheduler then wakes timers only at its 10 ms preemption
// points, and the garbage collector runs constantly).
// RSAGENT_BENCH_TX_SECONDS shortens or lengthens each profile.
func BenchmarkTxTimingUnderLoad(b *testing.B) {
	profiles := []struct {
		name     string
		churners int
		duty     float64
	}{
		{"idle", 0, 0},
		{"half_busy_allocating_churn", runtime.GOMAXPROCS(0), 0.5},
		{"saturating_allocating_churn", runtime.GOMAXPROCS(0), 1},
	}
	for _, p := range profiles {
		b.Run(p.name, func(b *testing.B) {
			for range b.N {
				measureTxTiming(b, p.churners, p.duty)
			}
		})
	}
}

func benchDuration(b *testing.B) time.Duration {
	v := os.Getenv("RSAGENT_BENCH_TX_SECONDS")
	if v == "" {
		return 60 * time.Second
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("RSAGENT_BENCH_TX_SECONDS=%q: want a positive count", v)
	}
	return time.Duration(n) * time.Second
}

func measureTxTiming(b *testing.B, churners int, duty float64) {
	const iv = 100 * time.Millisecond
	duration := benchDuration(b)
	a4, b4 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")
	port := freeUDPPort(b)
	var mu sync.Mutex
	var sent []time.Time
	listen := func(network, address string) (net.PacketConn, error) {
		c, err := net.ListenPacket(network, address)
		if err != nil {
			return nil, err
		}
		return txRecorder{UDPConn: c.(*net.UDPConn), mu: &mu, at: &sent}, nil
	}
	ma := bfd.NewManager(bfd.ManagerConfig{Port: port, ListenAddrs: []netip.Addr{a4}, ListenPacket: listen})
	mb := bfd.NewManager(bfd.ManagerConfig{Port: port, ListenAddrs: []netip.Addr{b4}})
	cfg := bfd.SessionConfig{DesiredMinTx: iv, RequiredMinRx: iv, DetectMult: 3}
	ca, cb := cfg, cfg
	ca.Peer, ca.Local, cb.Peer, cb.Local = b4, a4, a4, b4
	if err := ma.AddSession(ca); err != nil {
		b.Fatal(err)
	}
	if err := mb.AddSession(cb); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = ma.Run(ctx) })
	wg.Go(func() { _ = mb.Run(ctx) })
	for range churners {
		wg.Go(func() { churn(ctx, duty) })
	}
	time.Sleep(duration) // the measurement window
	st, _ := ma.Session(b4)
	cancel()
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	var in, total int
	var worst time.Duration
	for i := 1; i < len(sent); i++ {
		d := sent[i].Sub(sent[i-1])
		total++
		if d >= iv*3/4 && d <= iv {
			in++
		} else if dev := max(iv*3/4-d, d-iv); dev > worst {
			worst = dev
		}
	}
	if total == 0 {
		b.Fatal("no intervals measured")
	}
	share := 100 * float64(in) / float64(total)
	b.ReportMetric(share, "%in-75-100")
	b.ReportMetric(float64(total), "intervals")
	b.Logf("goal: ≥ 99.9%% of intervals inside 75–100%%; measured: %.3f%% of %d with %d churning goroutines at %.0f%% duty (worst miss by %s; transitions %d)",
		share, total, churners, duty*100, worst.Round(time.Microsecond), st.Transitions)
}

// churn allocates until ctx ends, busy for duty of every 10 ms and asleep
// for the rest.
func churn(ctx context.Context, duty float64) {
	var sink [][]byte
	busy := time.Duration(duty * float64(10*time.Millisecond))
	for ctx.Err() == nil {
		until := time.Now().Add(busy)
		for time.Now().Before(until) {
			for range 64 {
				sink = append(sink, make([]byte, 4096))
				if len(sink) > 2048 {
					sink = sink[:0]
				}
			}
		}
		if duty < 1 {
			time.Sleep(10*time.Millisecond - busy)
		}
	}
}
