package vpcsim

import (
	"os"

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
//
// It is a function, not a method of Server, on purpose: Server is an
// http.Handler, and an exported method returning *ec2.Client would make the
// linker keep all ~2,400 methods of the client in the rsagent binary (which
// links the emulator for `rsagent lab`): 56 MB instead of 26 MB.
func EC2Client(s *Server, optFns ...func(*ec2.Options)) *ec2.Client {
	opts := ec2.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint: aws.String(s.URL()),
		Retryer:      retry.NewStandard(),
	}
	return ec2.New(opts, optFns...)
}

// OfflineAWSEnv is the environment under which code that loads the AWS
// default configuration (the agent's reconciler) talks to the emulator and
// nothing else: static credentials, no IMDS, no shared config files or
// profile. An empty value means "unset".
func OfflineAWSEnv() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":           "AKIDRSAGENTOFFLINE",
		"AWS_SECRET_ACCESS_KEY":       "rsagent-offline-not-a-secret",
		"AWS_SESSION_TOKEN":           "",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_PROFILE":                 "",
	}
}
