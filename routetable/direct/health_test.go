package direct

import (
	"testing"
	"time"
)

func TestHostStateObserve(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	p := HealthParams{Fall: 2, FailedHold: 10 * time.Second}
	pass := func(s int) Observation { return Observation{At: at(s), OK: true} }
	fail := func(s int) Observation { return Observation{At: at(s), Err: "refused"} }
	type step struct {
		o                 Observation
		status            HostStatus
		healthy, eligible bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"a passing host is healthy and eligible", []step{
			{pass(0), HostHealthy, true, true},
		}},
		{"one failure short of fall keeps the host as a target but not a new choice", []step{
			{pass(0), HostHealthy, true, true},
			{fail(1), HostFailing, true, false},
			{pass(2), HostHealthy, true, true},
		}},
		{"fall failures in a row fail the host", []step{
			{pass(0), HostHealthy, true, true},
			{fail(1), HostFailing, true, false},
			{fail(2), HostFailed, false, false},
		}},
		{"a host failing from its first round fails after fall rounds too", []step{
			{fail(0), HostFailing, true, false},
			{fail(1), HostFailed, false, false},
		}},
		{"a failed host is held for failed_hold after its last failure, then eligible again", []step{
			{fail(0), HostFailing, true, false},
			{fail(1), HostFailed, false, false},
			{pass(2), HostHeld, false, false},
			{pass(10), HostHeld, false, false},
			{pass(11), HostHealthy, true, true},
		}},
		{"every failure while failed restarts the hold", []step{
			{fail(0), HostFailing, true, false},
			{fail(1), HostFailed, false, false},
			{fail(8), HostFailed, false, false},
			{pass(12), HostHeld, false, false},
			{pass(18), HostHealthy, true, true},
		}},
		{"an immediate failure (BFD down) fails the host at once", []step{
			{pass(0), HostHealthy, true, true},
			{Observation{At: at(1), Err: "bfd down", Immediate: true}, HostFailed, false, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h HostState
			if h.Status() != HostUnknown || h.Healthy() || h.Eligible() {
				t.Fatalf("zero state %v: want unknown, neither healthy nor eligible", h.Status())
			}
			for i, s := range tc.steps {
				before := h.Status()
				h = h.Observe(s.o, p)
				if h.Status() != s.status || h.Healthy() != s.healthy || h.Eligible() != s.eligible {
					t.Fatalf("step %d (ok=%v at %s): status %s healthy %v eligible %v, want %s %v %v",
						i, s.o.OK, s.o.At.Sub(t0), h.Status(), h.Healthy(), h.Eligible(), s.status, s.healthy, s.eligible)
				}
				if (h.Status() != before) != h.Since.Equal(s.o.At) && i > 0 {
					t.Errorf("step %d: Since %s, status %s -> %s", i, h.Since.Sub(t0), before, h.Status())
				}
				if !s.o.OK && h.LastError != s.o.Err {
					t.Errorf("step %d: LastError %q", i, h.LastError)
				}
			}
		})
	}
	t.Run("fall below 1 counts as 1", func(t *testing.T) {
		h := HostState{}.Observe(fail(0), HealthParams{})
		if h.Status() != HostFailed {
			t.Fatalf("status %s", h.Status())
		}
	})
}
