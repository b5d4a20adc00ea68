package health

import "fmt"

// State is where a service stands in the rise/fall state machine. The names
// are ExaBGP healthcheck's, so operators who know it read /status unchanged.
type State uint8

// The states. The zero value is StateInit: nothing is known yet.
const (
	// StateInit is the state before the first round: not advertised.
	StateInit State = iota
	// StateRising counts passing rounds towards up; still not advertised.
	StateRising
	// StateUp is proven healthy: advertised.
	StateUp
	// StateFalling counts failing rounds towards down; still advertised.
	StateFalling
	// StateDown is proven unhealthy: not advertised.
	StateDown
	// StateDisabled is set by the maintenance file or a drain: not advertised.
	StateDisabled
)

var stateNames = [...]string{
	StateInit:     "init",
	StateRising:   "rising",
	StateUp:       "up",
	StateFalling:  "falling",
	StateDown:     "down",
	StateDisabled: "disabled",
}

// String returns the lower-case name used in logs, metrics and /status.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText lets State appear by name in JSON and YAML.
func (s State) MarshalText() ([]byte, error) {
	if int(s) >= len(stateNames) {
		return nil, fmt.Errorf("marshal health state: unknown value %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText is the inverse of MarshalText.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("unmarshal health state: unknown name %q", b)
}

// Healthy reports whether a service in this state should be advertised as
// healthy. Up and falling are: falling is the hysteresis that keeps a route
// in place until fall consecutive rounds have failed, as ExaBGP keeps its
// "up" announcement while FALLING. Init, rising, down and disabled are not:
// a service is never advertised before rise rounds have proven it.
func (s State) Healthy() bool {
	return s == StateUp || s == StateFalling
}

// Result is the verdict of one round.
type Result uint8

// The results of a round.
const (
	// ResultPass means every check passed.
	ResultPass Result = iota
	// ResultFail means at least one check failed.
	ResultFail
	// ResultDisabled means the maintenance file exists or the service is
	// drained; checks were not run.
	ResultDisabled
)

// String names the result for logs.
func (r Result) String() string {
	switch r {
	case ResultPass:
		return "pass"
	case ResultFail:
		return "fail"
	case ResultDisabled:
		return "disabled"
	}
	return fmt.Sprintf("result(%d)", uint8(r))
}

// Counters are the consecutive passing and failing rounds. At most one of
// them is non-zero: a pass resets Failures, a failure resets Passes, and a
// disabled round resets both.
type Counters struct {
	Passes   int `json:"passes"`
	Failures int `json:"failures"`
}

// Next is the whole state machine: it folds one round's result into the
// state. It is pure so that every transition is table-tested.
//
// The labels differ from ExaBGP's in two places so that Healthy is a function
// of the state alone; the advertisement sequence is the same as ExaBGP's
// (which announces only on entering UP, DOWN and DISABLED):
//   - A failure from init, rising or disabled goes to down, not falling:
//     nothing is advertised there, so there is nothing for fall to protect.
//   - A pass while falling returns to up, not rising: the route never left,
//     and the next failure starts counting fall from one again.
//
// rise and fall below 1 are treated as 1.
func Next(s State, c Counters, r Result, rise, fall int) (State, Counters) {
	rise, fall = max(rise, 1), max(fall, 1)
	switch r {
	case ResultDisabled:
		return StateDisabled, Counters{}
	case ResultPass:
		c = Counters{Passes: c.Passes + 1}
		switch s {
		case StateUp, StateFalling:
			return StateUp, c
		default: // init, rising, down, disabled: prove it rise times
			if c.Passes >= rise {
				return StateUp, c
			}
			return StateRising, c
		}
	default: // ResultFail and anything unknown: fail safe
		c = Counters{Failures: c.Failures + 1}
		switch s {
		case StateUp, StateFalling:
			if c.Failures >= fall {
				return StateDown, c
			}
			return StateFalling, c
		default:
			return StateDown, c
		}
	}
}
