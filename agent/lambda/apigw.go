package lambda

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// serveAPI answers an API Gateway REST proxy event with the Sync Routes
// handler the daemon mounts, so validation, status codes and bodies are the
// same as over HTTP.
//
// The API key: API Gateway's usage plan checks it (and the rate) before the
// event exists, and reports the key it accepted in
// requestContext.identity.apiKey. Only that field counts. An event without
// it is answered 401 like a request without X-API-Key, and one that carries
// an X-API-Key header API Gateway did not check (the method was deployed
// without ApiKeyRequired) gets 403: the function never judges keys itself.
func (f *Function) serveAPI(ctx context.Context, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	start := f.now()
	resp := f.serveAPIRequest(ctx, ev)
	vpc, rtb := ev.PathParameters["vpc-id"], ev.PathParameters["route-table-id"]
	f.log.Info("sync routes request", "method", ev.HTTPMethod, "path", ev.Path, "vpc_id", vpc, "route_table_id", rtb,
		"status", resp.StatusCode, "request_id", ev.RequestContext.RequestID, "source_ip", ev.RequestContext.Identity.SourceIP,
		"duration_seconds", time.Since(start).Seconds())
	return resp
}

func (f *Function) serveAPIRequest(ctx context.Context, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return jsonError(http.StatusBadRequest, "body is marked base64 but does not decode")
		}
		body = b
	}
	req, err := http.NewRequestWithContext(ctx, ev.HTTPMethod, "http://api-gateway"+requestPath(ev), bytes.NewReader(body))
	if err != nil {
		return jsonError(http.StatusBadRequest, "bad request line: "+err.Error())
	}
	for k, vs := range ev.MultiValueHeaders {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if len(ev.MultiValueHeaders) == 0 {
		for k, v := range ev.Headers {
			req.Header.Set(k, v)
		}
	}
	switch {
	case ev.RequestContext.Identity.APIKey != "":
		req.Header.Set("X-API-Key", f.innerKey)
	case req.Header.Get("X-API-Key") != "":
		return jsonError(http.StatusForbidden, "API Gateway did not check the API key: deploy the method with ApiKeyRequired (see deploy/cloudformation/sync-routes-lambda.yaml)")
	}
	rw := &responseWriter{header: http.Header{}}
	f.api.ServeHTTP(rw, req)
	out := events.APIGatewayProxyResponse{StatusCode: rw.status(), Headers: map[string]string{}, Body: rw.body.String()}
	for k, vs := range rw.header {
		out.Headers[k] = strings.Join(vs, ",")
	}
	return out
}

// requestPath is the path the handler routes on. API Gateway's path
// includes a custom domain's base path; the path parameters do not.
func requestPath(ev events.APIGatewayProxyRequest) string {
	vpc, okV := ev.PathParameters["vpc-id"]
	rtb, okR := ev.PathParameters["route-table-id"]
	if okV && okR {
		return "/vpcs/" + url.PathEscape(vpc) + "/route-tables/" + url.PathEscape(rtb)
	}
	return ev.Path
}

func jsonError(status int, msg string) events.APIGatewayProxyResponse {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: string(b) + "\n"}
}

// responseWriter collects what the handler writes, for the proxy response.
type responseWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *responseWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
