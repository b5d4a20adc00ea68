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
	ctx, cancel := budget(ctx, f.now())
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
		return f.pass(ctx, KindSNS, notes)
	default:
		return f.pass(ctx, KindSchedule, nil)
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
	// Applied and Failed count the pass's writes (in dry-run: the writes EC2
	// said it would accept, and those it would refuse).
	Applied int `json:"applied"`
	Failed  int `json:"failed"`
	// EC2Requests counts every EC2 attempt of the pass, retries included;
	// EC2Throttled those EC2 answered RequestLimitExceeded.
	EC2Requests  int               `json:"ec2_requests"`
	EC2Throttled int               `json:"ec2_throttled"`
	Pass         routetable.Result `json:"pass"`
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

func (f *Function) pass(ctx context.Context, trigger Kind, notes []Notification) ([]byte, error) {
	before := f.count.snapshot()
	res, err := f.rec.RunOnce(ctx)
	after := f.count.snapshot()
	rep := PassReport{Trigger: trigger, Notifications: notes, Pass: res,
		EC2Requests: after.requests - before.requests, EC2Throttled: after.throttled - before.throttled}
	for _, o := range res.Changes {
		switch {
		case o.Applied:
			rep.Applied++
		case o.Error != "":
			rep.Failed++
		}
	}
	attrs := []any{"trigger", string(trigger), "vpc_id", res.VPCID, "result", res.Result, "dry_run", res.DryRun,
		"changes", len(res.Changes), "applied", rep.Applied, "failed", rep.Failed,
		"ec2_requests", rep.EC2Requests, "ec2_throttled", rep.EC2Throttled,
		"duration_seconds", res.DurationSeconds, "notifications", len(notes)}
	if err != nil {
		f.log.Warn("reconcile pass failed", append(attrs, "failures", res.Failures, "error", err)...)
		return nil, &PassError{Report: rep, Err: err}
	}
	f.log.Info("reconcile pass", attrs...)
	return json.Marshal(rep)
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
