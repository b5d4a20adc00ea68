package vpcsim

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

// fastRetry is the SDK's standard retryer without the back-off, so tests see
// retries happen without waiting seconds for them.
func fastRetry(o *ec2.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
	})
}

func TestTokenBucketsThrottleLikeEC2(t *testing.T) {
	f := newFixture(t, Options{
		Mutating:    Bucket{Size: 2, RefillPerSecond: 1},
		NonMutating: Bucket{Size: 3, RefillPerSecond: 10},
	}, noRetry)
	ctx := ctxT(t)
	create := func(dst string) error {
		_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(f.custom[0]),
			DestinationCidrBlock: aws.String(dst), NetworkInterfaceId: aws.String(f.eni)})
		return err
	}
	describe := func() error {
		_, err := f.client.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{})
		return err
	}

	t.Run("the mutating bucket allows its size, failed requests included", func(t *testing.T) {
		wantCode(t, create("203.0.113.1/32"), "")
		wantCode(t, create("203.0.113.1/32"), CodeRouteAlreadyExists) // still costs a token
		gen := f.vpc.Generation()
		err := create("203.0.113.2/32")
		wantCode(t, err, CodeRequestLimitExceeded)
		if httpStatus(err) != http.StatusServiceUnavailable {
			t.Errorf("status = %d, want 503", httpStatus(err))
		}
		if (retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}).IsErrorThrottle(err) != aws.TrueTernary {
			t.Errorf("the SDK does not classify %v as throttling", err)
		}
		if f.vpc.Generation() != gen {
			t.Error("a throttled request changed the VPC")
		}
	})
	t.Run("the non-mutating bucket is separate", func(t *testing.T) {
		for i := range 3 {
			if err := describe(); err != nil {
				t.Fatalf("describe %d: %v", i, err)
			}
		}
		wantCode(t, describe(), CodeRequestLimitExceeded)
	})
	t.Run("tokens come back at the refill rate", func(t *testing.T) {
		f.clock.Advance(999 * time.Millisecond)
		wantCode(t, create("203.0.113.2/32"), CodeRequestLimitExceeded)
		f.clock.Advance(time.Millisecond)
		// The failed attempt above did not take the token it could not get,
		// so one second of refill buys exactly one more request.
		wantCode(t, create("203.0.113.2/32"), "")
		wantCode(t, create("203.0.113.3/32"), CodeRequestLimitExceeded)
	})
	t.Run("a refill never overflows the bucket size", func(t *testing.T) {
		f.clock.Advance(time.Hour)
		wantCode(t, create("203.0.113.4/32"), "")
		wantCode(t, create("203.0.113.5/32"), "")
		wantCode(t, create("203.0.113.6/32"), CodeRequestLimitExceeded)
	})
	t.Run("SetBuckets at run time takes effect at once", func(t *testing.T) {
		f.srv.SetBuckets(Bucket{Size: -1}, Bucket{})
		for i := range 60 {
			wantCode(t, create(fmt.Sprintf("198.51.100.%d/32", i)), "")
		}
	})
}

// EC2 throttles per account and Region: two VPCs of one account, and any
// other writer in it, spend the same tokens.
func TestServersOfOneAccountShareItsBuckets(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	acct := NewAccount(Bucket{Size: 3, RefillPerSecond: 1}, Bucket{Size: -1}, clock.Now)
	a := newFixture(t, Options{Account: acct, Now: clock.Now}, noRetry)
	b := newFixture(t, Options{Account: acct, Now: clock.Now}, noRetry)
	create := func(f *fixture, dst string) error {
		_, err := f.client.CreateRoute(ctxT(t), &ec2.CreateRouteInput{RouteTableId: aws.String(f.custom[0]),
			DestinationCidrBlock: aws.String(dst), NetworkInterfaceId: aws.String(f.eni)})
		return err
	}
	t.Run("writes to two VPCs draw on one mutating bucket", func(t *testing.T) {
		wantCode(t, create(a, "203.0.113.1/32"), "")
		wantCode(t, create(b, "203.0.113.1/32"), "")
		wantCode(t, create(a, "203.0.113.2/32"), "")
		wantCode(t, create(b, "203.0.113.2/32"), CodeRequestLimitExceeded)
		if a.srv.Account() != b.srv.Account() {
			t.Error("the servers report different accounts")
		}
	})
	t.Run("another writer spending the tokens throttles the next caller", func(t *testing.T) {
		clock.Advance(time.Hour)
		if got := acct.MutatingTokens(); got != 3 {
			t.Fatalf("after an hour the bucket holds %v, want 3 (its size)", got)
		}
		if got := acct.SpendMutating(2); got != 2 {
			t.Errorf("SpendMutating(2) took %d", got)
		}
		if got := acct.SpendMutating(-1); got != 1 {
			t.Errorf("SpendMutating(-1) took %d, want the 1 left", got)
		}
		if got := acct.SpendMutating(-1); got != 0 {
			t.Errorf("SpendMutating on an empty bucket took %d", got)
		}
		wantCode(t, create(a, "203.0.113.3/32"), CodeRequestLimitExceeded)
		clock.Advance(time.Second)
		wantCode(t, create(a, "203.0.113.3/32"), "")
	})
}

