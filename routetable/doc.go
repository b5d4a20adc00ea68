// Package routetable keeps EC2 route tables in line with what Amazon VPC
// Route Server installed: a pure Plan over observed tables, paced writes
// that assume other writers share the account's bucket, the reconcile loop
// and the AWS Sync Routes-compatible HTTP handler.
//
// Files: model.go (RouteTable, Route, conversion from EC2 types), plan.go
// (Rules, Plan, PlanDrift, FindSource, SelectTargets — pure), defer.go
// (Owners and the deferral rule — pure), api.go (the narrow EC2 API of
// method values, client construction, request counting), eni.go (this
// appliance's ENIs by address), limiter.go (the AIMD Limiter every writer
// of a process shares), apply.go (Applier), rounds.go (a pass's rounds:
// re-plan after throttling, yield to a writer making progress), pass.go
// (RunOnce), reconciler.go (Config, Reconciler, Run), result.go (Result,
// Status), syncroutes.go (NewSyncRoutesHandler), notify.go (Notifier:
// webhook, SNS), observe.go (Observer for metrics). docs/reconcile.md
// explains the rules, docs/adr/0006 the limiter; deploy/iam holds the
// policies.
//
// routetable is a leaf: it imports aws-sdk-go-v2 and the standard library,
// never bfd, bgp, agent, prometheus or cobra. Only the agent and the CLI
// import it.
package routetable
