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

// Validate reports the first problem in s. Messages start with the YAML key
// (interval, fast_interval, …) so the caller can prefix the field path.
func (s Spec) Validate() error {
	switch {
	case s.Name == "":
		return errors.New("name: must not be empty")
	case s.Interval <= 0:
		return fmt.Errorf("interval: must be positive, got %v", s.Interval)
	case s.FastInterval <= 0:
		return fmt.Errorf("fast_interval: must be positive, got %v", s.FastInterval)
	case s.FastInterval > s.Interval:
		return fmt.Errorf("fast_interval: %v is longer than interval %v", s.FastInterval, s.Interval)
	case s.Timeout <= 0:
		return fmt.Errorf("timeout: must be positive, got %v", s.Timeout)
	case s.Timeout > s.Interval:
		// Rounds would then run back to back and interval would mean nothing.
		return fmt.Errorf("timeout: %v is longer than interval %v", s.Timeout, s.Interval)
	case s.Rise < 1:
		return fmt.Errorf("rise: must be at least 1, got %d", s.Rise)
	case s.Fall < 1:
		return fmt.Errorf("fall: must be at least 1, got %d", s.Fall)
	}
	for i, c := range s.Checks {
		if c == nil {
			return fmt.Errorf("checks[%d]: nil checker", i)
		}
	}
	if s.MaintenanceFile != "" {
		if err := checkAbs("maintenance_file", s.MaintenanceFile); err != nil {
			return err
		}
	}
	return nil
}
