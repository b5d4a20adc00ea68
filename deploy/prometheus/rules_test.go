// Package prometheus_test checks the shipped alerting rules with promtool:
// they must load, and their unit tests (rsagent-rules.test.yaml) must pass.
package prometheus_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/rsagent/rsagent/internal/netns"
)

func TestPromtool(t *testing.T) {
	netns.RequireBinaries(t, "promtool")
	for _, f := range []string{"rsagent-rules.yaml", "rsagent-rules.test.yaml"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("rule file missing: %v", err)
		}
	}
	tests := []struct {
		name, want string
		args       []string
	}{
		{"the rules load and lint clean", "SUCCESS: 8 rules found", []string{"check", "rules", "--lint-fatal", "rsagent-rules.yaml"}},
		{"every alert fires and stays quiet as its unit tests say", "SUCCESS", []string{"test", "rules", "rsagent-rules.test.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command("promtool", tt.args...).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool %s: %v\n%s", strings.Join(tt.args, " "), err, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("promtool %s printed no %q:\n%s", strings.Join(tt.args, " "), tt.want, out)
			}
		})
	}
}