func TestTokenBucketArithmetic(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		cfg   Bucket
		takes []time.Duration // offsets from t0 of each take
		want  []bool
	}{
		{"a full bucket serves its size at once", Bucket{Size: 3, RefillPerSecond: 1}, []time.Duration{0, 0, 0, 0}, []bool{true, true, true, false}},
		{"half a second at 2/s refills one token", Bucket{Size: 1, RefillPerSecond: 2}, []time.Duration{0, 0, 500 * time.Millisecond}, []bool{true, false, true}},
		{"a clock going backwards refills nothing", Bucket{Size: 1, RefillPerSecond: 100}, []time.Duration{0, -time.Hour, -time.Hour}, []bool{true, false, false}},
		{"a negative size is unlimited", Bucket{Size: -1}, []time.Duration{0, 0, 0}, []bool{true, true, true}},
		{"EC2's mutating default serves 50 then 5 per second", defaultMutating(), append(make([]time.Duration, 51), time.Second, time.Second, time.Second, time.Second, time.Second, time.Second),
			append(append(trues(50), false), true, true, true, true, true, false)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newTokenBucket(tc.cfg, t0)
			for i, off := range tc.takes {
				if got := b.AllowN(t0.Add(off), 1); got != tc.want[i] {
					t.Fatalf("take %d at %v = %v, want %v", i, off, got, tc.want[i])
				}
			}
		})
	}
}

func trues(n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = true
	}
	return out
}

func TestInjectedFaults(t *testing.T) {
	t.Run("an error rate of one answers every request 503 Unavailable", func(t *testing.T) {
		f := newFixture(t, Options{Faults: Faults{ErrorRate: 1}}, noRetry)
		_, err := f.client.DescribeRouteTables(ctxT(t), &ec2.DescribeRouteTablesInput{})
		wantCode(t, err, CodeUnavailable)
		if httpStatus(err) != http.StatusServiceUnavailable {
			t.Errorf("status = %d, want 503", httpStatus(err))
		}
	})
	t.Run("the SDK retries through injected 5xx and the log shows each attempt", func(t *testing.T) {
		f := newFixture(t, Options{Faults: Faults{ErrorRate: 0.5}, Seed: 7}, fastRetry)
		for i := range 5 {
			if _, err := f.client.DescribeRouteTables(ctxT(t), &ec2.DescribeRouteTablesInput{}); err != nil {
				t.Fatalf("describe %d through retries: %v", i, err)
			}
		}
		var unavailable int
		for _, r := range f.srv.Log() {
			if r.Code == CodeUnavailable {
				unavailable++
			}
		}
		if unavailable == 0 || len(f.srv.Log()) != 5+unavailable {
			t.Errorf("log has %d requests with %d Unavailable; want 5 successes plus the failures", len(f.srv.Log()), unavailable)
		}
	})
	t.Run("the same seed injects the same failures", func(t *testing.T) {
		pattern := func() string {
			f := newFixture(t, Options{Faults: Faults{ErrorRate: 0.5}, Seed: 42}, noRetry)
			var b strings.Builder
			for range 32 {
				_, err := f.client.DescribeRouteServers(ctxT(t), &ec2.DescribeRouteServersInput{})
				b.WriteString(map[bool]string{true: "x", false: "."}[err != nil])
			}
			return b.String()
		}
		a, b := pattern(), pattern()
		if a != b || !strings.Contains(a, "x") || !strings.Contains(a, ".") {
			t.Errorf("patterns %q and %q: want equal and mixed", a, b)
		}
	})
	t.Run("a failing table refuses mutations while the others work", func(t *testing.T) {
		f := newFixture(t, Options{}, noRetry)
		f.srv.SetFaults(Faults{FailTable: f.custom[0]})
		for _, rtb := range f.custom {
			_, err := f.client.CreateRoute(ctxT(t), &ec2.CreateRouteInput{RouteTableId: aws.String(rtb),
				DestinationCidrBlock: aws.String("203.0.113.10/32"), NetworkInterfaceId: aws.String(f.eni)})
			if rtb == f.custom[0] {
				wantCode(t, err, CodeUnauthorizedOperation)
				if httpStatus(err) != http.StatusForbidden {
					t.Errorf("status = %d, want 403", httpStatus(err))
				}
			} else {
				wantCode(t, err, "")
			}
		}
		if _, err := f.client.DescribeRouteTables(ctxT(t), &ec2.DescribeRouteTablesInput{RouteTableIds: []string{f.custom[0]}}); err != nil {
			t.Errorf("describing the failing table: %v", err)
		}
	})
}

