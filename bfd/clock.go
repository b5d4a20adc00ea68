package bfd

import "time"

// Clock is the session's source of time. Production code uses the system
// clock; unit tests run the same clock inside a testing/synctest bubble, where
// time is virtual, so the interface stays thin.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is the subset of *time.Timer a session needs.
type Timer interface {
	C() <-chan time.Time
	// Reset re-arms the timer; with Go ≥ 1.23 timer semantics no stale
	// value is delivered after Reset or Stop.
	Reset(d time.Duration)
	Stop()
}

// SystemClock is the Clock backed by package time.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a stopped-or-running timer backed by time.NewTimer.
func (SystemClock) NewTimer(d time.Duration) Timer { return &sysTimer{t: time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (s *sysTimer) C() <-chan time.Time   { return s.t.C }
func (s *sysTimer) Reset(d time.Duration) { s.t.Reset(d) }
func (s *sysTimer) Stop()                 { s.t.Stop() }
