// Package routetable keeps EC2 route tables in line with what Amazon VPC
// Route Server installed: a pure Plan over observed tables, a paced Apply,
// the reconcile loop and the AWS Sync Routes-compatible HTTP handler.
//
// Files: model.go (RouteTable, Route, conversion from EC2 types), plan.go
// (Rules, Plan, FindSource, SelectTargets — pure), api.go (the narrow EC2
// API of method values, client construction, request counting), apply.go
// (Applier and the client-side mutating bucket), reconciler.go (Config,
// Reconciler, Result, Status), syncroutes.go (NewSyncRoutesHandler),
// notify.go (Notifier: webhook, SNS), observe.go (Observer for metrics).
// docs/reconcile.md explains the rules; deploy/iam holds the policies.
//
// routetable is a leaf: it imports aws-sdk-go-v2 and the standard library,
// never bfd, bgp, agent, prometheus or cobra. Only the agent and the CLI
// import it. Direct mode (vpc-router style route specs) does not live here
// yet.
package routetable
