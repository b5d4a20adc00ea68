package bfd

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestJitterBounds(t *testing.T) {
	tests := []struct {
		name   string
		mult   uint8
		lo, hi float64
	}{
		{"multiplier 3 draws 75–100 % of the interval", 3, 0.75, 1.00},
		{"multiplier 1 draws 75–90 % of the interval", 1, 0.75, 0.90},
	}
	const n = 10000
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca, _ := cfgAB(100*time.Millisecond, 100*time.Millisecond, tc.mult)
			s := newEndpoint(t, ca, 1).s
			iv := 300 * time.Millisecond
			minSeen, maxSeen := 2.0, 0.0
			for range n {
				f := float64(s.jitter(iv)) / float64(iv)
				if f < tc.lo || f > tc.hi {
					t.Fatalf("jitter %.4f outside [%.2f, %.2f]", f, tc.lo, tc.hi)
				}
				minSeen, maxSeen = min(minSeen, f), max(maxSeen, f)
			}
			// Jitter must actually spread, or peers synchronise; the top
			// stops at the headroom kept for wake-up latency.
			top := tc.hi - float64(jitterHeadroom(time.Duration((tc.hi-tc.lo)*float64(iv)), iv))/float64(iv)
			if maxSeen > top {
				t.Fatalf("jitter reached %.4f, above the %.4f that leaves headroom", maxSeen, top)
			}
			if minSeen > tc.lo+0.01 || maxSeen < top-0.01 {
				t.Fatalf("jitter spans only [%.4f, %.4f] in %d draws", minSeen, maxSeen, n)
			}
		})
	}
}

// TestTransmitIntervalsStayInBounds measures 10,000 real transmissions of
// an Up session in virtual time, against a peer that sends on its own
// schedule.
func TestTransmitIntervalsStayInBounds(t *testing.T) {
	tests := []struct {
		name   string
		mult   uint8
		lo, hi time.Duration
	}{
		{"10,000 intervals at 10ms × 3 fall in 7.5–10ms", 3, 7500 * time.Microsecond, 10 * time.Millisecond},
		{"10,000 intervals at 10ms × 1 fall in 7.5–9ms", 1, 7500 * time.Microsecond, 9 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ca, _ := cfgAB(10*time.Millisecond, 10*time.Millisecond, tc.mult)
				a := newEndpoint(t, ca, 1)
				f, stop := upWithFakePeer(t, a, 10*time.Millisecond, 10*time.Millisecond, 3, 7*time.Millisecond)
				defer stop()
				a.inject(t, withFinal(f.packet()))
				time.Sleep(time.Second)
				from := time.Now()
				time.Sleep(10001 * tc.hi)
				waitIdle()
				iv := periodicIntervals(a.sentPackets(), from, time.Now())
				if len(iv) < 10000 {
					t.Fatalf("measured %d intervals, want ≥ 10000", len(iv))
				}
				assertWithin(t, iv, tc.lo, tc.hi)
				if st := a.s.snapshot(); st.State != StateUp || st.Transitions != 2 {
					t.Fatalf("session %s after %d transitions", st.State, st.Transitions)
				}
			})
		})
	}
}
