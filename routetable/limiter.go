package routetable

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"golang.org/x/time/rate"
)

// EC2's default mutating-call bucket (CreateRoute, ReplaceRoute,
// DeleteRoute): 50 tokens, 5 per second, per account and Region.
const (
	DefaultMutatingBurst     = 50
	DefaultMutatingPerSecond = 5.0
	// maxConcurrency caps calls in flight: what the bucket releases at once
	// should go at once, or latency adds up (104 changes at 50 ms in one
	// trip need 104 in flight), and more would only queue on the limiter.
	maxConcurrency = 256
)

// aimd holds the limiter's constants; docs/adr/0009-aimd-mutating-limiter.md
// says why these values. Only tests build other sets.
type aimd struct {
	// decrease multiplies the refill rate on a throttle (TCP halves its
	// window).
	decrease float64
	// floorShare is the lowest rate as a share of the configured one: 0.5/s
	// at EC2's default 5/s, the AWS SDK adaptive mode's minimum.
	floorShare float64
	// increaseShare is the additive recovery, as a share of the configured
	// rate per second without a throttle.
	increaseShare float64
	// initialWindow is how many calls may be in flight when the limiter
	// starts or has been idle for idleRestart; each call EC2 answers
	// without throttling adds growth, each throttle halves it (TCP slow
	// start and restart after idle).
	initialWindow float64
	growth        float64
	idleRestart   time.Duration
}

func defaultAIMD() aimd {
	return aimd{decrease: 0.5, floorShare: 0.1, increaseShare: 0.02, initialWindow: 4, growth: 0.5, idleRestart: time.Second}
}

// Limiter paces the mutating EC2 calls of every writer in one process: the
// reconciler, the Sync Routes API and direct mode share one, because they
// draw on the same account bucket. It is a token bucket sized like EC2's,
// one token short (EC2 refills from when it takes the burst, a round trip
// after we release it, so an exact mirror is throttled whenever one request
// travels a little faster than the burst did), and it assumes other writers
// exist:
//
//   - Calls in flight are bounded by a window that starts at 4 and grows by
//     one per accepted call, so a writer that finds the account's bucket
//     already spent learns it from a handful of calls rather than a blind
//     burst of 49.
//   - When EC2 answers RequestLimitExceeded anyway, the refill rate is
//     halved (down to a tenth of the configured rate), the tokens on hand
//     are dropped, the burst shrinks to one second's worth and the window
//     halves; then the rate recovers additively while calls succeed. One
//     congestion event cuts once: throttles of calls sent before the cut
//     carry no news.
//
// Its zero value is not usable; build it with NewMutatingLimiter.
type Limiter struct {
	ceilRate  float64 // the configured refill rate; +Inf = unlimited
	ceilBurst int
	p         aimd

	mu        sync.Mutex
	bucket    *rate.Limiter
	rate      float64   // the refill rate the bucket runs at
	cutRate   float64   // the rate right after the last cut
	cutAt     time.Time // zero: never cut
	epoch     uint64    // counts cuts
	window    float64
	inflight  int
	lastStart time.Time
	throttles uint64
	changed   chan struct{} // closed when waiters should look again
}

// NewMutatingLimiter returns the limiter for EC2's mutating calls, sized
// like the account's bucket: burst tokens (default 50) refilled at perSecond
// (default 5; +Inf means unlimited, for tests). It is the one constructor of
// the client-side bucket: share its result between every writer of the
// process.
func NewMutatingLimiter(burst int, perSecond float64) *Limiter {
	if burst <= 0 {
		burst = DefaultMutatingBurst
	}
	if burst > 1 {
		burst--
	}
	if perSecond <= 0 || math.IsNaN(perSecond) {
		perSecond = DefaultMutatingPerSecond
	}
	p := defaultAIMD()
	l := &Limiter{ceilRate: perSecond, ceilBurst: burst, p: p, rate: perSecond, window: p.initialWindow, changed: make(chan struct{})}
	if math.IsInf(perSecond, 1) {
		l.bucket = rate.NewLimiter(rate.Inf, burst)
	} else {
		l.bucket = rate.NewLimiter(rate.Limit(perSecond), burst)
	}
	return l
}

// Rate is the refill rate in force now: the configured one, or less while
// recovering from a throttle.
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refresh(time.Now())
	return l.rate
}

// Burst is the configured burst of the client-side bucket (one short of the
// account's, see NewMutatingLimiter).
func (l *Limiter) Burst() int { return l.ceilBurst }

// Throttles counts the calls EC2 answered with a throttling error.
func (l *Limiter) Throttles() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.throttles
}

