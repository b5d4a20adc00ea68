package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeCheck is a Checker whose verdict the test sets. hang makes it block
// until its deadline, like a service that accepts and never answers.
type fakeCheck struct {
	name string

	mu    sync.Mutex
	err   error
	hang  bool
	calls int
}

func (f *fakeCheck) Check(ctx context.Context) error {
	f.mu.Lock()
	f.calls++
	err, hang := f.err, f.hang
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (f *fakeCheck) String() string { return "fake " + f.name }

func (f *fakeCheck) set(err error, hang bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.hang = err, hang
}

func (f *fakeCheck) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// stubbornCheck ignores its context and blocks until released.
type stubbornCheck struct {
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func (s *stubbornCheck) Check(context.Context) error {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	<-s.release
	return nil
}

func (s *stubbornCheck) String() string { return "stubborn" }

func (s *stubbornCheck) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// recorder collects transitions with their time since the bubble started.
type recorder struct {
	t0 time.Time
	mu sync.Mutex
	ts []Transition
}

func (r *recorder) add(tr Transition) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ts = append(r.ts, tr)
}

type step struct {
	at       time.Duration
	from, to State
}

func (s step) String() string { return fmt.Sprintf("%v %v→%v", s.at, s.from, s.to) }

func (r *recorder) steps() []step {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []step
	for _, tr := range r.ts {
		out = append(out, step{tr.At.Sub(r.t0), tr.From, tr.To})
	}
	return out
}

func (r *recorder) assert(t *testing.T, want ...step) {
	t.Helper()
	got := r.steps()
	if len(got) != len(want) {
		t.Fatalf("transitions:\n got %v\nwant %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("transition %d: got %v, want %v\nall: %v", i, got[i], want[i], got)
		}
	}
}

// bubbleSpec is the timing of the issue: rise 3, fall 3, fast 500ms,
// interval 2s, timeout 1s.
func bubbleSpec(checks ...Checker) Spec {
	return Spec{
		Name: "voice", Interval: 2 * time.Second, FastInterval: 500 * time.Millisecond,
		Timeout: time.Second, Rise: 3, Fall: 3, Checks: checks,
	}
}

// startMonitor runs m in the bubble and returns a function that stops it
// and asserts Run returned nil.
func startMonitor(t *testing.T, spec Spec) (*Monitor, *recorder, func()) {
	t.Helper()
	rec := &recorder{t0: time.Now()}
	m := NewMonitor(spec, WithTransitions(rec.add), WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	return m, rec, func() {
		t.Helper()
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run returned %v, want nil", err)
		}
	}
}

// advanceTo moves the bubble's clock to t0+d and lets the monitor settle.
func advanceTo(rec *recorder, d time.Duration) {
	time.Sleep(time.Until(rec.t0.Add(d)))
	synctest.Wait()
}

const ms = time.Millisecond

func TestMonitorTiming(t *testing.T) {
	t.Run("a failing check withdraws after fall rounds and recovery takes rise rounds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			check := &fakeCheck{name: "a"}
			m, rec, stop := startMonitor(t, bubbleSpec(check))
			defer stop()

			// Rounds at 0, 0.5, 1.0 (fast) prove it; then every 2s: 3.0, 5.0…
			advanceTo(rec, 1500*ms)
			rec.assert(t, step{0, StateInit, StateRising}, step{1000 * ms, StateRising, StateUp})
			check.set(errors.New("refused"), false)
			// 3.0 falling, 3.5 still falling, 4.0 down: withdrawn 2.5s after breaking.
			advanceTo(rec, 4500*ms)
			check.set(nil, false)
			// Down is probed at the fast interval: the round at 4.5 still
			// failed, 5.0 rising, 5.5, 6.0 up — rise × fast_interval after
			// the fix.
			advanceTo(rec, 7*time.Second)
			rec.assert(t,
				step{0, StateInit, StateRising},
				step{1000 * ms, StateRising, StateUp},
				step{3000 * ms, StateUp, StateFalling},
				step{4000 * ms, StateFalling, StateDown},
				step{5000 * ms, StateDown, StateRising},
				step{6000 * ms, StateRising, StateUp},
			)
			if got := check.callCount(); got != 10 {
				t.Errorf("check ran %d times, want 10 (rounds at 0, .5, 1, 3, 3.5, 4, 4.5, 5, 5.5, 6s; the next is at 8s)", got)
			}
			if st := m.Status(); st.State != StateUp || !st.Healthy || st.Counters.Passes != 3 {
				t.Errorf("status = %+v, want up, healthy, 3 passes", st)
			}
		})
	})

	t.Run("a single failed round while up does not withdraw", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			check := &fakeCheck{name: "a"}
			_, rec, stop := startMonitor(t, bubbleSpec(check))
			defer stop()
			advanceTo(rec, 1500*ms)
			check.set(errors.New("blip"), false)
			advanceTo(rec, 3200*ms) // round at 3.0 fails
			check.set(nil, false)
			advanceTo(rec, 6*time.Second) // 3.5 passes, back to up
			rec.assert(t,
				step{0, StateInit, StateRising},
				step{1000 * ms, StateRising, StateUp},
				step{3000 * ms, StateUp, StateFalling},
				step{3500 * ms, StateFalling, StateUp},
			)
		})
	})

	t.Run("a hanging check fails at the timeout and rounds run back to back", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			check := &fakeCheck{name: "a"}
			m, rec, stop := startMonitor(t, bubbleSpec(check))
			defer stop()
			advanceTo(rec, 1500*ms)
			check.set(nil, true)
			// Rounds start 3.0, 4.0, 5.0 (the 1s timeout outlasts the 500ms
			// fast interval) and each ends 1s later: down at 6.0 =
			// interval phase + (fall-1)*timeout + timeout.
			advanceTo(rec, 6500*ms)
			rec.assert(t,
				step{0, StateInit, StateRising},
				step{1000 * ms, StateRising, StateUp},
				step{4000 * ms, StateUp, StateFalling},
				step{6000 * ms, StateFalling, StateDown},
			)
			st := m.Status()
			if len(st.Checks) != 1 || st.Checks[0].OK || !strings.Contains(st.Checks[0].Error, "timed out after 1s") {
				t.Errorf("check status = %+v, want a timeout error", st.Checks)
			}
			if st.Checks[0].Duration != time.Second {
				t.Errorf("check duration = %v, want 1s", st.Checks[0].Duration)
			}
		})
	})

	t.Run("a check that ignores its deadline fails and is not stacked up", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			stuck := &stubbornCheck{release: make(chan struct{})}
			m, rec, stop := startMonitor(t, bubbleSpec(stuck))
			defer stop()
			// Judged at timeout + grace = 1.5s; the rounds after it (down
			// probes at the fast interval) find it still running and fail
			// at once without starting another.
			advanceTo(rec, 2500*ms)
			st := m.Status()
			if st.State != StateDown || !strings.Contains(st.Reason, "previous run has not returned") {
				t.Errorf("status = %+v, want down, previous run not returned", st)
			}
			if got := stuck.callCount(); got != 1 {
				t.Errorf("started %d times, want 1", got)
			}
			close(stuck.release)
			advanceTo(rec, 3200*ms) // 3.0 runs it again and it passes
			rec.assert(t, step{1500 * ms, StateInit, StateDown}, step{3000 * ms, StateDown, StateRising})
			if got := stuck.callCount(); got != 2 {
				t.Errorf("started %d times, want 2", got)
			}
		})
	})

	t.Run("all checks must pass and run in parallel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			a, b := &fakeCheck{name: "a"}, &fakeCheck{name: "b"}
			b.set(nil, true) // hangs 1s
			c := &fakeCheck{name: "c"}
			c.set(nil, true)
			m, rec, stop := startMonitor(t, bubbleSpec(a, b, c))
			defer stop()
			// Two hanging checks in one round cost one timeout, not two.
			advanceTo(rec, 1500*ms)
			rec.assert(t, step{1000 * ms, StateInit, StateDown})
			st := m.Status()
			if !strings.Contains(st.Reason, "fake b: timed out") || !strings.Contains(st.Reason, "fake c: timed out") || strings.Contains(st.Reason, "fake a") {
				t.Errorf("reason = %q, want b and c named, not a", st.Reason)
			}
		})
	})
}

