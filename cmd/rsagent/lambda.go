package main

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/spf13/cobra"

	"github.com/rsagent/rsagent/agent"
	"github.com/rsagent/rsagent/agent/lambda"
)

// lambdaBootstrapName is the file name the provided.al2023 runtime runs;
// a binary with this name behaves as `rsagent lambda`.
const lambdaBootstrapName = "bootstrap"

// lambdaArgs maps a binary started as bootstrap to `rsagent lambda`.
func lambdaArgs(argv0 string, args []string) []string {
	if filepath.Base(argv0) == lambdaBootstrapName && len(args) == 0 {
		return []string{"lambda"}
	}
	return args
}

func newLambdaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lambda",
		Short: "Run as an AWS Lambda function: the reconciler and the Sync Routes API (docs/serverless.md)",
		Long: "lambda is the bootstrap of the serverless form (runtime provided.al2023; the binary may be named\n" +
			"bootstrap instead). The config file is $RSAGENT_CONFIG, else --config when given, else\n" +
			"$LAMBDA_TASK_ROOT/rsagent.yaml; it must hold only a reconcile section ($RSAGENT_VPC_ID and\n" +
			"$RSAGENT_SNS_TOPIC_ARN, when set, replace its vpc_id and notify.sns_topic_arn). API Gateway REST proxy events\n" +
			"for PATCH /vpcs/{vpc-id}/route-tables/{route-table-id} run the Sync Routes API, EventBridge scheduled\n" +
			"events run one reconcile pass, SNS notifications one at once and two follow-ups (0.3 s and 1 s later).\n" +
			"Logs are JSON.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
				return usageErr(errors.New("lambda: AWS_LAMBDA_RUNTIME_API is not set: this command runs inside AWS Lambda " +
					"(or under the Lambda Runtime Interface Emulator, see docs/serverless.md)"))
			}
			flagPath := ""
			if cmd.Flags().Changed("config") {
				flagPath = configPath(cmd)
			}
			path := lambda.ConfigPath(os.Getenv, flagPath)
			m, err := lambda.LoadConfig(path, os.Getenv)
			if err != nil {
				return usageErr(err)
			}
			lv := new(slog.LevelVar)
			_ = lv.UnmarshalText([]byte(m.Log.Level))
			log := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lv}))
			fn, err := lambda.New(cmd.Context(), m, log)
			if err != nil {
				if agent.IsConfigError(err) {
					return usageErr(err)
				}
				return err
			}
			log.Info("rsagent lambda ready", "version", agent.Version, "config", path, "vpc_id", m.Reconcile.VPCID)
			awslambda.StartWithOptions(fn, awslambda.WithContext(cmd.Context()))
			return nil
		},
	}
}
