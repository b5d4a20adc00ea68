package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// maxExecOutput is how much of a command's combined output is kept for
	// the error message; the rest is read and discarded so the command never
	// blocks on a full pipe.
	maxExecOutput = 4 << 10
	// maxExecReason bounds the output quoted in the error, which ends up in
	// logs and /status.
	maxExecReason = 256
	// execWaitDelay bounds how long a check waits for a killed command to
	// exit and for its output pipe to close.
	execWaitDelay = 200 * time.Millisecond
)

// execCheck passes when the command exits 0.
type execCheck struct {
	argv []string
}

// NewExec returns a check that runs argv (no shell) and passes on exit
// status 0, like ExaBGP's healthcheck command. argv[0] is looked up in PATH
// when it is run, not now, so a config can be checked on another machine.
//
// The command runs in its own process group. When ctx ends (the monitor's
// timeout) the whole group is killed with SIGKILL, and the group is killed
// also after the command exits, so a check never leaks the children it
// forked. Something meant to outlive the check must be started through
// systemd-run or setsid. The first 4 KiB of combined stdout and stderr are
// kept and the start of it is quoted in the error.
func NewExec(argv []string) (Checker, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("exec check: empty command")
	}
	return &execCheck{argv: append([]string(nil), argv...)}, nil
}

func (c *execCheck) Check(ctx context.Context) error {
	// A pipe of our own rather than os/exec's: its Wait would wait for every
	// holder of the pipe, including children left behind, before we could
	// kill them.
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create output pipe: %w", err)
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = execWaitDelay
	err = cmd.Start()
	w.Close()
	if err != nil {
		return err
	}
	var out limitedBuffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(&out, r)
	}()
	err = cmd.Wait()
	// The leader is reaped, but Linux does not reuse a pid while a process
	// group with that id still has members, so this reaches only our
	// leftover children.
	_ = killGroup(cmd)
	select {
	case <-copied:
	case <-time.After(execWaitDelay):
		// Someone outside the group (setsid) still holds the pipe; the
		// deferred Close ends the copy.
	}
	if ctx.Err() != nil {
		return fmt.Errorf("killed: %w%s", ctx.Err(), out.reason())
	}
	if err != nil {
		return fmt.Errorf("%w%s", err, out.reason())
	}
	return nil
}

func (c *execCheck) String() string { return "exec " + strings.Join(c.argv, " ") }

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// limitedBuffer keeps the first maxExecOutput bytes written to it and
// accepts (drops) the rest. The copying goroutine writes while reason may
// read after a timeout, hence the lock.
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxExecOutput - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// reason renders the captured output for an error: ": " and the output
// folded onto one line and cut short, or "" when there was none.
func (b *limitedBuffer) reason() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := strings.Join(strings.Fields(string(b.buf)), " ")
	if s == "" {
		return ""
	}
	if len(s) > maxExecReason {
		s = strings.ToValidUTF8(s[:maxExecReason], "") + "…"
	}
	return ": " + s
}
