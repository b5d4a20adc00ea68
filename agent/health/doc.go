// Package health runs a service's local health checks (tcp, http, exec,
// file) and turns their results into an ExaBGP-style state (rising, up,
// falling, down, disabled) with rise/fall hysteresis.
package health
