package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Proc is a process started in a namespace by Start.
type Proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // set before done is closed
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Start runs a command in the background inside n. Its stdout and stderr go to
// a log file under t.TempDir() (see Proc.Log). At cleanup it gets SIGTERM, then
// SIGKILL after 2 s; its whole process group is signalled, so children go too.
// If the test failed, the cleanup logs the tail of the process's output.
func (n *NS) Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	return startCmd(t, exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...),
		name, fmt.Sprintf("%s %s (in %s)", name, strings.Join(args, " "), n.Name))
}

// StartCmd runs a prepared command (its Dir and Env set by the caller) in
// the background where the test runs, and stops and reports it as Start
// does.
func StartCmd(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	return startCmd(t, cmd, cmd.Path, strings.Join(cmd.Args, " "))
}

func startCmd(t testing.TB, cmd *exec.Cmd, name, what string) *Proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), unsafeFileChars.ReplaceAllString(filepath.Base(name), "_")+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("create log for %s: %v", name, err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	p := &Proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.stop(2 * time.Second); err != nil {
			t.Errorf("stopping %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("last output of %s:\n%s", what, tail(p.Log(), 40))
		}
	})
	return p
}

// stop ends the process group politely, then forcibly.
func (p *Proc) stop(grace time.Duration) error {
	if p.Exited() {
		return nil
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGKILL process group %d: %w", pgid, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("process %d did not exit after SIGKILL", pgid)
	}
}

// Pid returns the process id (in the root pid namespace).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v to %s (pid %d): %w", sig, p.name, p.Pid(), err)
	}
	return nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits up to timeout for the process to end and returns its exit error
// (nil for exit status 0), or an error saying it is still running.
func (p *Proc) Wait(timeout time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		return fmt.Errorf("%s (pid %d) still running after %v", p.name, p.Pid(), timeout)
	}
}

// ExitCode returns the exit status once the process has ended, or -1 while it
// runs or when a signal ended it.
func (p *Proc) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Log returns everything the process wrote to stdout and stderr so far.
func (p *Proc) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.logPath, err)
	}
	return string(b)
}

// LogPath returns the file that receives the process's output.
func (p *Proc) LogPath() string { return p.logPath }

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
