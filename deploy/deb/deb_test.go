// Package deb_test proves the Debian package `make deb` builds: it installs
// into a scratch root, its binary runs, lintian finds no error or warning, its systemd
// unit passes `systemd-analyze verify` and its sysusers.d file creates the
// user the unit runs as.
package deb_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rsagent/rsagent/internal/netns"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found: %v", err)
	}
	return root
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDebianPackage(t *testing.T) {
	netns.RequireBinaries(t, "make", "git", "dpkg-deb", "lintian", "systemd-analyze", "systemd-sysusers")
	root := repoRoot(t)
	out := t.TempDir()
	run(t, root, "make", "--no-print-directory", "deb", "BIN="+filepath.Join(out, "rsagent"), "DEBDIR="+out)
	debs, err := filepath.Glob(filepath.Join(out, "rsagent_*.deb"))
	if err != nil || len(debs) != 1 {
		t.Fatalf("make deb left %d packages in %s: %v", len(debs), out, err)
	}
	deb := debs[0]
	scratch := filepath.Join(t.TempDir(), "root")
	run(t, root, "dpkg-deb", "-x", deb, scratch)

	t.Run("the package holds the binary, unit, sysusers file, examples, docs and man pages", func(t *testing.T) {
		list := run(t, root, "dpkg-deb", "-c", deb)
		for _, want := range []string{
			"./usr/bin/rsagent", "./lib/systemd/system/rsagent.service", "./lib/systemd/system/rsagent-router.service",
			"./usr/lib/sysusers.d/rsagent.conf", "./usr/share/doc/rsagent/examples/route-spec.json", "./usr/share/doc/rsagent/direct-mode.md",
			"./usr/share/doc/rsagent/copyright", "./usr/share/doc/rsagent/changelog.gz",
			"./usr/share/doc/rsagent/README.md", "./usr/share/doc/rsagent/serverless.md", "./usr/share/doc/rsagent/config.md",
			"./usr/share/doc/rsagent/examples/firewall-primary.yaml", "./usr/share/doc/rsagent/examples/firewall-standby.yaml",
			"./usr/share/doc/rsagent/examples/voice.yaml", "./usr/share/doc/rsagent/examples/reconciler.yaml",
			"./usr/share/doc/rsagent/examples/lambda.yaml", "./usr/share/doc/rsagent/examples/router.yaml",
			"./usr/share/man/man1/rsagent.1.gz", "./usr/share/man/man1/rsagent-run.1.gz", "./usr/share/man/man1/rsagent-router.1.gz",
		} {
			if !strings.Contains(list, " "+want+"\n") {
				t.Errorf("the package lacks %s:\n%s", want, list)
			}
		}
		if arch := strings.TrimSpace(run(t, root, "dpkg-deb", "-f", deb, "Architecture")); arch == "" {
			t.Error("no Architecture field")
		}
	})

	t.Run("rsagent version runs from the scratch root", func(t *testing.T) {
		got := run(t, root, filepath.Join(scratch, "usr/bin/rsagent"), "version")
		if !regexp.MustCompile(`^rsagent \S+`).MatchString(got) {
			t.Errorf("rsagent version printed %q", got)
		}
	})

	t.Run("lintian reports no error and no warning", func(t *testing.T) {
		cmd := exec.Command("lintian", "--tag-display-limit", "0", deb)
		report, err := cmd.CombinedOutput()
		var errs []string
		for _, line := range strings.Split(string(report), "\n") {
			if strings.HasPrefix(line, "E: ") || strings.HasPrefix(line, "W: ") {
				errs = append(errs, line)
			}
		}
		if len(errs) > 0 || err != nil {
			t.Errorf("lintian (%v):\n%s", err, report)
		}
		t.Logf("lintian:\n%s", report)
	})

	for _, u := range []struct{ unit, cmd string }{{"rsagent.service", "run"}, {"rsagent-router.service", "router"}} {
		t.Run("systemd-analyze verify accepts the packaged "+u.unit, func(t *testing.T) {
			// verify checks that ExecStart's binary exists on this host, so the
			// copy points at the binary in the scratch root; nothing else changes.
			unit, err := os.ReadFile(filepath.Join(scratch, "lib/systemd/system", u.unit))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(unit), "ExecStart=/usr/bin/rsagent "+u.cmd) {
				t.Fatalf("the unit does not start /usr/bin/rsagent %s:\n%s", u.cmd, unit)
			}
			path := filepath.Join(t.TempDir(), u.unit)
			local := strings.ReplaceAll(string(unit), "ExecStart=/usr/bin/rsagent", "ExecStart="+filepath.Join(scratch, "usr/bin/rsagent"))
			if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
				t.Fatal(err)
			}
			// verify exits 0 on unknown keys and only warns: any output fails.
			if out := run(t, root, "systemd-analyze", "verify", path); strings.TrimSpace(out) != "" {
				t.Errorf("systemd-analyze verify:\n%s", out)
			}
			// The same check sees a misspelt directive, so its silence means something.
			bad := filepath.Join(t.TempDir(), u.unit)
			if err := os.WriteFile(bad, []byte(strings.Replace(local, "RestrictRealtime=", "RestrictRealtim=", 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, _ := exec.Command("systemd-analyze", "verify", bad).CombinedOutput(); !strings.Contains(string(out), "RestrictRealtim") {
				t.Errorf("systemd-analyze verify did not notice a misspelt key: %q", out)
			}
		})
	}

	t.Run("the sysusers.d file creates the user the unit runs as", func(t *testing.T) {
		sys := t.TempDir()
		if err := os.MkdirAll(filepath.Join(sys, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		run(t, root, "systemd-sysusers", "--root="+sys, filepath.Join(scratch, "usr/lib/sysusers.d/rsagent.conf"))
		passwd, err := os.ReadFile(filepath.Join(sys, "etc/passwd"))
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^rsagent:x:\d+:\d+:[^:]*:/:/usr/sbin/nologin$`).Match(passwd) {
			t.Errorf("passwd:\n%s", passwd)
		}
	})
}
