package lambda

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/rsagent/rsagent/agent"
	"github.com/rsagent/rsagent/routetable"
)

// Function is the Lambda handler. Build it once per execution environment
// (at init, before the first event) and keep it: warm invocations reuse its
// EC2 client, its write budget and what the reconciler remembers.
type Function struct {
	rec      *agent.ReconcileFunction
	api      http.Handler
	innerKey string
	log      *slog.Logger
	count    *counter
	now      func() time.Time
}

// New builds the function from a validated config. The config must hold a
// reconcile section and no speaker (bgp, services): a Lambda cannot keep BGP
// sessions. log should write JSON (CloudWatch Logs).
func New(ctx context.Context, m *agent.Model, log *slog.Logger) (*Function, error) {
	if m.Reconcile == nil {
		return nil, &agent.ConfigError{Problems: []string{"reconcile: the Lambda needs a reconcile section (see deploy/examples/lambda.yaml)"}}
	}
	if !m.ReconcileOnly {
		return nil, &agent.ConfigError{Problems: []string{"bgp, services: a Lambda cannot hold BGP sessions; ship a config with only reconcile (and log) (see deploy/examples/lambda.yaml)"}}
	}
	// API Gateway checks the caller's key before the event exists (see
	// serveAPI); the handler still wants one, so it gets a key that only
	// this process knows.
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("lambda: generate the internal API key: %w", err)
	}
	c := &counter{}
	rec, err := agent.NewReconcileFunction(ctx, m.Reconcile, log, c)
	if err != nil {
		return nil, err
	}
	key := hex.EncodeToString(raw)
	return &Function{rec: rec, api: rec.SyncRoutes([]byte(key)), innerKey: key, log: log, count: c, now: time.Now}, nil
}

// Invoke implements aws-lambda-go's lambda.Handler: one event in, its
// result (or an invocation error) out.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	kind, err := Classify(payload)
	if err != nil {
		f.log.Error("unsupported event", "error", err, "payload_bytes", len(payload))
		return nil, err
	}
	start := f.now()
	ctx, cancel := budget(ctx, start)
	defer cancel()
	switch kind {
	case KindAPIGateway:
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, &UnsupportedEventError{What: "an API Gateway proxy event that does not decode: " + err.Error()}
		}
		return json.Marshal(f.serveAPI(ctx, ev))
	case KindSNS:
		var ev events.SNSEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, &UnsupportedEventError{What: "an SNS event that does not decode: " + err.Error()}
		}
		var notes []Notification
		for _, r := range ev.Records {
			notes = append(notes, Notification{TopicARN: r.SNS.TopicArn, Subject: r.SNS.Subject, MessageID: r.SNS.MessageID})
		}
		// Route Server installs what the notification is about
		// asynchronously: look again when the daemon would.
		return f.passes(ctx, KindSNS, notes, start, f.rec.FollowUps())
	default:
		return f.passes(ctx, KindSchedule, nil, start, nil)
	}
}

// Notification is one SNS message that triggered a pass.
type Notification struct {
	TopicARN  string `json:"topic_arn"`
	Subject   string `json:"subject,omitempty"`
	MessageID string `json:"message_id"`
}

// PassReport is the result of a scheduled or SNS-triggered invocation.
type PassReport struct {
	Trigger       Kind           `json:"trigger"`
	Notifications []Notification `json:"notifications,omitempty"`
	// Applied and Failed count the writes of every pass of the invocation
	// (in dry-run: the writes EC2 said it would accept, and those it would
	// refuse).
	Applied int `json:"applied"`
	Failed  int `json:"failed"`
	// EC2Requests counts every EC2 attempt of the invocation, retries
	// included; EC2Throttled those EC2 answered RequestLimitExceeded.
	EC2Requests  int               `json:"ec2_requests"`
	EC2Throttled int               `json:"ec2_throttled"`
	Pass         routetable.Result `json:"pass"`
	// FollowUps are the passes an SNS notification runs after the first one,
	// 0.3 s and 1 s after it arrived, as far as the deadline allows.
	FollowUps []routetable.Result `json:"follow_ups,omitempty"`
}

