package routetable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// API is the narrow slice of EC2 the package uses. It holds method values
// rather than an interface satisfied by *ec2.Client: an interface value
// holding the client links all of its ~2,400 methods into the binary, the
// method values only these. Tests may fill the fields with fakes.
type API struct {
	DescribeRouteTables        func(context.Context, *ec2.DescribeRouteTablesInput, ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error)
	CreateRoute                func(context.Context, *ec2.CreateRouteInput, ...func(*ec2.Options)) (*ec2.CreateRouteOutput, error)
	ReplaceRoute               func(context.Context, *ec2.ReplaceRouteInput, ...func(*ec2.Options)) (*ec2.ReplaceRouteOutput, error)
	DeleteRoute                func(context.Context, *ec2.DeleteRouteInput, ...func(*ec2.Options)) (*ec2.DeleteRouteOutput, error)
	DescribeRouteServers       func(context.Context, *ec2.DescribeRouteServersInput, ...func(*ec2.Options)) (*ec2.DescribeRouteServersOutput, error)
	GetRouteServerPropagations func(context.Context, *ec2.GetRouteServerPropagationsInput, ...func(*ec2.Options)) (*ec2.GetRouteServerPropagationsOutput, error)
	// DescribeNetworkInterfaces finds this appliance's ENIs from its
	// addresses (Config.LocalAddresses); unused otherwise.
	DescribeNetworkInterfaces func(context.Context, *ec2.DescribeNetworkInterfacesInput, ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error)
}

// NewEC2API takes the method values the package needs from client.
func NewEC2API(client *ec2.Client) API {
	return API{
		DescribeRouteTables:        client.DescribeRouteTables,
		CreateRoute:                client.CreateRoute,
		ReplaceRoute:               client.ReplaceRoute,
		DeleteRoute:                client.DeleteRoute,
		DescribeRouteServers:       client.DescribeRouteServers,
		GetRouteServerPropagations: client.GetRouteServerPropagations,
		DescribeNetworkInterfaces:  client.DescribeNetworkInterfaces,
	}
}

// ClientOptions configure the production EC2 client.
type ClientOptions struct {
	Region string
	// Endpoint overrides the EC2 endpoint (lab, tests); "" is the AWS default.
	Endpoint string
	// MaxAttempts of the SDK's standard retryer, the backstop behind the
	// client-side pacing; 0 means the SDK default (3).
	MaxAttempts int
	// MaxBackoff caps the retryer's backoff; 0 means the SDK default (20 s).
	MaxBackoff time.Duration
}

// LoadAWSConfig loads the default credential chain and region with the
// standard (not adaptive) retry mode: pacing is done by our own token
// bucket, and the adaptive mode is marked experimental.
func LoadAWSConfig(ctx context.Context, o ClientOptions) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return newRetryer(o) }),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS config: %w", err)
	}
	return cfg, nil
}

// NewEC2Client builds the EC2 client for production use from cfg (see
// LoadAWSConfig) and an optional endpoint override.
func NewEC2Client(cfg aws.Config, endpoint string) *ec2.Client {
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.HTTPClient = NewHTTPClient(o.HTTPClient)
	})
}

// NewHTTPClient wraps the SDK's resolved HTTP client (its CA bundle, read
// timeout and dial settings stay) for the reconciler's traffic:
//   - room for as many idle connections as calls in flight. The default
//     keeps 10 per host: a burst of 50 writes then reconnects on every pass.
//   - request bodies without io.WriterTo. smithy-go closes an attempt's
//     body as soon as the response headers arrive, and its closed body's
//     WriteTo answers io.EOF as an error; net/http, still reading the body
//     once more after Content-Length to find extra bytes, takes that as a
//     write error and closes the connection under the response being read.
//     The 200 then fails with "use of closed network connection" and the
//     SDK sends the call again, after a backoff and with another token: we
//     measured 4 % of calls on loopback, and a CreateRoute so repeated
//     answers RouteAlreadyExists for a route it just created.
func NewHTTPClient(base aws.HTTPClient) aws.HTTPClient {
	bc, ok := base.(*awshttp.BuildableClient)
	if base == nil {
		bc, ok = awshttp.NewBuildableClient(), true
	}
	if ok {
		base = bc.WithTransportOptions(func(tr *http.Transport) {
			tr.MaxIdleConnsPerHost = maxConcurrency
		})
	}
	return plainBodyClient{base}
}