func TestFailingTableWithInternalErrorIsRetried(t *testing.T) {
	f := newFixture(t, Options{}, fastRetry)
	f.srv.SetFaults(Faults{FailTable: f.custom[1], FailTableCode: CodeInternalError})
	_, err := f.client.ReplaceRoute(ctxT(t), &ec2.ReplaceRouteInput{RouteTableId: aws.String(f.custom[1]),
		DestinationCidrBlock: aws.String("203.0.113.10/32"), NetworkInterfaceId: aws.String(f.eni)})
	wantCode(t, err, CodeInternalError)
	if n := len(f.srv.Log()); n != 3 {
		t.Errorf("the server saw %d attempts, want the standard retryer's 3", n)
	}
}

func TestLatencyDoesNotSerialiseRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := NewVPC(testVPCID, prefix("10.0.0.0/16"))
		s := NewServer(v, Options{Faults: Faults{Latency: time.Second}, NonMutating: Bucket{Size: -1}})
		start := time.Now()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, signedRequest("Action=DescribeRouteTables&Version=2016-11-15"))
				if rec.Code != http.StatusOK {
					t.Errorf("status = %d: %s", rec.Code, rec.Body)
				}
			})
		}
		wg.Wait()
		if got := time.Since(start); got != time.Second {
			t.Errorf("8 concurrent requests with 1s latency took %v, want 1s", got)
		}
	})
}

func signedRequest(body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDTEST/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00")
	return r
}

func TestRawQueryRequests(t *testing.T) {
	v := NewVPC(testVPCID, prefix("10.0.0.0/16"))
	eni := v.AddNetworkInterface(netip.MustParseAddr("10.0.1.10"))
	s := NewServer(v, Options{Mutating: Bucket{Size: -1}, NonMutating: Bucket{Size: -1}})
	tests := []struct {
		name       string
		auth       string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"a request without Authorization is AuthFailure", "", "Action=DescribeRouteTables", 401, CodeAuthFailure},
		{"a non-SigV4 Authorization is AuthFailure", "Basic Zm9vOmJhcg==", "Action=DescribeRouteTables", 401, CodeAuthFailure},
		{"an unknown action is InvalidAction", "sig", "Action=RunInstances", 400, CodeInvalidAction},
		{"a request without Action is MissingParameter", "sig", "Version=2016-11-15", 400, CodeMissingParameter},
		{"GetRouteServerPropagations without RouteServerId is MissingParameter", "sig", "Action=GetRouteServerPropagations", 400, CodeMissingParameter},
		{"CreateRoute without RouteTableId is MissingParameter", "sig", "Action=CreateRoute&DestinationCidrBlock=203.0.113.0/24&NetworkInterfaceId=" + eni, 400, CodeMissingParameter},
		{"CreateRoute with two targets is InvalidParameterCombination", "sig", "Action=CreateRoute&RouteTableId=" + v.MainTableID() +
			"&DestinationCidrBlock=203.0.113.0/24&NetworkInterfaceId=" + eni + "&GatewayId=igw-1", 400, CodeInvalidParameterCombo},
		{"a malformed DryRun is InvalidParameterValue", "sig", "Action=DescribeRouteTables&DryRun=yes", 400, CodeInvalidParameterValue},
		{"a filter without a name is MissingParameter", "sig", "Action=DescribeRouteTables&Filter.1.Value.1=x", 400, CodeMissingParameter},
		{"a forged NextToken is InvalidPaginationToken", "sig", "Action=DescribeRouteTables&NextToken=abc", 400, CodeInvalidPaginationToken},
		{"a GET query string works as in EC2", "sig", "", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := signedRequest(tc.body)
			if tc.body == "" {
				r = httptest.NewRequest(http.MethodGet, "http://127.0.0.1/?"+url.Values{"Action": {"DescribeRouteTables"}}.Encode(), nil)
			}
			r.Header.Del("Authorization")
			if tc.auth == "sig" {
				r.Header.Set("Authorization", signedRequest("").Header.Get("Authorization"))
			} else if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, r)
			body := rec.Body.String()
			if rec.Code != tc.wantStatus {
				t.Errorf("status = %d, want %d: %s", rec.Code, tc.wantStatus, body)
			}
			if tc.wantCode != "" && !containsAll(body, "<Response><Errors><Error><Code>"+tc.wantCode+"</Code>", "<RequestID>") {
				t.Errorf("body = %s, want an EC2 error with code %s", body, tc.wantCode)
			}
			if tc.wantCode == "" && !strings.Contains(body, `<DescribeRouteTablesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">`) {
				t.Errorf("body = %s, want a DescribeRouteTablesResponse", body)
			}
		})
	}
}
