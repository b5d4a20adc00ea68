package main

import (
	"slices"
	"strings"
	"testing"
)

func TestLambdaArgs(t *testing.T) {
	for _, tc := range []struct {
		name, argv0 string
		args, want  []string
	}{
		{"a binary named bootstrap is rsagent lambda", "/var/task/bootstrap", nil, []string{"lambda"}},
		{"bootstrap with arguments keeps them", "/var/task/bootstrap", []string{"version"}, []string{"version"}},
		{"rsagent keeps its arguments", "/usr/bin/rsagent", []string{"run"}, []string{"run"}},
		{"rsagent without arguments stays so", "rsagent", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lambdaArgs(tc.argv0, tc.args); !slices.Equal(got, tc.want) {
				t.Errorf("lambdaArgs(%q, %q) = %q, want %q", tc.argv0, tc.args, got, tc.want)
			}
		})
	}
}

func TestLambdaOutsideLambdaIsAUsageError(t *testing.T) {
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "")
	_, stderr, code := execute(t, "lambda")
	if code != 2 || !strings.Contains(stderr, "AWS_LAMBDA_RUNTIME_API is not set") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestLambdaWithABadConfigIsAUsageError(t *testing.T) {
	t.Setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
	t.Setenv("RSAGENT_CONFIG", writeFile(t, "rsagent.yaml", minimal+"reconcile: {region: us-east-1, vpc_id: vpc-0123456789abcdef0}\n"))
	_, stderr, code := execute(t, "lambda")
	if code != 2 || !strings.Contains(stderr, "cannot hold BGP sessions") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