type plainBodyClient struct{ aws.HTTPClient }

func (c plainBodyClient) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req = req.WithContext(req.Context()) // a shallow copy: the caller's request stays as it was
		req.Body = plainBody{req.Body}
	}
	return c.HTTPClient.Do(req)
}

// plainBody exposes Read and Close only, so that io.Copy reads it and
// treats its io.EOF as the end it is.
type plainBody struct{ rc io.ReadCloser }

func (b plainBody) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b plainBody) Close() error               { return b.rc.Close() }

func newRetryer(o ClientOptions) aws.Retryer {
	return retry.NewStandard(func(so *retry.StandardOptions) {
		if o.MaxAttempts > 0 {
			so.MaxAttempts = o.MaxAttempts
		}
		if o.MaxBackoff > 0 {
			so.MaxBackoff = o.MaxBackoff
		}
	})
}

// countRequests returns a per-call option that reports every attempt,
// retries included, to obs. It sits first in the deserialize step, which
// runs below the retry middleware (finalize step), so each attempt passes
// through it and sees the parsed API error.
func countRequests(obs Observer) func(*ec2.Options) {
	return func(o *ec2.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("rsagentCountRequests",
				func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleDeserialize(ctx, in)
					obs.EC2Request(awsmiddleware.GetOperationName(ctx), ErrorCode(err))
					return out, md, err
				}), middleware.Before)
		})
	}
}

// ErrorCode is the EC2 error code of err: "ok" for nil, the API error code
// when there is one, "error" otherwise (network, timeouts, cancellation).
func ErrorCode(err error) string {
	if err == nil {
		return "ok"
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() != "" {
		return ae.ErrorCode()
	}
	return "error"
}

// isDryRunOK reports whether err is EC2's answer to a DryRun request that
// would have succeeded.
func isDryRunOK(err error) bool { return ErrorCode(err) == "DryRunOperation" }

// describeTables is the one read of every pass: all route tables of vpcID.
func describeTables(ctx context.Context, api API, vpcID string, opts ...func(*ec2.Options)) ([]RouteTable, error) {
	in := &ec2.DescribeRouteTablesInput{Filters: []types.Filter{{Name: aws.String("vpc-id"), Values: []string{vpcID}}}}
	var out []RouteTable
	for {
		resp, err := api.DescribeRouteTables(ctx, in, opts...)
		if err != nil {
			return nil, fmt.Errorf("describe route tables in %s: %w", vpcID, err)
		}
		for _, t := range resp.RouteTables {
			rt, err := FromEC2(t)
			if err != nil {
				return nil, fmt.Errorf("describe route tables in %s: %w", vpcID, err)
			}
			out = append(out, rt)
		}
		if resp.NextToken == nil || *resp.NextToken == "" {
			return out, nil
		}
		in.NextToken = resp.NextToken
	}
}

// propagatedTables lists the route tables of vpc that some Route Server
// propagates into. DescribeRouteServers is account-wide; the caller limits
// the result to its VPC's tables.
func propagatedTables(ctx context.Context, api API, opts ...func(*ec2.Options)) (map[string]bool, error) {
	out := map[string]bool{}
	in := &ec2.DescribeRouteServersInput{}
	for {
		resp, err := api.DescribeRouteServers(ctx, in, opts...)
		if err != nil {
			return nil, fmt.Errorf("describe route servers: %w", err)
		}
		for _, rs := range resp.RouteServers {
			id := aws.ToString(rs.RouteServerId)
			props, err := api.GetRouteServerPropagations(ctx, &ec2.GetRouteServerPropagationsInput{RouteServerId: rs.RouteServerId}, opts...)
			if err != nil {
				return nil, fmt.Errorf("get propagations of route server %s: %w", id, err)
			}
			for _, p := range props.RouteServerPropagations {
				// A propagation being deleted still counts: its routes may linger.
				out[aws.ToString(p.RouteTableId)] = true
			}
		}
		if resp.NextToken == nil || *resp.NextToken == "" {
			return out, nil
		}
		in.NextToken = resp.NextToken
	}
}