// budget is how many calls the limiter lets go within span from now: the
// tokens on hand and the refill meanwhile (at least one).
func (l *Limiter) budget(span time.Duration) int {
	if l.unlimited() {
		return math.MaxInt
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	l.refresh(now)
	return max(1, int(l.bucket.TokensAt(now))+int(math.Ceil(l.rate*span.Seconds())))
}

// roundSize is how many calls one round of a pass sends: its budget over
// span, and no more than two windows, so that a burst goes out in rounds of
// a round trip or two with a read between them.
func (l *Limiter) roundSize(span time.Duration) int {
	n := l.budget(span)
	if l.unlimited() {
		return n
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return min(n, max(int(math.Ceil(2*l.window)), int(l.p.initialWindow)), l.roundCap())
}

// roundCap is the most one round sends: a sixth of the configured burst,
// at least 8. A writer that joins while another is spending its burst then
// finds at most that many of the other's calls in flight when the account's
// bucket runs dry, and each sees the other's progress within a round.
func (l *Limiter) roundCap() int { return max(8, l.ceilBurst/6) }

func (l *Limiter) unlimited() bool { return math.IsInf(l.ceilRate, 1) }

// Acquire waits until one mutating call may go: a slot in the window and a
// token. The caller makes exactly one attempt and then calls done with its
// error (nil on success), which is how the limiter learns about the
// account's bucket.
func (l *Limiter) Acquire(ctx context.Context) (done func(error), err error) {
	if l.unlimited() {
		return func(error) {}, nil
	}
	for {
		l.mu.Lock()
		now := time.Now()
		l.refresh(now)
		if l.inflight == 0 && now.Sub(l.lastStart) >= l.p.idleRestart {
			l.window = min(l.window, l.p.initialWindow)
		}
		wait := time.Duration(-1) // no timer: a slot frees up by a notification
		if l.inflight < int(l.window) {
			tokens := l.bucket.TokensAt(now)
			if tokens >= 1 {
				l.bucket.AllowN(now, 1)
				l.inflight++
				l.lastStart = now
				epoch := l.epoch
				l.mu.Unlock()
				var once sync.Once
				return func(err error) { once.Do(func() { l.release(epoch, err) }) }, nil
			}
			wait = time.Duration((1 - tokens) / l.rate * float64(time.Second))
		}
		changed := l.changed
		l.mu.Unlock()
		if err := l.sleep(ctx, wait, changed); err != nil {
			return nil, fmt.Errorf("wait for the mutating bucket: %w", err)
		}
	}
}

func (l *Limiter) sleep(ctx context.Context, d time.Duration, changed <-chan struct{}) error {
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(max(d, time.Millisecond))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	case <-timer:
	}
	return nil
}

// release ends one call that went out in epoch.
func (l *Limiter) release(epoch uint64, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	now := time.Now()
	switch {
	case IsThrottle(err):
		l.throttles++
		if epoch == l.epoch {
			l.cut(now)
		}
	case err == nil || ErrorCode(err) != "error":
		// EC2 answered without throttling: its bucket had a token.
		l.window = min(l.window+l.p.growth, maxConcurrency)
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// cut is the multiplicative decrease.
func (l *Limiter) cut(now time.Time) {
	l.refresh(now)
	l.epoch++
	l.cutRate = max(l.rate*l.p.decrease, l.floor())
	l.cutAt = now
	l.window = max(1, math.Floor(l.window/2))
	l.setRate(now, l.cutRate)
	// The tokens on hand were counted against a bucket someone else is
	// spending: drop them.
	if n := int(l.bucket.TokensAt(now)); n > 0 {
		l.bucket.AllowN(now, n)
	}
}

func (l *Limiter) floor() float64 { return l.ceilRate * l.p.floorShare }

// refresh applies the additive recovery since the last cut.
func (l *Limiter) refresh(now time.Time) {
	if l.cutAt.IsZero() || l.rate >= l.ceilRate {
		return
	}
	r := l.cutRate + l.ceilRate*l.p.increaseShare*now.Sub(l.cutAt).Seconds()
	if r >= l.ceilRate {
		r = l.ceilRate
	}
	if r != l.rate {
		l.setRate(now, r)
	}
}

// setRate runs the bucket at r. Below the configured rate the burst is one
// second's worth, as the AWS SDK's adaptive mode sizes its bucket: a writer
// that was throttled does not save up for a blind burst while it recovers.
func (l *Limiter) setRate(now time.Time, r float64) {
	l.rate = r
	l.bucket.SetLimitAt(now, rate.Limit(r))
	burst := l.ceilBurst
	if r < l.ceilRate {
		burst = min(burst, max(1, int(math.Ceil(r))))
	}
	l.bucket.SetBurstAt(now, burst)
}

// IsThrottle reports whether err is EC2 refusing a call for its rate
// (RequestLimitExceeded and the SDK's other throttling codes).
func IsThrottle(err error) bool {
	if err == nil {
		return false
	}
	return retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}.IsErrorThrottle(err) == aws.TrueTernary
}

// inflightNow, windowNow and burstNow expose the limiter's state to tests.
func (l *Limiter) inflightNow() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inflight
}

func (l *Limiter) windowNow() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inflight == 0 && time.Since(l.lastStart) >= l.p.idleRestart {
		return min(l.window, l.p.initialWindow)
	}
	return l.window
}

func (l *Limiter) burstNow() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refresh(time.Now())
	return l.bucket.Burst()
}
