package lambda

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rsagent/rsagent/agent"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPath(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		flag string
		want string
	}{
		{"RSAGENT_CONFIG wins", map[string]string{EnvConfig: "/opt/c.yaml", "LAMBDA_TASK_ROOT": "/var/task"}, "/etc/x.yaml", "/opt/c.yaml"},
		{"then --config", map[string]string{"LAMBDA_TASK_ROOT": "/var/task"}, "/etc/x.yaml", "/etc/x.yaml"},
		{"then the zip's rsagent.yaml", map[string]string{"LAMBDA_TASK_ROOT": "/var/task"}, "", "/var/task/rsagent.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ConfigPath(env(tc.env), tc.flag); got != tc.want {
				t.Errorf("ConfigPath = %q, want %q", got, tc.want)
			}
		})
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rsagent.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	const base = "reconcile:\n  region: us-east-1\n  vpc_id: vpc-0123456789abcdef0\n"
	t.Run("the stack's overrides replace vpc_id and the change topic", func(t *testing.T) {
		m, err := LoadConfig(writeConfig(t, base), env(map[string]string{
			EnvVPCID: "vpc-0fedcba9876543210", EnvSNSTopicARN: "arn:aws:sns:us-east-1:123456789012:s-route-changes"}))
		if err != nil {
			t.Fatal(err)
		}
		if m.Reconcile.VPCID != "vpc-0fedcba9876543210" || m.Reconcile.SNSTopicARN != "arn:aws:sns:us-east-1:123456789012:s-route-changes" {
			t.Errorf("model: %+v", m.Reconcile)
		}
	})
	t.Run("a bad override is a config error naming the variable", func(t *testing.T) {
		_, err := LoadConfig(writeConfig(t, base), env(map[string]string{EnvVPCID: "vpc-nope"}))
		if !agent.IsConfigError(err) || !strings.Contains(err.Error(), "reconcile.vpc_id (from $RSAGENT_VPC_ID):") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a config without reconcile is refused", func(t *testing.T) {
		_, err := LoadConfig(writeConfig(t, "log: {level: info}\n"), env(nil))
		if !agent.IsConfigError(err) || !strings.Contains(err.Error(), "reconcile section") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a missing file names RSAGENT_CONFIG", func(t *testing.T) {
		_, err := LoadConfig(filepath.Join(t.TempDir(), "nope.yaml"), env(nil))
		if !agent.IsConfigError(err) || !strings.Contains(err.Error(), EnvConfig) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("a config with a speaker is refused by New", func(t *testing.T) {
		m, err := LoadConfig(writeConfig(t, base+"bgp:\n  asn: 65010\n  local_address: 10.0.1.10\n  peers: [{address: 10.0.1.230, asn: 65000}]\n"), env(nil))
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(context.Background(), m, slog.New(slog.DiscardHandler))
		if !agent.IsConfigError(err) || !strings.Contains(err.Error(), "cannot hold BGP sessions") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestTheShippedLambdaExampleIsAccepted(t *testing.T) {
	m, err := LoadConfig("../../deploy/examples/lambda.yaml", env(map[string]string{EnvVPCID: "vpc-0fedcba9876543210"}))
	if err != nil {
		t.Fatal(err)
	}
	if !m.ReconcileOnly || m.Reconcile.VPCID != "vpc-0fedcba9876543210" {
		t.Errorf("the example is not a reconcile-only config the stack can point at its VPC: %+v", m.Reconcile)
	}
}
