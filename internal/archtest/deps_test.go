// Package archtest enforces the dependency rules of DESIGN.md.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/rsagent/rsagent"

// The leaves must not know about each other, about the composition root, or
// about the libraries only the composition root may use.
func TestLeafPackagesStayLeaves(t *testing.T) {
	leaves := []string{"bfd", "bgp", "routetable", "routetable/direct"}
	forbiddenFor := func(leaf string) []string {
		f := []string{
			module + "/agent",
			module + "/cmd/",
			"github.com/prometheus/",
			"github.com/spf13/cobra",
		}
		for _, other := range leaves {
			// routetable/direct builds on routetable (its Applier and
			// route model); nothing else may import a sibling.
			if other != leaf && !(leaf == "routetable/direct" && other == "routetable") {
				f = append(f, module+"/"+other)
			}
		}
		return f
	}
	for _, leaf := range leaves {
		t.Run(leaf+" imports no sibling, agent, prometheus or cobra", func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", module+"/"+leaf).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", leaf, err, out)
			}
			deps := strings.Fields(string(out))
			if len(deps) == 0 {
				t.Fatalf("go list -deps %s returned nothing", leaf)
			}
			for _, dep := range deps {
				for _, bad := range forbiddenFor(leaf) {
					if dep == bad || strings.HasPrefix(dep, bad+"/") || (strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad)) {
						t.Errorf("%s depends on %s", leaf, dep)
					}
				}
			}
		})
	}
}
