// Package agent is the composition root of rsagent: the configuration model
// and its validation, the lifecycle of every component, the couplings between
// them (health → advertisements, BFD → BGP peer resets, BGP changes →
// reconcile), the HTTP endpoints and the Prometheus adapters.
//
// Only cmd/rsagent and agent/lambda (the Lambda form's event adapter) import
// agent.
package agent