// PassError is the invocation error of a pass that did not fully succeed.
// The report is in the function's log; the next scheduled pass retries.
type PassError struct {
	Report PassReport
	Err    error
}

func (e *PassError) Error() string {
	return fmt.Sprintf("%s pass: %d applied, %d failed: %v", e.Report.Trigger, e.Report.Applied, e.Report.Failed, e.Err)
}

func (e *PassError) Unwrap() error { return e.Err }

// followUpBudget is the least work time a follow-up pass must have left.
const followUpBudget = time.Second

// passes runs one pass at once and one at each of followUps after start,
// while ctx's deadline leaves room, and reports them together. A pass that
// fails ends the invocation with a PassError: the next trigger retries.
func (f *Function) passes(ctx context.Context, trigger Kind, notes []Notification, start time.Time, followUps []time.Duration) ([]byte, error) {
	rep := PassReport{Trigger: trigger, Notifications: notes}
	res, err := f.pass(ctx, &rep, 0)
	rep.Pass = res
	for i, d := range followUps {
		if err != nil {
			break
		}
		at := start.Add(d)
		if dl, ok := ctx.Deadline(); ok && dl.Sub(at) < followUpBudget {
			break // a follow-up cut short by the deadline would fail an invocation that succeeded
		}
		t := time.NewTimer(at.Sub(f.now()))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
		res, err = f.pass(ctx, &rep, i+1)
		rep.FollowUps = append(rep.FollowUps, res)
	}
	if err != nil {
		return nil, &PassError{Report: rep, Err: err}
	}
	return json.Marshal(rep)
}

// pass runs one reconcile pass, adds what it did to rep and logs it.
func (f *Function) pass(ctx context.Context, rep *PassReport, followUp int) (routetable.Result, error) {
	before := f.count.snapshot()
	res, err := f.rec.RunOnce(ctx)
	after := f.count.snapshot()
	requests, throttled := after.requests-before.requests, after.throttled-before.throttled
	rep.EC2Requests += requests
	rep.EC2Throttled += throttled
	var applied, failed int
	for _, o := range res.Changes {
		switch {
		case o.Applied:
			applied++
		case o.Error != "":
			failed++
		}
	}
	rep.Applied += applied
	rep.Failed += failed
	attrs := []any{"trigger", string(rep.Trigger), "follow_up", followUp, "vpc_id", res.VPCID, "result", res.Result,
		"dry_run", res.DryRun, "changes", len(res.Changes), "applied", applied, "failed", failed,
		"ec2_requests", requests, "ec2_throttled", throttled,
		"duration_seconds", res.DurationSeconds, "notifications", len(rep.Notifications)}
	if err != nil {
		f.log.Warn("reconcile pass failed", append(attrs, "failures", res.Failures, "error", err)...)
		return res, err
	}
	f.log.Info("reconcile pass", attrs...)
	return res, nil
}

// budget bounds the work of one invocation so that it ends, and reports,
// before Lambda's deadline kills the process: it keeps a tenth of the time
// left in reserve (at least 500 ms, at most 5 s) for notifying, logging and
// answering. Without a deadline (never in Lambda) it changes nothing.
func budget(ctx context.Context, now time.Time) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, workDeadline(dl, now))
}

func workDeadline(dl, now time.Time) time.Time {
	reserve := min(max(dl.Sub(now)/10, 500*time.Millisecond), 5*time.Second)
	return dl.Add(-reserve)
}

// counter is the routetable.Observer of the function: it counts what the
// invocation result reports. The embedded NopObserver absorbs measurements
// the result does not carry.
type counter struct {
	routetable.NopObserver
	mu        sync.Mutex
	requests  int
	throttled int
}

type counts struct{ requests, throttled int }

// EC2Request implements routetable.Observer.
func (c *counter) EC2Request(_, code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	if code == "RequestLimitExceeded" {
		c.throttled++
	}
}

func (c *counter) snapshot() counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return counts{c.requests, c.throttled}
}
