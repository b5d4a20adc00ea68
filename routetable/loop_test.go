package routetable

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// fakeAPI answers from memory and counts calls, for tests of the loop.
type fakeAPI struct {
	describes, servers atomic.Int32
}

func (f *fakeAPI) api() API {
	return API{
		DescribeRouteTables: func(context.Context, *ec2.DescribeRouteTablesInput, ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error) {
			f.describes.Add(1)
			return &ec2.DescribeRouteTablesOutput{RouteTables: []types.RouteTable{{
				RouteTableId: aws.String("rtb-main"), Associations: []types.RouteTableAssociation{{Main: aws.Bool(true)}},
			}}}, nil
		},
		CreateRoute: func(context.Context, *ec2.CreateRouteInput, ...func(*ec2.Options)) (*ec2.CreateRouteOutput, error) {
			return nil, errors.New("unexpected CreateRoute")
		},
		ReplaceRoute: func(context.Context, *ec2.ReplaceRouteInput, ...func(*ec2.Options)) (*ec2.ReplaceRouteOutput, error) {
			return nil, errors.New("unexpected ReplaceRoute")
		},
		DescribeRouteServers: func(context.Context, *ec2.DescribeRouteServersInput, ...func(*ec2.Options)) (*ec2.DescribeRouteServersOutput, error) {
			f.servers.Add(1)
			return &ec2.DescribeRouteServersOutput{}, nil
		},
		GetRouteServerPropagations: func(context.Context, *ec2.GetRouteServerPropagationsInput, ...func(*ec2.Options)) (*ec2.GetRouteServerPropagationsOutput, error) {
			return &ec2.GetRouteServerPropagationsOutput{}, nil
		},
	}
}

// The loop's scenario runs in one synctest bubble, where t.Run is not
// allowed; each check says what it proves in its message.
func TestRunLoopPassesAtStartOnJitteredTicksAndTriggersAndCachesPropagations(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeAPI{}
		r, err := NewReconciler(fake.api(), Config{VPCID: testVPC, Interval: 5 * time.Second, PropagationTTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()

		synctest.Wait()
		if got := fake.describes.Load(); got != 1 {
			t.Errorf("Run did %d passes at start, want 1", got)
		}
		time.Sleep(4400 * time.Millisecond)
		synctest.Wait()
		if got := fake.describes.Load(); got != 1 {
			t.Errorf("before 90 %% of the interval %d passes, want 1", got)
		}
		time.Sleep(1200 * time.Millisecond)
		synctest.Wait()
		if got := fake.describes.Load(); got != 2 {
			t.Errorf("after 110 %% of the interval %d passes, want 2", got)
		}
		r.Trigger()
		r.Trigger()
		r.Trigger()
		synctest.Wait()
		// The first trigger may start a pass before the others arrive; those
		// then coalesce into the one pending pass.
		if got := fake.describes.Load(); got < 3 || got > 4 {
			t.Errorf("three triggers at once gave %d passes in all, want 3 or 4: they must coalesce", got)
		}
		if got := fake.servers.Load(); got != 1 {
			t.Errorf("%d DescribeRouteServers within the propagation TTL, want 1", got)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := fake.servers.Load(); got != 2 {
			t.Errorf("%d DescribeRouteServers after the propagation TTL, want 2", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel", err)
		}
		if st := r.Status(); st.Passes < 3 || st.LastResult != "ok" {
			t.Errorf("status %+v", st)
		}
	})
}

func TestNewReconcilerRejectsBadConfig(t *testing.T) {
	api := (&fakeAPI{}).api()
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"a missing vpc id", Config{}, "vpc_id"},
		{"an unknown origin", Config{VPCID: testVPC, Origins: []string{"Static"}}, "origins[0]"},
		{"the source among the targets", Config{VPCID: testVPC, Source: "rtb-1", Targets: []string{"rtb-1"}}, "source"},
		{"prune without DeleteRoute", Config{VPCID: testVPC, Prune: true}, "lacks a call"},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			if _, err := NewReconciler(api, tt.cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error about %s", err, tt.want)
			}
		})
	}
}

type failingNotifier struct{}

func (failingNotifier) Notify(context.Context, Event) error {
	return &NotifyError{Notifier: "sns", Err: errors.New("boom")}
}

func TestNotifications(t *testing.T) {
	var mu sync.Mutex
	var got []Event
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e Event
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &e); err != nil || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	defer hook.Close()
	var published []string
	snsN := &SNSNotifier{topic: "arn:aws:sns:us-east-1:123456789012:rsagent", publish: func(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
		mu.Lock()
		defer mu.Unlock()
		published = append(published, aws.ToString(in.Message))
		return &sns.PublishOutput{}, nil
	}}
	f := newFixture(t, fixtureOptions{customTables: 2, routes: 2})
	r, rec := newTestReconciler(t, f, func(c *Config) {
		c.Notifier = Multi(NewWebhookNotifier(hook.URL, time.Second), snsN, failingNotifier{})
	})
	if _, err := r.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Run("the webhook gets one JSON event per change", func(t *testing.T) {
		if len(got) != 4 {
			t.Fatalf("%d events, want 4", len(got))
		}
		for _, e := range got {
			if e.Action != ActionCreate || e.VPCID != testVPC || e.Source != "reconcile" || e.ENI != f.enis[0] {
				t.Errorf("event %+v", e)
			}
		}
	})
	t.Run("SNS gets one message per change", func(t *testing.T) {
		if len(published) != 4 || !strings.Contains(published[0], `"action":"create"`) {
			t.Errorf("published %v", published)
		}
	})
	t.Run("a failing notifier is counted and does not fail the pass", func(t *testing.T) {
		if rec.notifyKO["sns"] != 4 || r.Status().LastResult != "changed" {
			t.Errorf("failures %v, status %+v", rec.notifyKO, r.Status())
		}
	})
	t.Run("an unreachable webhook is counted as a webhook failure", func(t *testing.T) {
		rec := newRecorder()
		hook.Close()
		err := NewWebhookNotifier(hook.URL, time.Second).Notify(t.Context(), Event{})
		countNotifyFailures(err, rec)
		if err == nil || rec.notifyKO["webhook"] != 1 {
			t.Errorf("err %v, failures %v", err, rec.notifyKO)
		}
	})
}
