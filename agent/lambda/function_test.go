package lambda

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/rsagent/rsagent/agent"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

// TestSNSFollowUpsFitTheDeadline: an SNS invocation takes the daemon's
// follow-ups (0.3 s and 1 s) only while a follow-up still has a second of
// work time before the deadline, so that none is cut short into a failed
// invocation. The function runs in-process here; the RIE test runs the
// packaged one.
func TestSNSFollowUpsFitTheDeadline(t *testing.T) {
	for k, v := range vpcsim.OfflineAWSEnv() {
		t.Setenv(k, v)
	}
	l := newLambdaVPC(t)
	_, m, err := agent.Load([]byte("reconcile:\n  region: us-east-1\n  vpc_id: " + testVPC + "\n  endpoint: " + l.srv.URL() + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	fn, err := New(t.Context(), m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		timeout   time.Duration
		followUps int
	}{
		// Work deadline = timeout − max(timeout/10, 0.5 s): 9 s, and 1.7 s
		// (0.3 s leaves 1.4 s, 1 s only 0.7 s).
		{10 * time.Second, 2},
		{2200 * time.Millisecond, 1},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), c.timeout)
		out, err := fn.Invoke(ctx, sampleEvent(t, "sns.json", nil))
		cancel()
		if err != nil {
			t.Fatalf("timeout %v: %v", c.timeout, err)
		}
		var rep PassReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatal(err)
		}
		if rep.Trigger != KindSNS || len(rep.FollowUps) != c.followUps || rep.Pass.Result == "" {
			t.Errorf("timeout %v: %d follow-ups, want %d: %s", c.timeout, len(rep.FollowUps), c.followUps, out)
		}
	}
}
