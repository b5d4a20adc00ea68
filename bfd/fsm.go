package bfd

import "fmt"

// Event is an input to the session state machine.
type Event uint8

// Events: a received packet carrying the remote state, the detection timer,
// and local administrative control.
const (
	EventRecvAdminDown Event = iota // packet with State AdminDown
	EventRecvDown                   // packet with State Down
	EventRecvInit                   // packet with State Init
	EventRecvUp                     // packet with State Up
	EventDetectExpired              // no valid packet within the detection time
	EventAdminDown                  // local shutdown or session removal
	EventAdminUp                    // local enable after AdminDown
)

// String names the event for logs and test names.
func (e Event) String() string {
	switch e {
	case EventRecvAdminDown:
		return "recv_admin_down"
	case EventRecvDown:
		return "recv_down"
	case EventRecvInit:
		return "recv_init"
	case EventRecvUp:
		return "recv_up"
	case EventDetectExpired:
		return "detect_expired"
	case EventAdminDown:
		return "admin_down"
	case EventAdminUp:
		return "admin_up"
	}
	return fmt.Sprintf("event_%d", uint8(e))
}

// recvEvent maps a received remote state to its event.
func recvEvent(remote State) Event {
	switch remote {
	case StateAdminDown:
		return EventRecvAdminDown
	case StateDown:
		return EventRecvDown
	case StateInit:
		return EventRecvInit
	default:
		return EventRecvUp
	}
}

// Actions tells the session what a transition requires besides the new state.
type Actions struct {
	// SetDiag: set the local diagnostic to Diag.
	SetDiag bool
	Diag    Diag
	// Discard: the packet that caused the event must be ignored (§6.8.6:
	// nothing is processed while AdminDown).
	Discard bool
}

type transition struct {
	to      State
	setDiag bool
	diag    Diag
}

// lookup mirrors RFC 5880 §6.8.6 ("if bfd.SessionState is ...") and §6.8.4
// (detection time expiry). It is a switch rather than a map so that the
// package holds no mutable state. Pairs not listed leave the state as it is.
func lookup(s State, e Event) (transition, bool) {
	switch s {
	case StateDown:
		switch e {
		case EventRecvDown:
			return transition{StateInit, false, 0}, true
		case EventRecvInit:
			return transition{StateUp, true, DiagNone}, true
		case EventAdminDown:
			return transition{StateAdminDown, true, DiagAdministrativelyDown}, true
		}
	case StateInit:
		switch e {
		case EventRecvAdminDown:
			return transition{StateDown, true, DiagNeighborSignaledDown}, true
		case EventRecvInit, EventRecvUp:
			return transition{StateUp, true, DiagNone}, true
		case EventDetectExpired:
			return transition{StateDown, true, DiagControlDetectExpired}, true
		case EventAdminDown:
			return transition{StateAdminDown, true, DiagAdministrativelyDown}, true
		}
	case StateUp:
		switch e {
		case EventRecvAdminDown:
			return transition{StateDown, true, DiagNeighborSignaledDown}, true
		case EventRecvDown:
			return transition{StateDown, true, DiagNeighborSignaledDown}, true
		case EventDetectExpired:
			return transition{StateDown, true, DiagControlDetectExpired}, true
		case EventAdminDown:
			return transition{StateAdminDown, true, DiagAdministrativelyDown}, true
		}
	case StateAdminDown:
		if e == EventAdminUp {
			return transition{StateDown, true, DiagNone}, true
		}
	}
	return transition{}, false
}

// Step is the pure session state machine: given the current state and an
// event it returns the next state and what to do. It has no clock and no I/O.
func Step(s State, e Event) (State, Actions) {
	if s == StateAdminDown && e <= EventRecvUp {
		return s, Actions{Discard: true}
	}
	t, ok := lookup(s, e)
	if !ok {
		return s, Actions{}
	}
	return t.to, Actions{SetDiag: t.setDiag, Diag: t.diag}
}
