package routetable

import "github.com/aws/aws-sdk-go-v2/service/ec2"

// CountRequests returns a per-call option that reports every EC2 attempt,
// retries included, to obs.EC2Request, for other writers in the process
// (direct mode) that make their own reads and pass it to the Applier.
func CountRequests(obs Observer) func(*ec2.Options) { return countRequests(obs) }
