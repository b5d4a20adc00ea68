package routetable

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"golang.org/x/sync/errgroup"
)

// Event is one change, as notifications carry it.
type Event struct {
	Time time.Time `json:"time"`
	// Source is "reconcile" or "sync-routes".
	Source      string `json:"source"`
	VPCID       string `json:"vpc_id"`
	Table       string `json:"route_table_id"`
	Action      Action `json:"action"`
	Destination string `json:"destination"`
	ENI         string `json:"network_interface_id,omitempty"`
	PrevENI     string `json:"previous_network_interface_id,omitempty"`
	DryRun      bool   `json:"dry_run"`
	Error       string `json:"error,omitempty"`
}

// Notifier delivers one event somewhere. Failures are logged and counted
// by the caller; they never fail a pass.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// NotifyError says which notifier failed, for the failure counter.
type NotifyError struct {
	Notifier string
	Err      error
}

// Error implements error.
func (e *NotifyError) Error() string { return e.Notifier + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *NotifyError) Unwrap() error { return e.Err }

// Multi sends every event to each notifier and joins their errors.
func Multi(ns ...Notifier) Notifier { return multi(ns) }

type multi []Notifier

func (m multi) Notify(ctx context.Context, e Event) error {
	var errs []error
	for _, n := range m {
		if n == nil {
			continue
		}
		if err := n.Notify(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WebhookNotifier POSTs each event as JSON.
type WebhookNotifier struct {
	url    string
	client *http.Client
}

// NewWebhookNotifier posts to url with a per-request timeout (default 2 s).
func NewWebhookNotifier(url string, timeout time.Duration) *WebhookNotifier {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &WebhookNotifier{url: url, client: &http.Client{Timeout: timeout}}
}

// Notify implements Notifier.
func (w *WebhookNotifier) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return &NotifyError{"webhook", fmt.Errorf("encode event: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return &NotifyError{"webhook", fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return &NotifyError{"webhook", fmt.Errorf("post event: %w", err)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return &NotifyError{"webhook", fmt.Errorf("post event: status %s", resp.Status)}
	}
	return nil
}

// SNSNotifier publishes each event as JSON to a topic. Like API it keeps a
// method value, not the client, to stay small.
type SNSNotifier struct {
	publish func(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error)
	topic   string
}

// NewSNSNotifier publishes to topicARN with client.
func NewSNSNotifier(client *sns.Client, topicARN string) *SNSNotifier {
	return &SNSNotifier{publish: client.Publish, topic: topicARN}
}

// Notify implements Notifier.
func (s *SNSNotifier) Notify(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return &NotifyError{"sns", fmt.Errorf("encode event: %w", err)}
	}
	subject := fmt.Sprintf("rsagent %s %s in %s", e.Action, e.Destination, e.Table)
	if len(subject) > 100 {
		subject = subject[:100]
	}
	if _, err := s.publish(ctx, &sns.PublishInput{TopicArn: aws.String(s.topic), Message: aws.String(string(body)), Subject: aws.String(subject)}); err != nil {
		return &NotifyError{"sns", fmt.Errorf("publish to %s: %w", s.topic, err)}
	}
	return nil
}

// deliver sends events concurrently under one overall deadline, so a slow
// webhook delays a pass by at most timeout.
func deliver(ctx context.Context, n Notifier, events []Event, timeout time.Duration, log *slog.Logger, obs Observer) {
	if n == nil || len(events) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	var g errgroup.Group
	g.SetLimit(8)
	for _, e := range events {
		g.Go(func() error {
			err := n.Notify(ctx, e)
			if err == nil {
				return nil
			}
			log.Warn("notification failed", "route_table_id", e.Table, "destination", e.Destination, "action", string(e.Action), "error", err)
			countNotifyFailures(err, obs)
			return nil
		})
	}
	_ = g.Wait()
}

func countNotifyFailures(err error, obs Observer) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			countNotifyFailures(e, obs)
		}
		return
	}
	var ne *NotifyError
	if errors.As(err, &ne) {
		obs.NotificationFailed(ne.Notifier)
		return
	}
	obs.NotificationFailed("other")
}
