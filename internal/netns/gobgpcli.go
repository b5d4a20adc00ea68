package netns

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GoBGPv4Version is the GoBGP CLI that GoBGPv4CLI installs: the same version
// as the embedded server.
const GoBGPv4Version = "v4.8.0"

// GoBGPv3CLI is Debian's and Ubuntu's gobgp CLI (package gobgpd, 3.x); it
// talks to the agent's read-only v3 compatibility service.
const GoBGPv3CLI = "/usr/bin/gobgp"

// GoBGPv4CLI returns the path of GoBGP's v4 CLI, installed with
// `go install github.com/osrg/gobgp/v4/cmd/gobgp@v4.8.0` into its own GOBIN
// (os.TempDir()/rsagent-gobgp-v4.8.0), so it coexists with the distro's 3.x
// gobgp. The install runs once per machine (a file lock serialises parallel
// callers; an installed binary that reports the right version is reused).
// It needs the Go module proxy (or a module cache holding GoBGP v4.8.0);
// when the install fails the test skips, or fails with
// RSAGENT_REQUIRE_INTEROP=1.
func GoBGPv4CLI(t testing.TB) string {
	t.Helper()
	path, err := installGoBGPv4()
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("GoBGP %s CLI not available: %v", GoBGPv4Version, err)
	if strings.TrimSpace(os.Getenv(RequireEnv)) == "1" {
		t.Fatalf("interop test cannot run (%s=1): %s", RequireEnv, msg)
	}
	t.Skipf("skipping: %s (set %s=1 to make this a failure)", msg, RequireEnv)
	return ""
}

// goInstall installs the CLI into dir (its GOBIN), outside any module, with
// extra environment.
func goInstall(dir string, env ...string) error {
	cmd := exec.Command("go", "install", "github.com/osrg/gobgp/v4/cmd/gobgp@"+GoBGPv4Version)
	cmd.Dir = dir
	// -buildvcs and friends from the caller's GOFLAGS do not apply to a
	// module@version install.
	cmd.Env = append(append(os.Environ(), "GOBIN="+dir, "GOFLAGS="), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go install: %w\n%s", err, bytes.TrimSpace(out))
	}
	return nil
}

func installGoBGPv4() (string, error) {
	dir := filepath.Join(os.TempDir(), "rsagent-gobgp-"+GoBGPv4Version)
	unlock, err := lockDir(dir)
	if err != nil {
		return "", err
	}
	defer unlock()

	bin := filepath.Join(dir, "gobgp")
	want := "gobgp version " + strings.TrimPrefix(GoBGPv4Version, "v")
	if out, err := exec.Command(bin, "--version").Output(); err == nil && strings.TrimSpace(string(out)) == want {
		return bin, nil
	}
	if err := goInstall(dir); err != nil {
		// Offline (GOPROXY=off, as in a network namespace): the module
		// cache is itself a module proxy; its modules were verified when
		// they were downloaded.
		cache, cerr := exec.Command("go", "env", "GOMODCACHE").Output()
		if cerr != nil || goInstall(dir, "GOPROXY=file://"+filepath.Join(strings.TrimSpace(string(cache)), "cache", "download"), "GOSUMDB=off") != nil {
			return "", err
		}
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || strings.TrimSpace(string(out)) != want {
		return "", fmt.Errorf("%s --version = %q (%v), want %q", bin, out, err, want)
	}
	return bin, nil
}
