package health

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNewExec(t *testing.T) {
	t.Run("an empty command is refused", func(t *testing.T) {
		for _, argv := range [][]string{nil, {}, {""}} {
			if _, err := NewExec(argv); err == nil {
				t.Errorf("NewExec(%q) accepted", argv)
			}
		}
	})
	t.Run("String shows the argv and later edits to it do not leak in", func(t *testing.T) {
		argv := []string{"/usr/local/bin/fw-ok", "--quick"}
		c, err := NewExec(argv)
		if err != nil {
			t.Fatal(err)
		}
		argv[1] = "--slow"
		if got := c.String(); got != "exec /usr/local/bin/fw-ok --quick" {
			t.Errorf("String() = %q", got)
		}
	})
}

// script writes an executable shell script into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// readPid waits for a script to have written a pid into file.
func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the script did not record a pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("bad pid %q in %s", b, file)
	}
	return pid
}

// waitGone polls until pid has exited (gone, or a zombie awaiting its new
// parent), failing the test after a deadline.
func waitGone(t *testing.T, what string, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		// The state follows the parenthesised command name.
		if i := strings.LastIndexByte(string(b), ')'); err == nil && i > 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL) // do not leave it behind
			t.Fatalf("%s (pid %d) is still running", what, pid)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline, not synchronising
	}
}

func TestExecCheck(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		argv []string
		want []string // nil passes, else substrings of the error
	}{
		{"true passes", []string{"true"}, nil},
		{"false fails with its exit status", []string{"false"}, []string{"exit status 1"}},
		{"a failing script's output is quoted on one line", []string{script(t, dir, "loud", "echo 'fw: not'\necho '  ready' >&2\nexit 3\n")}, []string{"exit status 3: fw: not ready"}},
		{"arguments are passed without a shell", []string{"sh", "-c", `test "$1" = "a b"`, "sh", "a b"}, nil},
		{"a missing program fails", []string{"/nonexistent/rsagent-check"}, []string{"no such file"}},
		{"a program not in PATH fails", []string{"rsagent-no-such-check"}, []string{"not found"}},
		{"a flood of output does not block and is cut short", []string{"sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' x; exit 1"}, []string{"exit status 1: xxx", "…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewExec(tt.argv)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err = c.Check(ctx)
			if tt.want == nil {
				if err != nil {
					t.Errorf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check passed, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check = %q, want it to contain %q", err, w)
				}
			}
			if len(err.Error()) > maxExecReason+100 {
				t.Errorf("error is %d bytes long", len(err.Error()))
			}
		})
	}

	t.Run("a command that outlives its timeout is killed with the children it forked", func(t *testing.T) {
		leader, child := filepath.Join(dir, "leader.pid"), filepath.Join(dir, "child.pid")
		c, err := NewExec([]string{script(t, dir, "hang",
			"sleep 60 &\necho $! > "+child+"\necho $$ > "+leader+"\necho waiting\nwait\n")})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		defer cancel()
		err = c.Check(ctx)
		if err == nil || !strings.Contains(err.Error(), "killed: context deadline exceeded: waiting") {
			t.Errorf("Check = %v, want killed at the deadline with the output", err)
		}
		waitGone(t, "the script", readPid(t, leader))
		waitGone(t, "its child", readPid(t, child))
	})

	t.Run("a command that exits 0 leaving a child passes and the child is killed", func(t *testing.T) {
		child := filepath.Join(dir, "bg.pid")
		c, err := NewExec([]string{script(t, dir, "bg", "sleep 60 &\necho $! > "+child+"\nexit 0\n")})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if err := c.Check(ctx); err != nil {
			t.Errorf("Check = %v, want nil", err)
		}
		waitGone(t, "the background child", readPid(t, child))
	})
}