func TestMonitorMaintenance(t *testing.T) {
	t.Run("the maintenance file disables within one interval and its removal rises", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "maintenance-voice")
			check := &fakeCheck{name: "a"}
			spec := bubbleSpec(check)
			spec.MaintenanceFile = file
			m, rec, stop := startMonitor(t, spec)
			defer stop()
			advanceTo(rec, 1500*ms)
			if err := os.WriteFile(file, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			advanceTo(rec, 3500*ms)
			calls := check.callCount()
			st := m.Status()
			if st.State != StateDisabled || !st.Maintenance || st.Healthy {
				t.Errorf("status = %+v, want disabled by maintenance", st)
			}
			advanceTo(rec, 7500*ms) // 5.0 and 7.0 are disabled rounds
			if got := check.callCount(); got != calls {
				t.Errorf("checks ran %d times while disabled", got-calls)
			}
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
			advanceTo(rec, 10*time.Second) // 9.0 rising, 9.5, 10.0 up
			rec.assert(t,
				step{0, StateInit, StateRising},
				step{1000 * ms, StateRising, StateUp},
				step{3000 * ms, StateUp, StateDisabled},
				step{9000 * ms, StateDisabled, StateRising},
				step{10000 * ms, StateRising, StateUp},
			)
		})
	})

	t.Run("CheckNow after touching the file disables at once", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "maintenance-voice")
			spec := bubbleSpec(&fakeCheck{name: "a"})
			spec.MaintenanceFile = file
			m, rec, stop := startMonitor(t, spec)
			defer stop()
			advanceTo(rec, 1500*ms)
			if err := os.WriteFile(file, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			m.CheckNow()
			synctest.Wait()
			rec.assert(t,
				step{0, StateInit, StateRising},
				step{1000 * ms, StateRising, StateUp},
				step{1500 * ms, StateUp, StateDisabled},
			)
		})
	})

	t.Run("an unreadable maintenance path fails the round instead of disabling", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			notDir := filepath.Join(t.TempDir(), "plain")
			if err := os.WriteFile(notDir, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			spec := bubbleSpec(&fakeCheck{name: "a"})
			spec.MaintenanceFile = filepath.Join(notDir, "maintenance") // ENOTDIR
			m, rec, stop := startMonitor(t, spec)
			defer stop()
			advanceTo(rec, 100*ms)
			st := m.Status()
			if st.State != StateDown || st.Maintenance || !strings.Contains(st.Reason, "not a directory") {
				t.Errorf("status = %+v, want down with the stat error", st)
			}
		})
	})
}

