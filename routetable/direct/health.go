package direct

import "time"

// HostStatus is how a host stands, as /status and the logs show it.
type HostStatus string

// The host statuses.
const (
	// HostUnknown: no check round has finished yet.
	HostUnknown HostStatus = "unknown"
	// HostHealthy: the last round passed and the host is not failed.
	HostHealthy HostStatus = "healthy"
	// HostFailing: the last rounds failed, fewer than fall of them. The
	// host stays the target of routes that already point at it (one lost
	// probe never moves traffic) but is not chosen anew.
	HostFailing HostStatus = "failing"
	// HostFailed: fall rounds in a row failed (or a BFD session went
	// down). Routes move away; the host is ineligible.
	HostFailed HostStatus = "failed"
	// HostHeld: failed, now passing again, but failed_hold has not passed
	// since its last failure: still ineligible.
	HostHeld HostStatus = "held"
)

// HostState is the health of one host, folded from its check rounds by
// Observe. The zero value is a host not checked yet.
type HostState struct {
	// Checked is set by the first finished round.
	Checked bool `json:"checked"`
	// OK is the verdict of the last round.
	OK bool `json:"ok"`
	// Failures counts consecutive failed rounds.
	Failures int `json:"consecutive_failures"`
	// Failed is set when fall rounds in a row failed, or at once when a
	// check reports an immediate failure (a BFD session going down). It is
	// cleared by the first passing round at or after HeldUntil.
	Failed bool `json:"failed"`
	// HeldUntil is failed_hold after the last failed round of a failed
	// host.
	HeldUntil time.Time `json:"held_until,omitzero"`
	// LastError is why the last round failed; empty when it passed.
	LastError string `json:"last_error,omitempty"`
	// LastFailure is when a round last failed.
	LastFailure time.Time `json:"last_failure,omitzero"`
	// LastCheck is when the last round finished.
	LastCheck time.Time `json:"last_check,omitzero"`
	// Since is when Status last changed.
	Since time.Time `json:"since,omitzero"`
}

// Observation is the result of one check round of a host.
type Observation struct {
	At time.Time
	OK bool
	// Err says why the round failed.
	Err string
	// Immediate marks a failure that needs no confirmation: the host's BFD
	// session left Up, which its detect multiplier has already confirmed.
	Immediate bool
}

// HealthParams are the router's health settings.
type HealthParams struct {
	// Fall is how many rounds in a row must fail to fail a host (≥ 1).
	Fall int
	// FailedHold is how long a failed host stays ineligible after its last
	// failed round.
	FailedHold time.Duration
}

// Observe folds one round into the state. It is the whole state machine,
// pure so that every transition is table-tested:
//
//   - a pass resets the failure count; a failed host becomes healthy again
//     only if failed_hold has passed since its last failure (else it is held);
//   - a failure counts; fall of them in a row, or one immediate failure,
//     fail the host, and every further failure restarts failed_hold;
//   - eligible is not chosen: a recovered host gets routes back only when
//     a route has no healthy target, or with preempt.
func (h HostState) Observe(o Observation, p HealthParams) HostState {
	before := h.Status()
	h.Checked = true
	h.OK = o.OK
	h.LastCheck = o.At
	if o.OK {
		h.Failures = 0
		h.LastError = ""
		if h.Failed && !o.At.Before(h.HeldUntil) {
			h.Failed = false
			h.HeldUntil = time.Time{}
		}
	} else {
		h.Failures++
		h.LastError = o.Err
		h.LastFailure = o.At
		if h.Failed || o.Immediate || h.Failures >= max(p.Fall, 1) {
			h.Failed = true
			h.HeldUntil = o.At.Add(p.FailedHold)
		}
	}
	if h.Status() != before || h.Since.IsZero() {
		h.Since = o.At
	}
	return h
}

// Status names the state.
func (h HostState) Status() HostStatus {
	switch {
	case !h.Checked:
		return HostUnknown
	case h.Failed && h.OK:
		return HostHeld
	case h.Failed:
		return HostFailed
	case !h.OK:
		return HostFailing
	}
	return HostHealthy
}

// Healthy reports whether routes that point at the host may stay there:
// checked and not failed (a failing host, short of fall, keeps them).
func (h HostState) Healthy() bool { return h.Checked && !h.Failed }

// Eligible reports whether the host may become the target of a route: its
// last round passed and it is not failed (failed_hold is over).
func (h HostState) Eligible() bool { return h.Checked && !h.Failed && h.OK }
