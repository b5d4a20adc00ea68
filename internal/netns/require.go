package netns

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns every interop skip into a
// failure. CI (.ci/run) sets it to 1 so that a missing peer cannot hide behind
// a skipped test.
const RequireEnv = "RSAGENT_REQUIRE_INTEROP"

// Require skips the test with a printed reason unless the process is root and
// every named binary is on PATH (or exists at its absolute path). With
// RSAGENT_REQUIRE_INTEROP=1 in the environment it calls t.Fatalf instead.
func Require(t testing.TB, binaries ...string) {
	t.Helper()
	require(t, true, binaries)
}

// RequireBinaries is Require for tests that need the binaries but not root
// (promtool, the gobgp CLI against a loopback speaker).
func RequireBinaries(t testing.TB, binaries ...string) {
	t.Helper()
	require(t, false, binaries)
}

func require(t testing.TB, needRoot bool, binaries []string) {
	t.Helper()
	var missing []string
	for _, b := range binaries {
		if !binaryExists(b) {
			missing = append(missing, b)
		}
	}
	reason, fatal := requireDecision(!needRoot || os.Geteuid() == 0, missing, os.Getenv(RequireEnv))
	switch {
	case reason == "":
		return
	case fatal:
		t.Fatalf("interop test cannot run (%s=1): %s", RequireEnv, reason)
	default:
		t.Skipf("skipping interop test: %s (set %s=1 to make this a failure)", reason, RequireEnv)
	}
}

// requireDecision is the pure part of Require: it returns why the test cannot
// run ("" when it can) and whether that is a failure rather than a skip.
func requireDecision(isRoot bool, missing []string, requireEnv string) (reason string, fatal bool) {
	var why []string
	if !isRoot {
		why = append(why, "needs root (network namespaces)")
	}
	if len(missing) > 0 {
		why = append(why, "missing binaries: "+strings.Join(missing, ", "))
	}
	if len(why) == 0 {
		return "", false
	}
	return strings.Join(why, "; "), strings.TrimSpace(requireEnv) == "1"
}

func binaryExists(name string) bool {
	if filepath.IsAbs(name) {
		st, err := os.Stat(name)
		return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
	}
	_, err := exec.LookPath(name)
	return err == nil
}

// WaitFor polls cond every 50 ms until it returns nil or timeout passes; on
// timeout it calls t.Fatalf with what was awaited and the last error.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	if err := poll(timeout, cond); err != nil {
		t.Fatalf("waiting %v for %s: %v", timeout, what, err)
	}
}

// poll is WaitFor without the testing.TB, for the harness's own waits that
// return errors.
func poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out: %w", err)
		}
		<-tick.C
	}
}
