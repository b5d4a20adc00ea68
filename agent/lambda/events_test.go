package lambda

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	files, err := filepath.Glob("testdata/events/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("found %d sample events: %v", len(files), err)
	}
	samples := map[string]Kind{"schedule.json": KindSchedule, "sns.json": KindSNS, "apigw-patch.json": KindAPIGateway}
	for _, f := range files {
		t.Run("the sample "+filepath.Base(f)+" is recognised", func(t *testing.T) {
			want, ok := samples[filepath.Base(f)]
			if !ok {
				t.Fatalf("no expectation for %s", f)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Classify(b)
			if err != nil || got != want {
				t.Errorf("Classify = %q, %v; want %q", got, err, want)
			}
		})
	}

	unsupported := []struct {
		name, payload, says string
	}{
		{"an empty payload", ``, "an empty payload"},
		{"a JSON array", `[1,2]`, "a JSON array, not an object"},
		{"a JSON string", `"reconcile"`, "a JSON string"},
		{"invalid JSON", `{"a":`, "not valid JSON"},
		{"an empty object", `{}`, "keys {} (none)"},
		{"an object with unknown keys", `{"foo": 1, "bar": 2}`, "keys [bar, foo]"},
		{"an object with a field of the wrong type", `{"source": 7}`, "keys [source]"},
		{"an EventBridge event that is not a schedule", `{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}`,
			`EventBridge event (source "aws.ec2", detail-type "EC2 Instance State-change Notification")`},
		{"a scheduled event from another source", `{"source":"custom.app","detail-type":"Scheduled Event"}`, `source "custom.app"`},
		{"an HTTP API v2 event", `{"version":"2.0","routeKey":"PATCH /vpcs/{vpc}","rawPath":"/vpcs/x","requestContext":{"http":{"method":"PATCH"}}}`, "HTTP API (payload format 2.0)"},
		{"a WebSocket event", `{"requestContext":{"eventType":"MESSAGE","routeKey":"$default"},"body":"x"}`, "WebSocket"},
		{"an ALB event", `{"httpMethod":"PATCH","path":"/vpcs/x","requestContext":{"elb":{"targetGroupArn":"arn"}}}`, "Application Load Balancer"},
		{"SQS records", `{"Records":[{"eventSource":"aws:sqs","body":"x"}]}`, `Records[0].eventSource "aws:sqs"`},
		{"SNS mixed with SQS records", `{"Records":[{"EventSource":"aws:sns"},{"eventSource":"aws:sqs"}]}`, `Records[1].eventSource "aws:sqs"`},
		{"many keys", `{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10}`, "[a, b, c, d, e, f, g, h] and 2 more"},
	}
	for _, tc := range unsupported {
		t.Run(tc.name+" is refused, naming what arrived", func(t *testing.T) {
			kind, err := Classify([]byte(tc.payload))
			var ue *UnsupportedEventError
			if !errors.As(err, &ue) {
				t.Fatalf("Classify = %q, %v; want an UnsupportedEventError", kind, err)
			}
			if !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "rsagent lambda handles") {
				t.Errorf("error %q does not say %q and what is handled", err, tc.says)
			}
		})
	}
}

func TestWorkDeadlineKeepsAReserve(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		left, reserve time.Duration
	}{
		{3 * time.Second, 500 * time.Millisecond}, // a tenth would be 300 ms: the floor
		{20 * time.Second, 2 * time.Second},       // a tenth
		{15 * time.Minute, 5 * time.Second},       // a tenth would be 90 s: the cap
	} {
		t.Run(tc.left.String()+" left keeps "+tc.reserve.String(), func(t *testing.T) {
			if got := now.Add(tc.left).Sub(workDeadline(now.Add(tc.left), now)); got != tc.reserve {
				t.Errorf("reserve %v, want %v", got, tc.reserve)
			}
		})
	}
}
