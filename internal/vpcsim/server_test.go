package vpcsim

import (
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

func TestRequestLog(t *testing.T) {
	f := newFixture(t, Options{}, noRetry)
	ctx := ctxT(t)
	if _, err := f.client.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{
		Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{testVPCID}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(f.custom[0]),
		DestinationCidrBlock: aws.String("203.0.113.10/32"), NetworkInterfaceId: aws.String(f.eni), DryRun: aws.Bool(true)}); apiCode(err) != CodeDryRunOperation {
		t.Fatal(err)
	}
	if _, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(f.custom[0]),
		DestinationCidrBlock: aws.String("203.0.113.10/32"), NetworkInterfaceId: aws.String(f.eni)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.ReplaceRoute(ctx, &ec2.ReplaceRouteInput{RouteTableId: aws.String(f.custom[0]),
		DestinationCidrBlock: aws.String("203.0.113.99/32"), NetworkInterfaceId: aws.String(f.eni)}); apiCode(err) != CodeRouteNotFound {
		t.Fatal(err)
	}

	log := f.srv.Log()
	t.Run("every request is logged with action, status and code", func(t *testing.T) {
		want := []struct {
			action   string
			status   int
			code     string
			mutating bool
		}{
			{"DescribeRouteTables", 200, "", false},
			{"CreateRoute", 412, CodeDryRunOperation, true},
			{"CreateRoute", 200, "", true},
			{"ReplaceRoute", 400, CodeRouteNotFound, true},
		}
		if len(log) != len(want) {
			t.Fatalf("log has %d entries, want %d: %+v", len(log), len(want), log)
		}
		for i, w := range want {
			got := log[i]
			if got.Action != w.action || got.Status != w.status || got.Code != w.code || got.Mutating != w.mutating || got.At.IsZero() {
				t.Errorf("entry %d = %+v, want %+v", i, got, w)
			}
		}
	})
	t.Run("params are the form as the SDK sent it", func(t *testing.T) {
		p := log[0].Params
		if p.Get("Filter.1.Name") != "vpc-id" || p.Get("Filter.1.Value.1") != testVPCID || p.Get("Version") != "2016-11-15" {
			t.Errorf("params = %v", p)
		}
		if !log[1].DryRun() || log[2].DryRun() {
			t.Errorf("DryRun() = %v, %v; want true, false", log[1].DryRun(), log[2].DryRun())
		}
	})
	t.Run("Mutations holds only the successful real change", func(t *testing.T) {
		m := f.srv.Mutations()
		if len(m) != 1 || m[0].Action != "CreateRoute" || m[0].Params.Get("DestinationCidrBlock") != "203.0.113.10/32" {
			t.Errorf("mutations = %+v", m)
		}
	})
	t.Run("Log returns a copy", func(t *testing.T) {
		log[0].Params.Set("Action", "Mutated")
		if f.srv.Log()[0].Params.Get("Action") != "DescribeRouteTables" {
			t.Error("changing a returned entry changed the server's log")
		}
	})
	t.Run("ResetLog empties it", func(t *testing.T) {
		f.srv.ResetLog()
		if n := len(f.srv.Log()); n != 0 {
			t.Errorf("log has %d entries after reset", n)
		}
	})
}

func TestConcurrentClients(t *testing.T) {
	f := newFixture(t, Options{Mutating: Bucket{Size: -1}, NonMutating: Bucket{Size: -1}}, noRetry)
	ctx := ctxT(t)
	const n = 32
	errs := make(chan error, 2*n)
	for i := range n {
		go func() {
			_, err := f.client.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: aws.String(f.custom[i%2]),
				DestinationCidrBlock: aws.String(fmt.Sprintf("198.51.100.%d/32", i)), NetworkInterfaceId: aws.String(f.eni)})
			errs <- err
		}()
		go func() {
			_, err := f.client.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{})
			errs <- err
		}()
	}
	for range 2 * n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	routes := 0
	for _, rtb := range f.custom {
		tbl, _ := f.vpc.Table(rtb)
		routes += len(tbl.Routes) - 1 // minus the local route
	}
	if routes != n || len(f.srv.Mutations()) != n || len(f.srv.Log()) != 2*n {
		t.Errorf("routes = %d, mutations = %d, log = %d; want %d, %d, %d", routes, len(f.srv.Mutations()), len(f.srv.Log()), n, n, 2*n)
	}
}

type fakeListener struct {
	net.Listener
	addr net.Addr
}

func (l fakeListener) Addr() net.Addr { return l.addr }

func TestServerLifecycle(t *testing.T) {
	t.Run("Serve refuses a listener that is not on loopback", func(t *testing.T) {
		s := NewServer(NewVPC(testVPCID, prefix("10.0.0.0/16")), Options{})
		l := fakeListener{addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 4000}}
		if err := s.Serve(l); err == nil {
			t.Fatal("Serve accepted a non-loopback listener")
		}
		if s.URL() != "" {
			t.Errorf("URL = %q after a refused Serve", s.URL())
		}
	})
	t.Run("Start listens on 127.0.0.1 and Close stops it", func(t *testing.T) {
		s := NewServer(NewVPC(testVPCID, prefix("10.0.0.0/16")), Options{})
		u, err := s.Start()
		if err != nil {
			t.Fatal(err)
		}
		host, _, _ := net.SplitHostPort(u[len("http://"):])
		if host != "127.0.0.1" || s.URL() != u {
			t.Errorf("url = %q, URL() = %q", u, s.URL())
		}
		if _, err := s.Start(); err == nil {
			t.Error("a second Start succeeded")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if resp, err := http.Post(u, "application/x-www-form-urlencoded", nil); err == nil {
			resp.Body.Close()
			t.Error("the server still answers after Close")
		}
	})
	t.Run("Serve on a caller's listener returns nil after Close", func(t *testing.T) {
		s := NewServer(NewVPC(testVPCID, prefix("10.0.0.0/16")), Options{})
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		c := clientWhenServing(t, s)
		if _, err := c.DescribeRouteTables(ctxT(t), &ec2.DescribeRouteTablesInput{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after Close", err)
		}
	})
}

// clientWhenServing polls, with a deadline, until a Serve running in another
// goroutine has published its URL, then builds a client.
func clientWhenServing(t *testing.T, s *Server) *ec2.Client {
	t.Helper()
	ctx := ctxT(t)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for s.URL() == "" {
		select {
		case <-ctx.Done():
			t.Fatal("Serve never published its URL")
		case <-tick.C:
		}
	}
	return EC2Client(s, noRetry)
}
