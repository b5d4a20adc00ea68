package routetable

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/rsagent/rsagent/internal/vpcsim"
)

// TestEC2ClientSendsEachCallOnce drives the production client (default
// retryer included) against the emulator with no throttling: every call
// must reach EC2 exactly once. The tables are large enough that a response
// takes more than one read. smithy-go's closed request body used to make
// net/http close the connection under a 200 now and then; the SDK then sent
// the call again, and a repeated CreateRoute answered RouteAlreadyExists.
func TestEC2ClientSendsEachCallOnce(t *testing.T) {
	f := newFixture(t, fixtureOptions{customTables: 4, routes: 26,
		server: vpcsim.Options{Mutating: vpcsim.Bucket{Size: -1}, NonMutating: vpcsim.Bucket{Size: -1}}})
	client := NewEC2Client(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	}, f.srv.URL())
	before := len(f.srv.Log())
	const rounds = 150
	for i := range rounds {
		if _, err := client.DescribeRouteTables(t.Context(), &ec2.DescribeRouteTablesInput{}); err != nil {
			t.Fatalf("call %d: DescribeRouteTables: %v", i, err)
		}
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), 32).String()
		if _, err := client.CreateRoute(t.Context(), &ec2.CreateRouteInput{RouteTableId: aws.String(f.custom[0]),
			DestinationCidrBlock: aws.String(dst), NetworkInterfaceId: aws.String(f.enis[0])}); err != nil {
			t.Fatalf("round %d: CreateRoute %s: %v", i, dst, err)
		}
		if _, err := client.DeleteRoute(t.Context(), &ec2.DeleteRouteInput{RouteTableId: aws.String(f.custom[0]),
			DestinationCidrBlock: aws.String(dst)}); err != nil {
			t.Fatalf("round %d: DeleteRoute %s: %v", i, dst, err)
		}
	}
	if got := len(f.srv.Log()) - before; got != 3*rounds {
		t.Errorf("EC2 received %d requests for %d calls: the client sent some twice", got, 3*rounds)
	}
}

// smithyBody behaves as smithy-go's request body: once closed (which the
// SDK does as soon as the response headers arrive), its WriteTo answers
// io.EOF as an error. WriteTo waits for that Close, so that net/http's read
// past Content-Length always comes after it, as it sometimes does in the
// field.
type smithyBody struct {
	r      *bytes.Reader
	closed chan struct{}
	once   sync.Once
}

func (b *smithyBody) Read(p []byte) (int, error) {
	select {
	case <-b.closed:
		return 0, io.EOF
	default:
		return b.r.Read(p)
	}
}

func (b *smithyBody) WriteTo(w io.Writer) (int64, error) {
	select {
	case <-b.closed:
		return 0, io.EOF
	case <-time.After(5 * time.Second):
		return b.r.WriteTo(w)
	}
}

func (b *smithyBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// TestHTTPClientSurvivesAClosedRequestBody reproduces, deterministically
// and with net/http alone, how the SDK lost responses: the request body is
// closed once the headers are in, net/http's extra read of it fails, and
// the connection is closed under the response body.
func TestHTTPClientSurvivesAClosedRequestBody(t *testing.T) {
	wrote := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<first/>"))
		w.(http.Flusher).Flush()
		// The rest of the body only once the client has finished writing.
		select {
		case err := <-wrote:
			wrote <- err
		case <-r.Context().Done():
			return
		case <-time.After(5 * time.Second):
		}
		_, _ = w.Write(bytes.Repeat([]byte("x"), 64<<10))
	}))
	defer srv.Close()

	client := NewHTTPClient(nil)
	body := &smithyBody{r: bytes.NewReader([]byte("Action=DescribeRouteTables&Version=2016-11-15")), closed: make(chan struct{})}
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { wrote <- i.Err },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(body.r.Len())
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_ = body.Close() // what smithy-go does as soon as Do returns
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response after the request body was closed: %v", err)
	}
	if len(got) != len("<first/>")+64<<10 {
		t.Errorf("response body is %d bytes, want %d", len(got), len("<first/>")+64<<10)
	}
	if err := <-wrote; err != nil {
		t.Errorf("writing the request failed: %v", err)
	}
}
