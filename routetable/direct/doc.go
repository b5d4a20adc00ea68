// Package direct holds the decisions of direct mode (`rsagent router`),
// vpc-router's job for VPCs without Route Server: the route spec (a
// destination CIDR → candidate host IPs in preference order) and its
// validation, the per-host health state with fall and failed_hold, the
// choice of a target that several routers make alike without a leader, and
// Plan, which turns the spec, the hosts and the VPC's route tables into the
// route changes to make. Decisions are pure functions, tested without
// sockets; api.go has the two reads a pass makes (route tables, and the
// ENIs behind the host addresses).
//
// Writes go through routetable's paced Applier. The package imports
// routetable and the AWS SDK, never agent, a sibling leaf, prometheus or
// cobra (internal/archtest checks). The agent wires it: host checks, the
// pass loop, the spec sources, HTTP and metrics live there.
package direct
