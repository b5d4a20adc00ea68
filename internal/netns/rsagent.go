package netns

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// RsagentBinary builds ./cmd/rsagent once per test process and returns the
// binary's path (os.TempDir()/rsagent-test-<pid>/rsagent). A failed build
// fails the test with the compiler's output.
//
// "Once" is kept on disk rather than in a package variable: an flock on the
// directory serialises parallel callers, and a stamp with this process's start
// time tells a binary built by this process from one left by an earlier
// process that had the same pid. Directories of processes that no longer run
// are removed on the way.
func RsagentBinary(t testing.TB) string {
	t.Helper()
	path, err := buildRsagent()
	if err != nil {
		t.Fatalf("build rsagent: %v", err)
	}
	return path
}

func buildRsagent() (string, error) {
	removeStaleBuildDirs()
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("rsagent-test-%d", os.Getpid()))
	unlock, err := lockDir(dir)
	if err != nil {
		return "", err
	}
	defer unlock()

	bin := filepath.Join(dir, "rsagent")
	stampPath := filepath.Join(dir, "built-by")
	stamp := processStamp(os.Getpid())
	if got, err := os.ReadFile(stampPath); err == nil && string(got) == stamp {
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return "", errors.New("go env GOMOD: not inside the rsagent module")
	}
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/rsagent")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/rsagent in %s: %w\n%s", root, err, bytes.TrimSpace(out))
	}
	if err := os.WriteFile(stampPath, []byte(stamp), 0o644); err != nil {
		return "", err
	}
	return bin, nil
}

// processStamp identifies a process across pid reuse: its pid and start time
// (field 22 of /proc/PID/stat). It is "" when the process does not exist.
func processStamp(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name (field 2) may contain spaces; fields after it are
	// counted from the closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return strconv.Itoa(pid) + " " + f[19]
}

func removeStaleBuildDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "rsagent-test-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "rsagent-test-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		running := processStamp(pid)
		stamp, err := os.ReadFile(filepath.Join(d, "built-by"))
		if running == "" || (err == nil && string(stamp) != running) {
			os.RemoveAll(d)
		}
	}
}

// lockDir creates dir if needed and takes an exclusive flock on it, which
// serialises test processes that build or install into it.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
