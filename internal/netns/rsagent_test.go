package netns

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProcessStampTellsProcessesApart(t *testing.T) {
	self := processStamp(os.Getpid())
	if !strings.HasPrefix(self, strconv.Itoa(os.Getpid())+" ") || len(strings.Fields(self)) != 2 {
		t.Fatalf("stamp of this process = %q, want \"<pid> <start time>\"", self)
	}
	if processStamp(os.Getpid()) != self {
		t.Error("the stamp of one process changed between two reads")
	}
	if got := processStamp(1); got == self || got == "" {
		t.Errorf("stamp of pid 1 = %q, want a different non-empty stamp", got)
	}
	if got := processStamp(1 << 30); got != "" {
		t.Errorf("stamp of a missing process = %q, want \"\"", got)
	}
}

func TestRsagentBinaryIsBuiltOnceAndReused(t *testing.T) {
	if _, err := os.Stat(filepath.Join("..", "..", "cmd", "rsagent", "main.go")); err != nil {
		t.Skipf("cmd/rsagent not written yet: %v", err)
	}
	first := RsagentBinary(t)
	st1, err := os.Stat(first)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	second := RsagentBinary(t)
	st2, err := os.Stat(second)
	if err != nil {
		t.Fatal(err)
	}
	if first != second || !st1.ModTime().Equal(st2.ModTime()) {
		t.Errorf("second call gave %s (mtime %v), want the same binary %s (mtime %v)", second, st2.ModTime(), first, st1.ModTime())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second call took %v; it should reuse the binary", d)
	}
}
