// Package routetable keeps EC2 route tables in line with what Amazon VPC
// Route Server installed: a pure Plan over observed tables, a paced Apply,
// the reconcile loop, the AWS Sync Routes-compatible HTTP handler and the
// direct-mode route spec.
//
// routetable is a leaf: it imports aws-sdk-go-v2 and the standard library,
// never bfd, bgp, agent, prometheus or cobra.
package routetable
