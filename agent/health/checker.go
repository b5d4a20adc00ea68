package health

import "context"

// Checker is one local health check. Check returns nil when the service is
// healthy and otherwise a short error for logs and /status. It must return
// promptly once ctx is done: the monitor bounds every round by ctx and waits
// for all checks of the round before judging it.
//
// Checkers are built by the New… constructors (one file per kind), which
// validate their arguments; Check does only the probing.
type Checker interface {
	Check(ctx context.Context) error
	// String describes the check, e.g. "tcp 127.0.0.1:5060".
	String() string
}
