// Package prometheus_test checks the shipped alerting rules with promtool:
// they must load, and their unit tests (rsagent-rules.test.yaml) must pass.
package prometheus_test

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
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
	rules, err := os.ReadFile("rsagent-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	alerts := strings.Count(string(rules), "- alert: ")
	tests := []struct {
		name, want string
		args       []string
	}{
		{"the rules load and lint clean", fmt.Sprintf("SUCCESS: %d rules found", alerts), []string{"check", "rules", "--lint-fatal", "rsagent-rules.yaml"}},
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

// Every alert's runbook_url must land on a heading of docs/runbook.md.
func TestRunbookAnchorsExist(t *testing.T) {
	rules, err := os.ReadFile("rsagent-rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	runbook, err := os.ReadFile("../../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(runbook), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			anchors[githubAnchor(h)] = true
		}
	}
	urls := regexp.MustCompile(`runbook_url: "?[^"#\s]*docs/runbook\.md#([a-z0-9-]+)`).FindAllStringSubmatch(string(rules), -1)
	if alerts := strings.Count(string(rules), "- alert: "); len(urls) != alerts || alerts < 8 {
		t.Fatalf("found %d runbook URLs in the rules, want one per alert (%d)", len(urls), alerts)
	}
	for _, u := range urls {
		if !anchors[u[1]] {
			t.Errorf("runbook_url anchor #%s has no heading in docs/runbook.md", u[1])
		}
	}
}

// githubAnchor is how GitHub turns a heading into a fragment: lower case,
// punctuation dropped, spaces to hyphens.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}
