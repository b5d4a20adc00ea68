package agent

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/routetable/direct"
)

// TestRouterReload: a reload applies what it may live, keeps a POSTed spec
// unless the spec sources changed, refuses restart-only changes whole, and
// re-checks every host when the checks change.
func TestRouterReload(t *testing.T) {
	e := newRouterEnv(t)
	e.writeSpec(fmt.Sprintf(`{"%s": ["%s", "%s"]}`, dstOne, hostAAddr, hostBAddr))
	cfg := e.config("")
	r := e.start(cfg)
	e.waitAllAt(dstOne, e.a.eni, time.Now(), 10*time.Second)
	load := func(y string) *Model {
		t.Helper()
		_, m, err := Load([]byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	posted := direct.Spec{dstTwo: {hostBAddr}}
	r.SetSpec(posted, "http")
	t.Run("a reload that leaves the spec sources alone keeps a POSTed spec", func(t *testing.T) {
		if err := r.Reload(load(e.config("  preempt: true\n"))); err != nil {
			t.Fatal(err)
		}
		if st := r.Status().Router; !st.Preempt || st.SpecSource != "http" || !r.Spec().Equal(posted) {
			t.Errorf("preempt %v, source %s, spec %v", st.Preempt, st.SpecSource, r.Spec())
		}
		e.waitAllAt(dstTwo, e.b.eni, time.Now(), 10*time.Second)
	})
	t.Run("a new spec file is read", func(t *testing.T) {
		other := filepath.Join(e.dir, "other.json")
		if err := os.WriteFile(other, []byte(fmt.Sprintf(`{"%s": ["%s"]}`, dstOne, hostBAddr)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(load(strings.Replace(e.config(""), e.specFile, other, 1))); err != nil {
			t.Fatal(err)
		}
		if st := r.Status().Router; st.SpecSource != "file" || len(r.Spec()) != 1 {
			t.Errorf("source %s, spec %v", st.SpecSource, r.Spec())
		}
		e.waitAllAt(dstOne, e.b.eni, time.Now(), 10*time.Second)
		// The new file is the one watched now.
		if err := os.WriteFile(other+".tmp", []byte(fmt.Sprintf(`{"%s": ["%s"]}`, dstOne, hostAAddr)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(other+".tmp", other); err != nil {
			t.Fatal(err)
		}
		e.waitAllAt(dstOne, e.a.eni, time.Now(), 10*time.Second)
	})
	t.Run("restart-only changes are refused whole", func(t *testing.T) {
		before := r.Status().Router
		bad := strings.Replace(e.config("  preempt: false\n"), "region: us-east-1", "region: eu-west-1", 1)
		err := r.Reload(load(bad))
		if err == nil || !IsConfigError(err) || !strings.Contains(err.Error(), "restart") {
			t.Fatalf("Reload = %v", err)
		}
		if st := r.Status().Router; st.Preempt != before.Preempt {
			t.Error("a refused reload changed preempt")
		}
	})
	t.Run("changed checks re-check every host", func(t *testing.T) {
		mark := e.mark()
		closedPort := sharedPort(t, hostAAddr, hostBAddr)
		y := strings.Replace(e.config(""), fmt.Sprintf("tcp: {port: %d}", e.a.port), fmt.Sprintf("tcp: {port: %d}", closedPort), 1)
		if err := r.Reload(load(y)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "both hosts failed on the new port", func() error {
			for _, h := range []netip.Addr{hostAAddr, hostBAddr} {
				if hs := e.hostStatus(h); hs.Status != direct.HostFailed {
					return fmt.Errorf("%s is %s", h, hs.Status)
				}
			}
			return nil
		})
		e.waitPasses(1)
		if m := e.mutationsSince(mark); len(m) != 0 {
			t.Errorf("no healthy host, yet writes: %v", m)
		}
	})
}