func TestMonitorDrain(t *testing.T) {
	t.Run("drain disables at once and undrain comes back through rising", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			check := &fakeCheck{name: "a"}
			m, rec, stop := startMonitor(t, bubbleSpec(check))
			defer stop()
			advanceTo(rec, 1500*ms)
			m.SetDrained(true)
			synctest.Wait()
			if st := m.Status(); st.State != StateDisabled || !st.Drained || st.Reason != "drained" {
				t.Errorf("status = %+v, want disabled and drained", st)
			}
			advanceTo(rec, 4*time.Second)
			m.SetDrained(false)
			advanceTo(rec, 5*time.Second) // 4.0 rising, 4.5, 5.0 up
			rec.assert(t,
				step{0, StateInit, StateRising},
				step{1000 * ms, StateRising, StateUp},
				step{1500 * ms, StateUp, StateDisabled},
				step{4000 * ms, StateDisabled, StateRising},
				step{5000 * ms, StateRising, StateUp},
			)
			if st := m.Status(); st.Drained {
				t.Error("still drained")
			}
		})
	})

	t.Run("a drain set before Run starts disabled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			check := &fakeCheck{name: "a"}
			rec := &recorder{t0: time.Now()}
			m := NewMonitor(bubbleSpec(check), WithTransitions(rec.add), WithLogger(slog.New(slog.DiscardHandler)))
			m.SetDrained(true)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			advanceTo(rec, 3*time.Second)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			rec.assert(t, step{0, StateInit, StateDisabled})
			if check.callCount() != 0 {
				t.Errorf("checks ran %d times while drained", check.callCount())
			}
		})
	})
}

