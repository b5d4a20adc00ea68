package netns

import (
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

func TestPoll(t *testing.T) {
	t.Run("it returns nil as soon as the condition holds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start, calls := time.Now(), 0
			err := poll(time.Second, func() error {
				calls++
				if calls < 3 {
					return fmt.Errorf("try %d", calls)
				}
				return nil
			})
			if err != nil || calls != 3 {
				t.Fatalf("err %v after %d calls, want nil after 3", err, calls)
			}
			if d := time.Since(start); d != 100*time.Millisecond {
				t.Errorf("took %v, want two 50 ms ticks", d)
			}
		})
	})
	t.Run("on timeout it wraps the last error", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			last := errors.New("still down")
			start := time.Now()
			err := poll(time.Second, func() error { return last })
			if !errors.Is(err, last) {
				t.Fatalf("err %v, want it to wrap %v", err, last)
			}
			if d := time.Since(start); d < time.Second || d > time.Second+50*time.Millisecond {
				t.Errorf("gave up after %v, want about 1 s", d)
			}
		})
	})
	t.Run("WaitFor passes when the condition comes true in time", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			deadline := time.Now().Add(200 * time.Millisecond)
			WaitFor(t, time.Second, "the deadline", func() error {
				if time.Now().Before(deadline) {
					return errors.New("not yet")
				}
				return nil
			})
		})
	})
}
