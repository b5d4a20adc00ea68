// Package vpcsim is an emulated VPC for tests, benchmarks and the lab: an
// in-memory model of route tables, an HTTP server speaking the EC2 Query
// protocol to the real aws-sdk-go-v2 client, and fault injection (EC2 token
// buckets, latency, 5xx, a failing table). The token buckets belong to an
// Account, as EC2's do: servers of one account, and a test standing in for
// another writer (Account.SpendMutating), draw on the same tokens. It only
// ever listens on loopback.
package vpcsim