func TestMonitorRun(t *testing.T) {
	t.Run("cancelling during a round reports no transition", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			check := &fakeCheck{name: "a"}
			_, rec, stop := startMonitor(t, bubbleSpec(check))
			advanceTo(rec, 1500*ms)
			check.set(nil, true)
			advanceTo(rec, 3200*ms) // the round at 3.0 is hanging
			stop()
			rec.assert(t, step{0, StateInit, StateRising}, step{1000 * ms, StateRising, StateUp})
		})
	})

	t.Run("shutdown does not wait for a check that ignores its deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			stuck := &stubbornCheck{release: make(chan struct{})}
			defer close(stuck.release) // lets the abandoned goroutine end inside the bubble
			_, rec, stop := startMonitor(t, bubbleSpec(stuck))
			advanceTo(rec, 200*ms)
			stop()
			if waited := time.Since(rec.t0); waited != 200*ms {
				t.Errorf("Run returned at %v, want 200ms", waited)
			}
			rec.assert(t)
		})
	})

	t.Run("an invalid spec is an error naming the field", func(t *testing.T) {
		m := NewMonitor(Spec{Name: "voice"})
		err := m.Run(t.Context())
		if err == nil || !strings.Contains(err.Error(), "interval") {
			t.Errorf("Run = %v, want an interval error", err)
		}
	})

	t.Run("a second Run is refused", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m, _, stop := startMonitor(t, bubbleSpec(&fakeCheck{name: "a"}))
			defer stop()
			synctest.Wait()
			if err := m.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "already running") {
				t.Errorf("second Run = %v", err)
			}
		})
	})

	t.Run("a service without checks rises on its own", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			m, rec, stop := startMonitor(t, bubbleSpec())
			defer stop()
			advanceTo(rec, 1000*ms)
			if st := m.Status(); st.State != StateUp || len(st.Checks) != 0 {
				t.Errorf("status = %+v", st)
			}
		})
	})

	t.Run("status before Run is init and names the checks", func(t *testing.T) {
		m := NewMonitor(bubbleSpec(&fakeCheck{name: "a"}))
		st := m.Status()
		if st.State != StateInit || st.Healthy || st.Service != "voice" || len(st.Checks) != 1 || st.Checks[0].Check != "fake a" {
			t.Errorf("status = %+v", st)
		}
		b, err := json.Marshal(st)
		if err != nil || !strings.Contains(string(b), `"state":"init"`) || !strings.Contains(string(b), `"check":"fake a"`) {
			t.Errorf("json = %s, %v", b, err)
		}
		st.Checks[0].Check = "changed"
		if m.Status().Checks[0].Check != "fake a" {
			t.Error("Status shares its slice with the monitor")
		}
	})
}

func TestSpecValidate(t *testing.T) {
	good := bubbleSpec(&fakeCheck{name: "a"})
	tests := []struct {
		name   string
		mutate func(*Spec)
		want   string // substring of the error; "" means valid
	}{
		{"the example spec is valid", func(*Spec) {}, ""},
		{"a maintenance file with an absolute path is valid", func(s *Spec) { s.MaintenanceFile = "/etc/rsagent/m" }, ""},
		{"fast interval equal to interval is valid", func(s *Spec) { s.FastInterval = s.Interval }, ""},
		{"an empty name is refused", func(s *Spec) { s.Name = "" }, "name:"},
		{"a zero interval is refused", func(s *Spec) { s.Interval = 0 }, "interval:"},
		{"a zero fast interval is refused", func(s *Spec) { s.FastInterval = 0 }, "fast_interval:"},
		{"a fast interval longer than interval is refused", func(s *Spec) { s.FastInterval = 3 * time.Second }, "fast_interval:"},
		{"a zero timeout is refused", func(s *Spec) { s.Timeout = 0 }, "timeout:"},
		{"a timeout longer than interval is refused", func(s *Spec) { s.Timeout = 3 * time.Second }, "timeout:"},
		{"rise 0 is refused", func(s *Spec) { s.Rise = 0 }, "rise:"},
		{"fall 0 is refused", func(s *Spec) { s.Fall = 0 }, "fall:"},
		{"a nil checker is refused", func(s *Spec) { s.Checks = append(s.Checks, nil) }, "checks[1]:"},
		{"a relative maintenance file is refused", func(s *Spec) { s.MaintenanceFile = "maint" }, "maintenance_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			s.Checks = append([]Checker(nil), good.Checks...)
			tt.mutate(&s)
			err := s.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("Validate = %v, want an error starting %q", err, tt.want)
			}
		})
	}
}

