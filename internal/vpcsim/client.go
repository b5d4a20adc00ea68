package vpcsim

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// EC2Client returns a real aws-sdk-go-v2 EC2 client pointed at the server:
// static credentials, us-east-1, the standard retryer. It is built from
// ec2.Options directly rather than config.LoadDefaultConfig so that nothing
// from the environment, shared config files or IMDS can leak in. optFns run
// last, e.g. to set RetryMaxAttempts or aws.NopRetryer.
func (s *Server) EC2Client(_ context.Context, optFns ...func(*ec2.Options)) *ec2.Client {
	opts := ec2.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(s.URL()),
		Retryer:      retry.NewStandard(),
	}
	return ec2.New(opts, optFns...)
}
