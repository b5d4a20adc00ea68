package health

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// lateGrace is how long a round waits past the timeout for a check that
// ignores its context before judging it failed without its answer.
const lateGrace = 500 * time.Millisecond

// Round runs one set of checks in parallel, each under a timeout, and
// collects their results. A Monitor runs one per service; direct mode runs
// one per host. Run may be called again as soon as it returns, from one
// goroutine at a time.
type Round struct {
	checks  []Checker
	timeout atomic.Int64 // time.Duration; SetTimeout may change it between runs
	// inflight marks checks whose goroutine has not returned yet.
	inflight []atomic.Bool
}

// NewRound returns a Round for checks, each bounded by timeout.
func NewRound(checks []Checker, timeout time.Duration) *Round {
	r := &Round{checks: checks, inflight: make([]atomic.Bool, len(checks))}
	r.timeout.Store(int64(timeout))
	return r
}

// SetTimeout changes the timeout of the runs that start afterwards.
func (r *Round) SetTimeout(d time.Duration) { r.timeout.Store(int64(d)) }

type checkResult struct {
	i  int
	cs CheckStatus
}

// Run runs every check in parallel, each under the timeout, and waits for
// all of them, but no longer than timeout+lateGrace: a checker that ignores
// its deadline must not freeze the verdict. Such a check counts as failed,
// and is not started again until its previous run has returned. If ctx
// ends first, the results are incomplete and must not be judged.
func (r *Round) Run(ctx context.Context) []CheckStatus {
	timeout := time.Duration(r.timeout.Load())
	out := make([]CheckStatus, len(r.checks))
	results := make(chan checkResult, len(r.checks))
	started := 0
	for i, c := range r.checks {
		if !r.inflight[i].CompareAndSwap(false, true) {
			out[i] = CheckStatus{Check: c.String(), At: time.Now(), Error: "previous run has not returned"}
			continue
		}
		started++
		go func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			start := time.Now()
			err := c.Check(cctx)
			if err == nil && cctx.Err() != nil {
				// A checker that passed after its deadline is still late.
				err = cctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = fmt.Errorf("timed out after %v: %w", timeout, err)
			}
			cs := CheckStatus{Check: c.String(), OK: err == nil, At: start, Duration: time.Since(start)}
			if err != nil {
				cs.Error = err.Error()
			}
			// Cleared before the send, so the next round, which may start
			// as soon as this one has its results, finds it free.
			r.inflight[i].Store(false)
			results <- checkResult{i, cs}
		}()
	}
	late := time.NewTimer(timeout + lateGrace)
	defer late.Stop()
	got := make([]bool, len(out))
	for ; started > 0; started-- {
		select {
		case res := <-results:
			out[res.i], got[res.i] = res.cs, true
		case <-ctx.Done():
			return out
		case <-late.C:
			for i, c := range r.checks {
				if !got[i] && out[i].Check == "" {
					out[i] = CheckStatus{Check: c.String(), At: time.Now(), Error: fmt.Sprintf("did not return within %v", timeout+lateGrace)}
				}
			}
			return out
		}
	}
	return out
}
