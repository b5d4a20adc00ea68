package health

import (
	"os/exec"
	"strings"
	"testing"
)

// health is imported by agent and must stay below it: no agent, no sibling
// leaves, none of the libraries only the composition root uses.
func TestDependencies(t *testing.T) {
	const module = "github.com/rsagent/rsagent"
	forbidden := []string{
		module + "/agent", module + "/bgp", module + "/bfd", module + "/routetable", module + "/cmd",
		"github.com/prometheus", "github.com/spf13/cobra",
	}
	out, err := exec.Command("go", "list", "-deps", module+"/agent/health").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps returned nothing")
	}
	for _, dep := range deps {
		for _, bad := range forbidden {
			if dep == bad || strings.HasPrefix(dep, bad+"/") {
				if dep == module+"/agent/health" {
					continue
				}
				t.Errorf("agent/health depends on %s", dep)
			}
		}
	}
}
