package lambda

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rsagent/rsagent/agent"
)

// Environment variables of the function. The CloudFormation stack
// (deploy/cloudformation/sync-routes-lambda.yaml) sets the overrides from
// its own parameters and resources, so the IAM scope, the change topic and
// the config cannot disagree.
const (
	// EnvConfig names the config file; default $LAMBDA_TASK_ROOT/rsagent.yaml.
	EnvConfig = "RSAGENT_CONFIG"
	// EnvVPCID, when set, replaces reconcile.vpc_id.
	EnvVPCID = "RSAGENT_VPC_ID"
	// EnvSNSTopicARN, when set, replaces reconcile.notify.sns_topic_arn.
	EnvSNSTopicARN = "RSAGENT_SNS_TOPIC_ARN"
)

// ConfigPath is the config file the function reads: $RSAGENT_CONFIG, else
// flagPath when the user gave --config, else rsagent.yaml in the task root
// (where `make lambda-zip` puts it).
func ConfigPath(getenv func(string) string, flagPath string) string {
	if p := getenv(EnvConfig); p != "" {
		return p
	}
	if flagPath != "" {
		return flagPath
	}
	return filepath.Join(getenv("LAMBDA_TASK_ROOT"), "rsagent.yaml")
}

// LoadConfig reads and validates the function's config, with the
// environment overrides applied before validation: a bad override is a
// config error that names both the variable and the key it replaces.
func LoadConfig(path string, getenv func(string) string) (*agent.Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &agent.ConfigError{Problems: []string{fmt.Sprintf("read %s (%s): %v", path, EnvConfig, err)}}
	}
	cfg, err := agent.Decode(data)
	if err != nil {
		return nil, err
	}
	if cfg.Reconcile == nil {
		return nil, &agent.ConfigError{Problems: []string{path + ": reconcile: the Lambda needs a reconcile section (see deploy/examples/lambda.yaml)"}}
	}
	overridden := map[string]string{}
	if v := getenv(EnvVPCID); v != "" {
		cfg.Reconcile.VPCID = v
		overridden["reconcile.vpc_id"] = EnvVPCID
	}
	if v := getenv(EnvSNSTopicARN); v != "" {
		cfg.Reconcile.Notify.SNSTopicARN = v
		overridden["reconcile.notify.sns_topic_arn"] = EnvSNSTopicARN
	}
	cfg.ApplyDefaults()
	m, err := cfg.Validate()
	if ce, ok := err.(*agent.ConfigError); ok {
		for i, p := range ce.Problems {
			for key, env := range overridden {
				if rest, ok := strings.CutPrefix(p, key+":"); ok {
					ce.Problems[i] = fmt.Sprintf("%s (from $%s):%s", key, env, rest)
				}
			}
		}
		return nil, ce
	}
	return m, err
}
