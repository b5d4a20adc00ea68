package health

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestNext(t *testing.T) {
	const rise, fall = 3, 3
	c := func(p, f int) Counters { return Counters{Passes: p, Failures: f} }
	tests := []struct {
		name       string
		from       State
		in         Counters
		result     Result
		rise, fall int
		want       State
		wantC      Counters
	}{
		// init
		{"init with a pass starts rising", StateInit, c(0, 0), ResultPass, rise, fall, StateRising, c(1, 0)},
		{"init with a pass and rise 1 is up at once", StateInit, c(0, 0), ResultPass, 1, fall, StateUp, c(1, 0)},
		{"init with a failure is down, nothing to protect", StateInit, c(0, 0), ResultFail, rise, fall, StateDown, c(0, 1)},
		{"init with a failure and fall 1 is down", StateInit, c(0, 0), ResultFail, rise, 1, StateDown, c(0, 1)},
		{"init with maintenance is disabled", StateInit, c(0, 0), ResultDisabled, rise, fall, StateDisabled, c(0, 0)},
		// rising
		{"rising with a pass below rise keeps rising", StateRising, c(1, 0), ResultPass, rise, fall, StateRising, c(2, 0)},
		{"rising with the rise-th pass is up", StateRising, c(2, 0), ResultPass, rise, fall, StateUp, c(3, 0)},
		{"rising with a failure is down again", StateRising, c(2, 0), ResultFail, rise, fall, StateDown, c(0, 1)},
		{"rising with maintenance is disabled", StateRising, c(2, 0), ResultDisabled, rise, fall, StateDisabled, c(0, 0)},
		// up
		{"up with a pass stays up and counts", StateUp, c(7, 0), ResultPass, rise, fall, StateUp, c(8, 0)},
		{"up with a failure starts falling", StateUp, c(7, 0), ResultFail, rise, fall, StateFalling, c(0, 1)},
		{"up with a failure and fall 1 is down at once", StateUp, c(7, 0), ResultFail, rise, 1, StateDown, c(0, 1)},
		{"up with maintenance is disabled", StateUp, c(7, 0), ResultDisabled, rise, fall, StateDisabled, c(0, 0)},
		// falling
		{"falling with a failure below fall keeps falling", StateFalling, c(0, 1), ResultFail, rise, fall, StateFalling, c(0, 2)},
		{"falling with the fall-th failure is down", StateFalling, c(0, 2), ResultFail, rise, fall, StateDown, c(0, 3)},
		{"falling with a pass is up again", StateFalling, c(0, 2), ResultPass, rise, fall, StateUp, c(1, 0)},
		{"falling with maintenance is disabled", StateFalling, c(0, 2), ResultDisabled, rise, fall, StateDisabled, c(0, 0)},
		// down
		{"down with a failure stays down and counts", StateDown, c(0, 4), ResultFail, rise, fall, StateDown, c(0, 5)},
		{"down with a pass starts rising", StateDown, c(0, 4), ResultPass, rise, fall, StateRising, c(1, 0)},
		{"down with a pass and rise 1 is up", StateDown, c(0, 4), ResultPass, 1, fall, StateUp, c(1, 0)},
		{"down with maintenance is disabled", StateDown, c(0, 4), ResultDisabled, rise, fall, StateDisabled, c(0, 0)},
		// disabled
		{"disabled while maintenance lasts stays disabled", StateDisabled, c(0, 0), ResultDisabled, rise, fall, StateDisabled, c(0, 0)},
		{"disabled after maintenance with a pass rises, not up", StateDisabled, c(0, 0), ResultPass, rise, fall, StateRising, c(1, 0)},
		{"disabled after maintenance with a pass and rise 1 is up", StateDisabled, c(0, 0), ResultPass, 1, fall, StateUp, c(1, 0)},
		{"disabled after maintenance with a failure is down", StateDisabled, c(0, 0), ResultFail, rise, fall, StateDown, c(0, 1)},
		// odd inputs
		{"rise 0 acts as rise 1", StateDown, c(0, 1), ResultPass, 0, fall, StateUp, c(1, 0)},
		{"fall 0 acts as fall 1", StateUp, c(1, 0), ResultFail, rise, 0, StateDown, c(0, 1)},
		{"an unknown result counts as a failure", StateUp, c(1, 0), Result(99), rise, 1, StateDown, c(0, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gotC := Next(tt.from, tt.in, tt.result, tt.rise, tt.fall)
			if got != tt.want || gotC != tt.wantC {
				t.Errorf("Next(%v, %+v, %v, %d, %d) = %v, %+v; want %v, %+v",
					tt.from, tt.in, tt.result, tt.rise, tt.fall, got, gotC, tt.want, tt.wantC)
			}
		})
	}
}

// The point of rise/fall: what is advertised changes only after rise
// consecutive passes or fall consecutive failures, whatever the pattern.
func TestNextHysteresis(t *testing.T) {
	for rise := 1; rise <= 4; rise++ {
		for fall := 1; fall <= 4; fall++ {
			t.Run(fmt.Sprintf("rise %d fall %d changes healthy only after a full run", rise, fall), func(t *testing.T) {
				// Every sequence of 10 results (pass/fail) is tried.
				for bits := range 1 << 10 {
					s, c := StateInit, Counters{}
					run, last := 0, Result(255)
					for i := range 10 {
						r := ResultPass
						if bits&(1<<i) != 0 {
							r = ResultFail
						}
						if r == last {
							run++
						} else {
							run, last = 1, r
						}
						was := s.Healthy()
						s, c = Next(s, c, r, rise, fall)
						switch {
						case !was && s.Healthy() && (r != ResultPass || run < rise):
							t.Fatalf("sequence %010b: became healthy at %d after %d passes", bits, i, run)
						case was && !s.Healthy() && (r != ResultFail || run < fall):
							t.Fatalf("sequence %010b: became unhealthy at %d after %d failures", bits, i, run)
						case r == ResultPass && run >= rise && !s.Healthy():
							t.Fatalf("sequence %010b: not healthy after %d passes", bits, run)
						case r == ResultFail && run >= fall && s.Healthy():
							t.Fatalf("sequence %010b: healthy after %d failures", bits, run)
						}
					}
				}
			})
		}
	}
}

func TestStateHealthy(t *testing.T) {
	want := map[State]bool{
		StateInit: false, StateRising: false, StateUp: true,
		StateFalling: true, StateDown: false, StateDisabled: false,
	}
	if len(want) != len(stateNames) {
		t.Fatalf("table covers %d states, there are %d", len(want), len(stateNames))
	}
	for s, h := range want {
		t.Run(fmt.Sprintf("%s is healthy=%v", s, h), func(t *testing.T) {
			if s.Healthy() != h {
				t.Errorf("%v.Healthy() = %v", s, s.Healthy())
			}
		})
	}
}

func TestStateText(t *testing.T) {
	t.Run("every state round-trips through JSON by name", func(t *testing.T) {
		for i := range stateNames {
			s := State(i)
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != `"`+s.String()+`"` {
				t.Errorf("json of %v = %s", s, b)
			}
			var back State
			if err := json.Unmarshal(b, &back); err != nil || back != s {
				t.Errorf("unmarshal %s = %v, %v", b, back, err)
			}
		}
	})
	t.Run("an unknown name is an error", func(t *testing.T) {
		var s State
		if err := s.UnmarshalText([]byte("sideways")); err == nil {
			t.Error("no error")
		}
	})
	t.Run("an unknown value prints its number", func(t *testing.T) {
		if got := State(42).String(); got != "state(42)" {
			t.Errorf("got %q", got)
		}
	})
}
