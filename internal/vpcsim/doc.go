// Package vpcsim is an emulated VPC for tests, benchmarks and the lab: an
// in-memory model of route tables, an HTTP server speaking the EC2 Query
// protocol to the real aws-sdk-go-v2 client, and fault injection (EC2 token
// buckets, latency, 5xx, a failing table). It only ever listens on loopback.
package vpcsim
