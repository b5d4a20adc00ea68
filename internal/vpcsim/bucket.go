package vpcsim

import "time"

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

// tokenBucket is not safe for concurrent use; the server guards it.
type tokenBucket struct {
	cfg    Bucket
	tokens float64
	last   time.Time
}

func newTokenBucket(cfg Bucket, now time.Time) tokenBucket {
	return tokenBucket{cfg: cfg, tokens: float64(cfg.Size), last: now}
}

// take removes one token if there is one. Time going backwards (a test clock
// reset) refills nothing rather than draining.
func (b *tokenBucket) take(now time.Time) bool {
	if b.cfg.Size < 0 {
		return true
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens += elapsed.Seconds() * b.cfg.RefillPerSecond
		if b.tokens > float64(b.cfg.Size) {
			b.tokens = float64(b.cfg.Size)
		}
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
