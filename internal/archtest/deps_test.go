// Package archtest enforces the dependency rules of DESIGN.md.
package archtest

import (
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/rsagent/rsagent"

// Reasons, shared by the rules below.
const (
	whyComposition = "only agent (the composition root) knows how the parts are wired"
	whyCLI         = "the CLI lives in cmd/rsagent; nothing imports it"
	whyMetrics     = "a leaf reports through the small interface it defines; agent adapts it to Prometheus"
	whyCobra       = "flags and commands belong to cmd/rsagent"
	whySibling     = "leaves do not know each other; agent couples them"
	whyEmulator    = "an emulator that shares the client's code would agree with the client's bugs"
)

// leafRules are the imports every leaf must not have. Siblings are added per
// package, since each leaf may of course import itself.
func leafRules() map[string]string {
	return map[string]string{
		module + "/agent":           whyComposition,
		module + "/cmd":             whyCLI,
		"github.com/prometheus":     whyMetrics,
		"github.com/spf13/cobra":    whyCobra,
		module + "/internal/lab":    whyComposition,
		module + "/internal/vpcsim": "production code never links the emulator",
	}
}

func with(base map[string]string, extra map[string]string) map[string]string {
	out := maps.Clone(base)
	maps.Copy(out, extra)
	return out
}

// rules maps each checked package to its forbidden imports (an import path
// or a path prefix ending at a "/" boundary) and why each is forbidden: the
// reason is what a reader needs when the test fails.
var rules = map[string]map[string]string{
	"bfd": with(leafRules(), map[string]string{
		module + "/bgp": whySibling, module + "/routetable": whySibling,
	}),
	"bgp": with(leafRules(), map[string]string{
		module + "/bfd": whySibling, module + "/routetable": whySibling,
		"github.com/osrg/gobgp/v3/pkg": "GoBGP v3 is end of life and crashes on malformed messages (ADR 0006); only its generated API types may serve the read-only v3 CLI service",
	}),
	"routetable": with(leafRules(), map[string]string{
		module + "/bfd": whySibling, module + "/bgp": whySibling,
	}),
	"routetable/direct": with(leafRules(), map[string]string{
		// It builds on routetable (its Applier and route model), nothing else.
		module + "/bfd": whySibling, module + "/bgp": whySibling,
		module + "/agent/health": "direct mode's decisions are pure; its host checks run in agent",
	}),
	"agent/health": with(leafRules(), map[string]string{
		module + "/bfd": "health checks are plain probes; a BFD check adapts bfd.Manager in agent",
		module + "/bgp": whySibling, module + "/routetable": whySibling,
	}),
	"internal/vpcsim": {
		module + "/agent":      whyEmulator,
		module + "/routetable": whyEmulator,
		module + "/cmd":        whyCLI,
	},
}

func TestDependencyRules(t *testing.T) {
	for _, pkg := range slices.Sorted(maps.Keys(rules)) {
		bad := rules[pkg]
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", module+"/"+pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
			}
			deps := strings.Fields(string(out))
			if !slices.Contains(deps, module+"/"+pkg) {
				t.Fatalf("go list -deps %s did not list the package itself: %q", pkg, out)
			}
			self := module + "/" + pkg
			for _, dep := range deps {
				if dep == self || strings.HasPrefix(dep, self+"/") {
					continue // agent/health is under the agent prefix, but is not agent
				}
				for prefix, why := range bad {
					if dep == prefix || strings.HasPrefix(dep, prefix+"/") {
						t.Errorf("%s imports %s: %s", pkg, dep, why)
					}
				}
			}
		})
	}
}

// TestRulesCatchAViolation guards the matcher itself: a rule that can never
// match would let every violation through.
func TestRulesCatchAViolation(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"/internal/lab").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps internal/lab: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	// internal/lab composes agents, so it breaks every leaf rule about agent.
	hit := false
	for _, dep := range deps {
		for prefix := range rules["bfd"] {
			if dep == prefix || strings.HasPrefix(dep, prefix+"/") {
				hit = true
			}
		}
	}
	if !hit {
		t.Fatal("the bfd rules match nothing in internal/lab's imports, which include agent: the matcher is broken")
	}
}
