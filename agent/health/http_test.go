package health

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNewHTTP(t *testing.T) {
	tests := []struct {
		name   string
		url    string
		status int
		ok     bool
		str    string
	}{
		{"a plain URL defaults to status 200", "http://127.0.0.1:8080/healthz", 0, true, "http http://127.0.0.1:8080/healthz"},
		{"an https URL is accepted", "https://localhost/healthz", 204, true, "http https://localhost/healthz status 204"},
		{"another scheme is refused", "ftp://127.0.0.1/", 0, false, ""},
		{"a URL without a host is refused", "http:///healthz", 0, false, ""},
		{"a status out of range is refused", "http://127.0.0.1/", 700, false, ""},
		{"an unparsable URL is refused", "http://[::1/", 0, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewHTTP(tt.url, tt.status, "")
			if (err == nil) != tt.ok {
				t.Fatalf("NewHTTP = %v", err)
			}
			if tt.ok && c.String() != tt.str {
				t.Errorf("String() = %q, want %q", c.String(), tt.str)
			}
		})
	}
}

func TestHTTPCheck(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "status: ok") })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Repeat("x", MaxHTTPBody), "ok")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for handlers

	tests := []struct {
		name   string
		path   string
		status int
		body   string
		want   string // "" passes, else substring of the error
	}{
		{"a 200 passes", "/ok", 0, "", ""},
		{"a 200 with the expected body passes", "/ok", 200, "ok", ""},
		{"a 503 fails naming both statuses", "/fail", 0, "", "status 503, want 200"},
		{"an expected 503 passes", "/fail", 503, "", ""},
		{"a body without the substring fails", "/ok", 0, "healthy", `does not contain "healthy"`},
		{"a redirect is not followed", "/redirect", 0, "", "status 302, want 200"},
		{"a substring past the read limit is not found", "/big", 0, "ok", "does not contain"},
		{"a slow answer fails at the deadline", "/slow", 0, "", "deadline exceeded"},
		{"a missing path fails", "/nope", 0, "", "status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewHTTP(srv.URL+tt.path, tt.status, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			err = c.Check(ctx)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Check = %v, want an error containing %q", err, tt.want)
			}
		})
	}

	t.Run("a closed server fails with connection refused", func(t *testing.T) {
		closed := httptest.NewServer(mux)
		url := closed.URL
		closed.Close()
		c, err := NewHTTP(url+"/ok", 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Check(t.Context()); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("Check = %v, want connection refused", err)
		}
	})

	t.Run("proxy settings in the environment are ignored", func(t *testing.T) {
		// Go never proxies loopback, so this cannot be observed against
		// httptest; look at the transport instead.
		t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
		c, err := NewHTTP("http://health.example.internal/healthz", 0, "")
		if err != nil {
			t.Fatal(err)
		}
		tr, ok := c.(*httpCheck).client.Transport.(*http.Transport)
		if !ok || tr.Proxy != nil || !tr.DisableKeepAlives {
			t.Errorf("transport = %#v, want no proxy and no keep-alive", c.(*httpCheck).client.Transport)
		}
	})
}