func TestSpecWithDefaults(t *testing.T) {
	t.Run("an empty spec gets the documented defaults and validates", func(t *testing.T) {
		s := Spec{Name: "voice"}.WithDefaults()
		want := Spec{Name: "voice", Interval: 2 * time.Second, FastInterval: 500 * ms, Timeout: time.Second, Rise: 3, Fall: 3}
		if s.Interval != want.Interval || s.FastInterval != want.FastInterval || s.Timeout != want.Timeout || s.Rise != 3 || s.Fall != 3 {
			t.Errorf("got %+v, want %+v", s, want)
		}
		if err := s.Validate(); err != nil {
			t.Error(err)
		}
	})
	t.Run("a short interval caps the defaulted fast interval and timeout", func(t *testing.T) {
		s := Spec{Name: "voice", Interval: 300 * ms}.WithDefaults()
		if s.FastInterval != 300*ms || s.Timeout != 300*ms {
			t.Errorf("got fast %v timeout %v", s.FastInterval, s.Timeout)
		}
		if err := s.Validate(); err != nil {
			t.Error(err)
		}
	})
	t.Run("set values are kept", func(t *testing.T) {
		s := Spec{Name: "voice", Interval: 5 * time.Second, FastInterval: time.Second, Timeout: 4 * time.Second, Rise: 2, Fall: 5}.WithDefaults()
		if s.Interval != 5*time.Second || s.FastInterval != time.Second || s.Timeout != 4*time.Second || s.Rise != 2 || s.Fall != 5 {
			t.Errorf("got %+v", s)
		}
	})
}

func TestMonitorSetTiming(t *testing.T) {
	t.Run("new timing keeps an up service up and applies from the next round", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			check := &fakeCheck{name: "a"}
			m, rec, stop := startMonitor(t, bubbleSpec(check))
			defer stop()
			advanceTo(rec, 1500*ms) // up at 1.0
			// Kicks a round at once (1.5), then every 5 s: 6.5, 11.5.
			if err := m.SetTiming(Timing{Interval: 5 * time.Second, FastInterval: time.Second, Timeout: time.Second, Rise: 2, Fall: 1}); err != nil {
				t.Fatal(err)
			}
			advanceTo(rec, 6*time.Second)
			if got := check.callCount(); got != 4 {
				t.Errorf("check ran %d times by 6s, want 4 (0, .5, 1, and 1.5 for the change; the next is at 6.5)", got)
			}
			check.set(errors.New("refused"), false)
			advanceTo(rec, 7*time.Second) // fall 1: down at the 6.5 round
			rec.assert(t,
				step{0, StateInit, StateRising},
				step{1000 * ms, StateRising, StateUp},
				step{6500 * ms, StateUp, StateDown},
			)
		})
	})
	t.Run("invalid timing is refused and changes nothing", func(t *testing.T) {
		m := NewMonitor(bubbleSpec())
		err := m.SetTiming(Timing{Interval: time.Second, FastInterval: 2 * time.Second, Timeout: time.Second, Rise: 1, Fall: 0})
		if err == nil || !strings.Contains(err.Error(), "fast_interval: ") || !strings.Contains(err.Error(), "fall: ") {
			t.Fatalf("error %v, want both problems named", err)
		}
		if got := *m.timing.Load(); got != bubbleSpec().Timing() {
			t.Fatalf("timing %+v after a refused change", got)
		}
	})
}
