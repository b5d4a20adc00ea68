package routetable

import "time"

// Observer receives the package's measurements; the agent adapts it to
// Prometheus (the package is a leaf and does not import it). Methods are
// called from several goroutines and must not block.
type Observer interface {
	// PassDone reports a reconcile pass: result is "ok" (nothing to do),
	// "changed" or "error".
	PassDone(result string, d time.Duration)
	// Changed reports one applied change: action is create, replace or
	// delete (dry-run changes are not counted).
	Changed(action string)
	// EC2Request reports every EC2 attempt, retries included; code is "ok",
	// the EC2 error code (RequestLimitExceeded, …) or "error".
	EC2Request(operation, code string)
	// NotificationFailed reports a notification that could not be sent;
	// notifier is "webhook" or "sns".
	NotificationFailed(notifier string)
	// APIRequest reports a Sync Routes API request and its HTTP status.
	APIRequest(status int)
}

// NopObserver discards every measurement.
type NopObserver struct{}

// PassDone implements Observer.
func (NopObserver) PassDone(string, time.Duration) {}

// Changed implements Observer.
func (NopObserver) Changed(string) {}

// EC2Request implements Observer.
func (NopObserver) EC2Request(string, string) {}

// NotificationFailed implements Observer.
func (NopObserver) NotificationFailed(string) {}

// APIRequest implements Observer.
func (NopObserver) APIRequest(int) {}
