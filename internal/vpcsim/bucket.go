package vpcsim

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bucket is an EC2 API token bucket: Size tokens, refilled at
// RefillPerSecond. The zero value means the EC2 default for its category; a
// negative Size means unlimited.
type Bucket struct {
	Size            int
	RefillPerSecond float64
}

// EC2's documented defaults (per account and Region), as functions so that
// no package-level state can be mutated by a test.
func defaultMutating() Bucket    { return Bucket{Size: 50, RefillPerSecond: 5} }
func defaultNonMutating() Bucket { return Bucket{Size: 100, RefillPerSecond: 20} }

func (b Bucket) orDefault(def Bucket) Bucket {
	if b == (Bucket{}) {
		return def
	}
	return b
}

// newTokenBucket is EC2's bucket on x/time/rate: it starts full, refills
// continuously, and a request it refuses takes no token (EC2 does not
// charge a throttled call). The limiter's own bookkeeping also gives what
// EC2 must: a clock going backwards refills nothing.
func newTokenBucket(cfg Bucket, now time.Time) *rate.Limiter {
	if cfg.Size < 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	lim := rate.NewLimiter(rate.Limit(cfg.RefillPerSecond), cfg.Size)
	// Anchor the bucket at now, full: the limiter's zero "last" would
	// otherwise make an injected clock's first reading look like a refill.
	lim.SetBurstAt(now, cfg.Size)
	return lim
}

// Account holds the API token buckets that EC2 keeps per account and
// Region. Every caller in the account draws on them: both members of an HA
// pair, a central reconciler, other tools. Servers for several VPCs of one
// account share one Account (Options.Account); each server otherwise gets
// its own.
type Account struct {
	now func() time.Time

	mu          sync.Mutex
	mutating    *rate.Limiter
	nonMutating *rate.Limiter
}

// NewAccount returns an account whose buckets start full. Zero buckets take
// EC2's defaults (50 at 5/s mutating, 100 at 20/s non-mutating); now nil
// means time.Now.
func NewAccount(mutating, nonMutating Bucket, now func() time.Time) *Account {
	if now == nil {
		now = time.Now
	}
	a := &Account{now: now}
	a.SetBuckets(mutating, nonMutating)
	return a
}

// SetBuckets replaces both token buckets; they start full.
func (a *Account) SetBuckets(mutating, nonMutating Bucket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.now()
	a.mutating = newTokenBucket(mutating.orDefault(defaultMutating()), t)
	a.nonMutating = newTokenBucket(nonMutating.orDefault(defaultNonMutating()), t)
}

// take spends one token of the category's bucket if there is one.
func (a *Account) take(mutating bool) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.nonMutating
	if mutating {
		b = a.mutating
	}
	return b.AllowN(a.now(), 1)
}

// SpendMutating takes up to n whole tokens from the mutating bucket at
// once, as another writer in the account would, and returns how many it
// took; n < 0 takes every whole token there is. It is how a test makes
// "someone else is spending the account's budget" happen at a chosen
// moment.
func (a *Account) SpendMutating(n int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	t := a.now()
	if a.mutating.Limit() == rate.Inf {
		return max(n, 0)
	}
	have := int(math.Floor(a.mutating.TokensAt(t)))
	if n < 0 || n > have {
		n = have
	}
	if n <= 0 || !a.mutating.AllowN(t, n) {
		return 0
	}
	return n
}

// MutatingTokens is what the mutating bucket holds now (+Inf when it is
// unlimited).
func (a *Account) MutatingTokens() float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mutating.Limit() == rate.Inf {
		return math.Inf(1)
	}
	return a.mutating.TokensAt(a.now())
}
