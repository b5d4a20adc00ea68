// Package health runs a service's local health checks (tcp, http, exec,
// file) and turns their results into an ExaBGP-style state (init, rising,
// up, falling, down, disabled) with rise/fall hysteresis.
//
// Checkers are built from plain values by NewTCP, NewHTTP, NewExec, NewFile,
// NewNoFile and NewICMP; Next is the pure state machine; Round runs one set
// of checks in parallel under a timeout; Monitor runs one service's rounds
// and reports Transitions. Only the agent package imports this one,
// and this one imports no other rsagent package (see deps_test.go). README.md
// has the states, the timing and what each check does.
package health
