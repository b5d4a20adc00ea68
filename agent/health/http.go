package health

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// MaxHTTPBody is how much of a response body an http check reads when it
// looks for the expected substring. A health endpoint that hides its verdict
// further down is misconfigured; reading more would let it cost memory.
const MaxHTTPBody = 64 << 10

// httpCheck passes when a GET of url answers with the expected status and,
// if body is set, a body containing it.
type httpCheck struct {
	url    string
	status int
	body   string
	client *http.Client
}

// NewHTTP returns a check that GETs rawURL. status is the expected status
// code (0 means 200); body, if not empty, must occur in the first
// MaxHTTPBody bytes of the response.
//
// Redirects are not followed: a 3xx is judged like any other status, so a
// health URL cannot send the probe off the host. Proxy environment
// variables are ignored for the same reason, and every check opens a fresh
// connection (no keep-alive), so a listener that stopped accepting is seen.
// The deadline comes from the monitor's timeout through ctx.
func NewHTTP(rawURL string, status int, body string) (Checker, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("http check: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("http check %q: scheme must be http or https", rawURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("http check %q: no host", rawURL)
	}
	if status == 0 {
		status = http.StatusOK
	}
	if status < 100 || status > 599 {
		return nil, fmt.Errorf("http check %q: status %d is not 100..599", rawURL, status)
	}
	transport := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
	}
	return &httpCheck{
		url:    u.String(),
		status: status,
		body:   body,
		client: &http.Client{
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}, nil
}

func (c *httpCheck) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("User-Agent", "rsagent-health")
	resp, err := c.client.Do(req)
	if err != nil {
		return err // *url.Error reads `Get "http://…": dial tcp …: connection refused`
	}
	defer resp.Body.Close()
	if resp.StatusCode != c.status {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, c.status)
	}
	if c.body == "" {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxHTTPBody))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if !bytes.Contains(b, []byte(c.body)) {
		return fmt.Errorf("body does not contain %q (read %d bytes)", c.body, len(b))
	}
	return nil
}

func (c *httpCheck) String() string {
	var b strings.Builder
	b.WriteString("http ")
	b.WriteString(c.url)
	if c.status != http.StatusOK {
		fmt.Fprintf(&b, " status %d", c.status)
	}
	if c.body != "" {
		fmt.Fprintf(&b, " body %q", c.body)
	}
	return b.String()
}
