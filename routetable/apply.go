package routetable

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// EC2's default mutating-call bucket (CreateRoute, ReplaceRoute,
// DeleteRoute): 50 tokens, 5 per second, per account and Region.
const (
	DefaultMutatingBurst     = 50
	DefaultMutatingPerSecond = 5.0
	// maxConcurrency caps the default bound on calls in flight, which is
	// the limiter's burst: what the bucket releases at once should go at
	// once, or latency adds up (104 changes at 50 ms in one trip need 104
	// in flight), and more than that would only queue on the limiter.
	maxConcurrency = 256
	minConcurrency = 8
)

// NewMutatingLimiter mirrors EC2's mutating bucket client-side. It starts
// full, like EC2's, but one token short: EC2 refills from when it takes
// the burst, which is a round trip after we release it, so an exact mirror
// is throttled whenever one request travels a little faster than the
// burst did. One token of slack absorbs a refill interval of jitter and
// costs 1/perSecond on a long run. Share one limiter between the
// reconciler and the Sync Routes handler: they draw on the same account
// bucket.
func NewMutatingLimiter(burst int, perSecond float64) *rate.Limiter {
	if burst <= 0 {
		burst = DefaultMutatingBurst
	}
	if burst > 1 {
		burst--
	}
	if perSecond <= 0 {
		perSecond = DefaultMutatingPerSecond
	}
	if math.IsInf(perSecond, 1) {
		return rate.NewLimiter(rate.Inf, burst)
	}
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

// Outcome is a change after Apply.
type Outcome struct {
	Change
	// Applied is true when EC2 accepted the change (or, in dry-run, when
	// EC2 answered DryRunOperation: it would have).
	Applied bool   `json:"applied"`
	Error   string `json:"error,omitempty"`
	// Code is the EC2 error code of a failure.
	Code string `json:"code,omitempty"`
}

// Applier makes the EC2 calls of a plan, paced by Limiter, many in flight
// at once. The SDK retryer stays behind it as a backstop for throttling
// from other clients in the account.
type Applier struct {
	API     API
	Limiter *rate.Limiter
	// Concurrency bounds calls in flight; 0 means the limiter's burst,
	// between 8 and 256.
	Concurrency int
	// DryRun sets the EC2 DryRun flag on every call.
	DryRun bool
	// Options are passed to every EC2 call (e.g. request counting).
	Options []func(*ec2.Options)
}

// Apply runs every create, replace and delete in changes and returns one
// outcome per change, in order. Skips are returned as not applied. A failed
// change does not stop the others: tables are independent.
func (a *Applier) Apply(ctx context.Context, changes []Change) []Outcome {
	out := make([]Outcome, len(changes))
	lim := a.Limiter
	if lim == nil {
		lim = NewMutatingLimiter(0, 0)
	}
	n := a.Concurrency
	if n <= 0 {
		n = min(max(lim.Burst(), minConcurrency), maxConcurrency)
	}
	opts := append(slices.Clip(a.Options), paceAttempts(lim))
	var g errgroup.Group
	g.SetLimit(n)
	for i, c := range changes {
		out[i].Change = c
		if c.Action == ActionSkip {
			continue
		}
		g.Go(func() error {
			err := a.one(ctx, c, opts)
			if err == nil || a.DryRun && isDryRunOK(err) {
				out[i].Applied = true
				return nil
			}
			out[i].Error = err.Error()
			out[i].Code = ErrorCode(err)
			return nil
		})
	}
	_ = g.Wait()
	return out
}

func (a *Applier) one(ctx context.Context, c Change, opts []func(*ec2.Options)) error {
	dry := aws.Bool(a.DryRun)
	v4 := c.Destination.Addr().Is4()
	var v4dst, v6dst *string
	if v4 {
		v4dst = aws.String(c.Destination.String())
	} else {
		v6dst = aws.String(c.Destination.String())
	}
	var err error
	switch c.Action {
	case ActionCreate:
		_, err = a.API.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(c.Table), DestinationCidrBlock: v4dst,
			DestinationIpv6CidrBlock: v6dst, NetworkInterfaceId: aws.String(c.ENI), DryRun: dry}, opts...)
	case ActionReplace:
		_, err = a.API.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(c.Table), DestinationCidrBlock: v4dst,
			DestinationIpv6CidrBlock: v6dst, NetworkInterfaceId: aws.String(c.ENI), DryRun: dry}, opts...)
	case ActionDelete:
		_, err = a.API.DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: aws.String(c.Table), DestinationCidrBlock: v4dst,
			DestinationIpv6CidrBlock: v6dst, DryRun: dry}, opts...)
	default:
		return fmt.Errorf("unknown action %q", c.Action)
	}
	if err != nil {
		return fmt.Errorf("%s route %s in %s: %w", c.Action, c.Destination, c.Table, err)
	}
	return nil
}

// paceAttempts waits for a token before every attempt of a call, retries
// included: it sits right after the SDK's retry middleware. Pacing only
// first attempts would let throttled retries take tokens the limiter
// already promised to the next call, and the storm would feed itself.
func paceAttempts(lim *rate.Limiter) func(*ec2.Options) {
	return func(o *ec2.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("rsagentPace",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					if err := lim.Wait(ctx); err != nil {
						return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("wait for the mutating bucket: %w", err)
					}
					return next.HandleFinalize(ctx, in)
				}), "Retry", middleware.After)
		})
	}
}
