package vpcsim

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

const testVPCID = "vpc-0123456789abcdef0"

// fixture is a small VPC like the one the reconciler sees: a main table with
// Route Server propagation and an Advertisement route, two custom tables
// without, an appliance ENI and a route server.
type fixture struct {
	vpc    *VPC
	srv    *Server
	client *ec2.Client
	custom []string
	eni    string
	eni2   string
	rs     string
	clock  *fakeClock
}

func newFixture(t *testing.T, opts Options, clientOpts ...func(*ec2.Options)) *fixture {
	t.Helper()
	f := &fixture{vpc: NewVPC(testVPCID, netip.MustParsePrefix("10.0.0.0/16"))}
	f.custom = []string{f.vpc.AddRouteTable(), f.vpc.AddRouteTable()}
	if err := f.vpc.AssociateSubnet(f.custom[0], "subnet-0aaaaaaaaaaaaaaaa"); err != nil {
		t.Fatal(err)
	}
	f.eni = f.vpc.AddNetworkInterface(netip.MustParseAddr("10.0.1.10"))
	f.eni2 = f.vpc.AddNetworkInterface(netip.MustParseAddr("10.0.2.10"))
	f.rs = f.vpc.AddRouteServer(65000)
	if err := f.vpc.EnablePropagation(f.rs, f.vpc.MainTableID()); err != nil {
		t.Fatal(err)
	}
	if err := f.vpc.PutRoute(f.vpc.MainTableID(), Route{
		Destination: netip.MustParsePrefix("203.0.113.10/32"), NetworkInterface: f.eni,
		IPAddress: "10.0.1.10", Origin: OriginAdvertisement,
	}); err != nil {
		t.Fatal(err)
	}
	if opts.Now == nil {
		f.clock = &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		opts.Now = f.clock.Now
	}
	f.srv = NewServer(f.vpc, opts)
	if _, err := f.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	f.client = EC2Client(f.srv, clientOpts...)
	return f
}

// noRetry shows every answer to the test instead of letting the SDK retry it.
func noRetry(o *ec2.Options) { o.Retryer = aws.NopRetryer{} }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// apiCode is the EC2 error code of an SDK error, "" for nil.
func apiCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "not an API error: " + err.Error()
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func prefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
