package health

import (
	"errors"
	"fmt"
	"time"
)

// Defaults that WithDefaults fills in. They are those of the example in
// DESIGN.md; ExaBGP's are slower (5s, 1s, 5s, 3, 3).
const (
	DefaultInterval     = 2 * time.Second
	DefaultFastInterval = 500 * time.Millisecond
	DefaultTimeout      = time.Second
	DefaultRise         = 3
	DefaultFall         = 3
)

// Spec is what a Monitor watches: one service's checks and timing.
type Spec struct {
	// Name is the service name, carried in transitions and logs.
	Name string
	// Interval separates the starts of two rounds while up, down or
	// disabled.
	Interval time.Duration
	// FastInterval separates the starts of two rounds while init, rising
	// or falling, so a change is confirmed quickly.
	FastInterval time.Duration
	// Timeout bounds each check of a round.
	Timeout time.Duration
	// Rise is how many consecutive passing rounds make the service up.
	Rise int
	// Fall is how many consecutive failing rounds make an up service down.
	Fall int
	// Checks must all pass for a round to pass. With none, only the
	// maintenance file and drain decide.
	Checks []Checker
	// MaintenanceFile, if set, disables the service while it exists. It is
	// stat-ed at the start of every round.
	MaintenanceFile string
}

// WithDefaults returns s with zero durations and counts replaced by the
// Default… values. FastInterval and Timeout default to no more than
// Interval.
func (s Spec) WithDefaults() Spec {
	if s.Interval == 0 {
		s.Interval = DefaultInterval
	}
	if s.FastInterval == 0 {
		s.FastInterval = min(DefaultFastInterval, s.Interval)
	}
	if s.Timeout == 0 {
		s.Timeout = min(DefaultTimeout, s.Interval)
	}
	if s.Rise == 0 {
		s.Rise = DefaultRise
	}
	if s.Fall == 0 {
		s.Fall = DefaultFall
	}
	return s
}

// Validate reports every problem in s, joined (errors.Join). Each message
// starts with the YAML key (interval, fast_interval, …) so the caller can
// prefix the field path.
func (s Spec) Validate() error {
	if s.Name == "" {
		return errors.New("name: must not be empty")
	}
	return errors.Join(s.Timing().Validate(), s.validateChecks())
}

func (s Spec) validateChecks() error {
	var errs []error
	for i, c := range s.Checks {
		if c == nil {
			errs = append(errs, fmt.Errorf("checks[%d]: nil checker", i))
		}
	}
	if s.MaintenanceFile != "" {
		errs = append(errs, checkAbs("maintenance_file", s.MaintenanceFile))
	}
	return errors.Join(errs...)
}

// Timing is the part of a Spec that a running Monitor can change without
// losing its state (Monitor.SetTiming).
type Timing struct {
	Interval, FastInterval, Timeout time.Duration
	Rise, Fall                      int
}

// Timing returns s's timing.
func (s Spec) Timing() Timing {
	return Timing{Interval: s.Interval, FastInterval: s.FastInterval, Timeout: s.Timeout, Rise: s.Rise, Fall: s.Fall}
}

// Validate reports every problem in t, joined, each starting with its key.
func (t Timing) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if t.Interval <= 0 {
		add("interval: must be positive, got %v", t.Interval)
	}
	switch {
	case t.FastInterval <= 0:
		add("fast_interval: must be positive, got %v", t.FastInterval)
	case t.FastInterval > t.Interval:
		add("fast_interval: %v is longer than interval %v", t.FastInterval, t.Interval)
	}
	switch {
	case t.Timeout <= 0:
		add("timeout: must be positive, got %v", t.Timeout)
	case t.Timeout > t.Interval:
		// Rounds would then run back to back and interval would mean nothing.
		add("timeout: %v is longer than interval %v", t.Timeout, t.Interval)
	}
	if t.Rise < 1 {
		add("rise: must be at least 1, got %d", t.Rise)
	}
	if t.Fall < 1 {
		add("fall: must be at least 1, got %d", t.Fall)
	}
	return errors.Join(errs...)
}
