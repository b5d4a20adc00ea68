package routetable

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go/middleware"
	"golang.org/x/sync/errgroup"
)

// minConcurrency is the least bound on calls in flight Apply uses by
// default; the limiter's window is what really bounds them.
const minConcurrency = 8

// Outcome is a change after Apply.
type Outcome struct {
	Change
	// Applied is true when EC2 accepted the change (or, in dry-run, when
	// EC2 answered DryRunOperation: it would have).
	Applied bool   `json:"applied"`
	Error   string `json:"error,omitempty"`
	// Code is the EC2 error code of a failure.
	Code string `json:"code,omitempty"`
	// Throttled is set when EC2 refused the change for its rate
	// (RequestLimitExceeded), or when it was not sent because another call
	// of the same Apply was: someone else is spending the account's
	// tokens, so the caller should re-read the tables and plan again
	// before retrying it. Error is empty when it was not sent.
	Throttled bool `json:"throttled,omitempty"`
	// Deferred is set on a change left to the appliance that owns the
	// route (see Config.NetworkInterfaceIDs); it was not sent.
	Deferred bool `json:"deferred,omitempty"`
}

// Applier makes the EC2 calls of a plan, paced by Limiter, many in flight
// at once. Share the Limiter with every other writer in the process.
type Applier struct {
	API     API
	Limiter *Limiter
	// Concurrency bounds calls in flight; 0 means the limiter's burst,
	// between 8 and 256. The limiter's window bounds them further.
	Concurrency int
	// DryRun sets the EC2 DryRun flag on every call.
	DryRun bool
	// Options are passed to every EC2 call (e.g. request counting).
	Options []func(*ec2.Options)
}

// ErrNotSent means a change was not sent because another call of the same
// Apply was throttled.
var ErrNotSent = errors.New("not sent: EC2 throttled another call of this batch")

// Apply runs every create, replace and delete in changes and returns one
// outcome per change, in order. Skips and deferred changes are returned as
// not applied. A failed change does not stop the others: tables are
// independent. A throttled one does: once EC2 answers RequestLimitExceeded,
// the changes not yet sent are returned with Throttled set, for the caller
// to re-plan from a fresh read (another writer may have made them). The SDK
// does not retry a throttled write; other retryable errors it retries,
// each attempt paced by the limiter.
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
	stop, stopSending := context.WithCancel(ctx)
	defer stopSending()
	var throttled atomic.Bool
	opts := append(slices.Clip(a.Options), paceAttempts(lim, stop), noThrottleRetries)
	var g errgroup.Group
	g.SetLimit(n)
	for i, c := range changes {
		out[i].Change = c
		if c.Action == ActionSkip {
			continue
		}
		g.Go(func() error {
			if throttled.Load() {
				out[i].Throttled = true
				return nil
			}
			err := a.one(ctx, c, opts)
			switch {
			case err == nil || a.DryRun && isDryRunOK(err):
				out[i].Applied = true
			case errors.Is(err, ErrNotSent):
				out[i].Throttled = true
			default:
				out[i].Error = err.Error()
				out[i].Code = ErrorCode(err)
				if IsThrottle(err) {
					out[i].Throttled = true
					throttled.Store(true)
					stopSending()
				}
			}
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

// paceAttempts takes the limiter's permission before every attempt of a
// call, retries included, and tells it how the attempt went: it sits right
// after the SDK's retry middleware. Pacing only first attempts would let
// retries take tokens the limiter already promised to the next call, and
// the storm would feed itself. Once stop is done, an attempt still waiting
// is not sent (ErrNotSent); one already sent is never cancelled, since EC2
// may apply it whatever we do.
func paceAttempts(lim *Limiter, stop context.Context) func(*ec2.Options) {
	return func(o *ec2.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Finalize.Insert(middleware.FinalizeMiddlewareFunc("rsagentPace",
				func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
					done, err := lim.Acquire(stop)
					if err != nil {
						if ctx.Err() == nil && stop.Err() != nil {
							err = ErrNotSent
						}
						return middleware.FinalizeOutput{}, middleware.Metadata{}, err
					}
					out, md, err := next.HandleFinalize(ctx, in)
					done(err)
					return out, md, err
				}), "Retry", middleware.After)
		})
	}
}

// noThrottleRetries keeps the SDK from retrying a throttled write: Apply
// hands it back to be re-planned, and the limiter has already slowed down.
func noThrottleRetries(o *ec2.Options) {
	if o.Retryer != nil {
		o.Retryer = throttleNotRetryable{o.Retryer}
	}
}

type throttleNotRetryable struct{ aws.Retryer }

func (r throttleNotRetryable) IsErrorRetryable(err error) bool {
	return !IsThrottle(err) && r.Retryer.IsErrorRetryable(err)
}

// GetAttemptToken keeps aws.RetryerV2 behaviour when the wrapped retryer
// has it.
func (r throttleNotRetryable) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if v2, ok := r.Retryer.(aws.RetryerV2); ok {
		return v2.GetAttemptToken(ctx)
	}
	return r.GetInitialToken(), nil
}
