// Package lambda is rsagent's serverless form (`rsagent lambda`, or the
// binary named bootstrap): an AWS Lambda handler that turns each event into
// what the daemon would do for it, using the daemon's own parts.
//
//   - An API Gateway REST proxy event for PATCH
//     /vpcs/{vpc-id}/route-tables/{route-table-id} is served by the Sync
//     Routes handler that `rsagent run` mounts (same validation, same status
//     codes, same JSON); the proxy response carries its status and body.
//   - An EventBridge "Scheduled Event" runs one reconcile pass.
//   - An SNS notification (Route Server's BGP/BFD status changes) runs a
//     reconcile pass at once and the daemon's follow-ups (0.3 s and 1 s
//     later), because Route Server installs routes asynchronously.
//   - Anything else is an invocation error that names what arrived.
//
// The adapter is thin on purpose: the reconciler and the handler come from
// agent.NewReconcileFunction, which builds them from the `reconcile` section
// exactly as the daemon does, so pacing and ownership rules are the same.
// It adds only what a Lambda needs: every pass and request ends before the
// function's deadline (see budget), and reports itself in the invocation
// result and in one JSON log line per pass. docs/serverless.md is the user guide.
//
// Only cmd/rsagent imports this package.
package lambda
