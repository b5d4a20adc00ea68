package lambda

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Kind is what an invocation payload is.
type Kind string

// The events the function handles.
const (
	KindAPIGateway Kind = "api-gateway"
	KindSchedule   Kind = "schedule"
	KindSNS        Kind = "sns"
)

// UnsupportedEventError is the invocation error for a payload the function
// does not handle. Its name is the errorType Lambda reports.
type UnsupportedEventError struct {
	// What names what arrived, e.g. `an SQS message (Records[0].eventSource "aws:sqs")`.
	What string
}

func (e *UnsupportedEventError) Error() string {
	return "unsupported event: " + e.What + "; rsagent lambda handles API Gateway REST proxy events " +
		"(PATCH /vpcs/{vpc-id}/route-tables/{route-table-id}), EventBridge \"Scheduled Event\"s and SNS notifications"
}

// probe holds the fields that tell the event kinds apart. encoding/json
// matches keys case-insensitively, so EventSource also catches the
// "eventSource" of SQS, S3 and DynamoDB records.
type probe struct {
	HTTPMethod     *string `json:"httpMethod"`
	Version        string  `json:"version"`
	RouteKey       string  `json:"routeKey"`
	Source         string  `json:"source"`
	DetailType     *string `json:"detail-type"`
	RequestContext *struct {
		EventType string          `json:"eventType"`
		ELB       json.RawMessage `json:"elb"`
	} `json:"requestContext"`
	Records []struct {
		EventSource string `json:"EventSource"`
	} `json:"Records"`
}

// Classify tells which event payload is. It never guesses: a payload that
// merely resembles an event (an EventBridge event that is not a schedule,
// an HTTP API v2 event, a WebSocket event, SQS records) is unsupported, with
// an error that says what it looked like.
func Classify(payload []byte) (Kind, error) {
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 {
		return "", &UnsupportedEventError{What: "an empty payload"}
	}
	if trimmed[0] != '{' {
		return "", &UnsupportedEventError{What: "a JSON " + jsonKind(trimmed[0]) + ", not an object"}
	}
	var p probe
	if err := json.Unmarshal(trimmed, &p); err != nil {
		var keys map[string]json.RawMessage
		if json.Unmarshal(trimmed, &keys) != nil {
			return "", &UnsupportedEventError{What: "a payload that is not valid JSON"}
		}
		return "", &UnsupportedEventError{What: "an object with keys " + keyList(keys)}
	}
	switch {
	case p.RequestContext != nil && p.RequestContext.EventType != "":
		return "", &UnsupportedEventError{What: "an API Gateway WebSocket event"}
	case p.RequestContext != nil && p.RequestContext.ELB != nil:
		return "", &UnsupportedEventError{What: "an Application Load Balancer event; put the function behind an API Gateway REST API with an API key"}
	case p.HTTPMethod != nil:
		return KindAPIGateway, nil
	case p.Version == "2.0" && p.RouteKey != "":
		return "", &UnsupportedEventError{What: "an API Gateway HTTP API (payload format 2.0) event; use a REST API, as deploy/cloudformation/sync-routes-lambda.yaml does"}
	case p.DetailType != nil && *p.DetailType == "Scheduled Event" && p.Source == "aws.events":
		return KindSchedule, nil
	case p.DetailType != nil:
		return "", &UnsupportedEventError{What: fmt.Sprintf("an EventBridge event (source %q, detail-type %q)", p.Source, *p.DetailType)}
	case len(p.Records) > 0:
		for i, r := range p.Records {
			if r.EventSource != "aws:sns" {
				return "", &UnsupportedEventError{What: fmt.Sprintf("a batch of records (Records[%d].eventSource %q)", i, r.EventSource)}
			}
		}
		return KindSNS, nil
	}
	var keys map[string]json.RawMessage
	_ = json.Unmarshal(trimmed, &keys)
	return "", &UnsupportedEventError{What: "an object with keys " + keyList(keys)}
}

func jsonKind(first byte) string {
	switch {
	case first == '[':
		return "array"
	case first == '"':
		return "string"
	case first == 't' || first == 'f':
		return "boolean"
	case first == 'n':
		return "null"
	default:
		return "number"
	}
}

// keyList names at most 8 keys, sorted, so the error stays one short line.
func keyList(m map[string]json.RawMessage) string {
	if len(m) == 0 {
		return "{} (none)"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	more := ""
	if len(keys) > 8 {
		more = fmt.Sprintf(" and %d more", len(keys)-8)
		keys = keys[:8]
	}
	return "[" + strings.Join(keys, ", ") + "]" + more
}
