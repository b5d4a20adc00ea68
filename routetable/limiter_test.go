package routetable

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/smithy-go"
)

var errThrottled = &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded."}

// acquireAt takes one permit and returns how long that took.
func acquireAt(t *testing.T, l *Limiter) (func(error), time.Duration) {
	t.Helper()
	start := time.Now()
	done, err := l.Acquire(t.Context())
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return done, time.Since(start)
}

// The limiter's timing runs in synctest bubbles (virtual time), where
// t.Run is not allowed; each check says what it proves in its message.

func TestLimiterPacesLikeEC2sBucketOneTokenShort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewMutatingLimiter(50, 5)
		for i := range 49 {
			done, waited := acquireAt(t, l)
			done(nil)
			if waited != 0 {
				t.Fatalf("call %d of the burst waited %s: the burst (49, one short of EC2's 50) should go at once", i, waited)
			}
		}
		done, waited := acquireAt(t, l)
		done(nil)
		if waited != 200*time.Millisecond {
			t.Errorf("the call after the burst waited %s, want 200ms (5/s)", waited)
		}
		if r := l.Rate(); r != 5 {
			t.Errorf("rate %v without a throttle, want 5", r)
		}
	})
}

func TestLimiterWindowStartsSmallGrowsAndRestartsAfterIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewMutatingLimiter(50, 5)
		var dones []func(error)
		for range 4 {
			d, _ := acquireAt(t, l)
			dones = append(dones, d)
		}
		fifth := make(chan func(error))
		go func() {
			d, err := l.Acquire(context.Background())
			if err != nil {
				t.Error(err)
			}
			fifth <- d
		}()
		synctest.Wait()
		select {
		case <-fifth:
			t.Fatal("a fifth call went out with 4 in flight: the initial window is 4")
		default:
		}
		dones[0](nil)
		d := <-fifth
		d(nil)
		for _, d := range dones[1:] {
			d(nil)
		}
		// Five answers without throttling grew the window by 2.5 to 6.5.
		var held []func(error)
		for range 6 {
			d, _ := acquireAt(t, l)
			held = append(held, d)
		}
		if l.inflightNow() != 6 {
			t.Errorf("%d in flight, want the grown window's 6", l.inflightNow())
		}
		for _, d := range held {
			d(nil)
		}
		time.Sleep(time.Second)
		if w := l.windowNow(); w != 4 {
			t.Errorf("window %v after a second idle, want it back at 4 on the next call", w)
		}
	})
}

func TestLimiterCutsOnThrottleOncePerEventAndRecoversAdditively(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewMutatingLimiter(50, 5)
		a, _ := acquireAt(t, l)
		b, _ := acquireAt(t, l)
		c, _ := acquireAt(t, l)
		a(errThrottled)
		b(errThrottled)
		c(fmtThrottle())
		if r := l.Rate(); r != 2.5 {
			t.Errorf("three throttles of calls sent together: rate %v, want one halving to 2.5", r)
		}
		if n := l.Throttles(); n != 3 {
			t.Errorf("%d throttles counted, want 3", n)
		}
		// The tokens on hand are dropped and the burst is one second's
		// worth (3 at 2.5/s): the next call waits for a refill.
		d, waited := acquireAt(t, l)
		d(nil)
		if waited != 400*time.Millisecond {
			t.Errorf("the first call after the cut waited %s, want 400ms (one token at 2.5/s)", waited)
		}
		if b := l.burstNow(); b != 3 {
			t.Errorf("burst %d after the cut, want 3 (one second at 2.5/s, rounded up)", b)
		}
		time.Sleep(12*time.Second + 100*time.Millisecond)
		if r := l.Rate(); math.Abs(r-3.75) > 0.01 {
			t.Errorf("12.5 s after the cut the rate is %v, want 3.75 (2.5 + 0.1/s)", r)
		}
		time.Sleep(13 * time.Second)
		if r, b := l.Rate(), l.burstNow(); r != 5 || b != 49 {
			t.Errorf("25 s after the cut: rate %v, burst %d; want 5 and 49 again", r, b)
		}
	})
}

func TestLimiterNeverGoesBelowTheFloor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewMutatingLimiter(50, 5)
		for range 10 {
			d, _ := acquireAt(t, l)
			d(errThrottled)
		}
		if r := l.Rate(); r != 0.5 {
			t.Errorf("after ten cuts the rate is %v, want the floor 0.5 (a tenth of 5/s)", r)
		}
	})
}

func TestLimiterIgnoresErrorsThatAreNotThrottling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewMutatingLimiter(50, 5)
		for _, err := range []error{errors.New("connection reset"), &smithy.GenericAPIError{Code: "InvalidRoute.NotFound"}, context.Canceled} {
			d, _ := acquireAt(t, l)
			d(err)
		}
		if r, n := l.Rate(), l.Throttles(); r != 5 || n != 0 {
			t.Errorf("rate %v, %d throttles after non-throttling errors; want 5 and 0", r, n)
		}
	})
}

func TestUnlimitedLimiterNeverWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewMutatingLimiter(1, math.Inf(1))
		for range 1000 {
			d, waited := acquireAt(t, l)
			d(errThrottled)
			if waited != 0 {
				t.Fatalf("an unlimited limiter waited %s", waited)
			}
		}
	})
}

func TestAcquireEndsWithItsContext(t *testing.T) {
	l := NewMutatingLimiter(1, 0.001)
	d, err := l.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	d(nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Acquire(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire on an empty bucket with a cancelled context: %v", err)
	}
}

// fmtThrottle is a throttle wrapped the way Apply's errors are.
func fmtThrottle() error {
	return &wrapped{errThrottled}
}

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "replace route: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }
