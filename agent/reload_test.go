package agent

import (
	"strings"
	"testing"
)

func TestRestartOnlyChangesAreRefusedAsAWhole(t *testing.T) {
	_, base, err := Load([]byte(validConfig))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, field string
	}{
		{"a new ASN", "asn: 65010", "asn: 65011", "bgp.asn"},
		{"a new local address", "local_address: 198.51.100.1", "local_address: 198.51.100.3", "bgp.local_address"},
		{"a new gRPC address", "bgp:\n", "bgp:\n  grpc_listen: 127.0.0.1:50052\n", "bgp.grpc_listen"},
		{"a BGP listen port", "bgp:\n", "bgp:\n  listen_port: 1179\n", "bgp.listen_port"},
		{"a new BFD port", "services:", "bfd: {port: 4784}\nservices:", "bfd.port"},
		{"bfd.strict", "services:", "bfd: {strict: true}\nservices:", "bfd.strict"},
		{"a new HTTP address", "services:", "http: {listen: 127.0.0.1:9180}\nservices:", "http"},
		{"a reconcile section", "services:", "reconcile: {region: us-east-1, vpc_id: vpc-0123456789abcdef0}\nservices:", "reconcile"},
	}
	for _, tc := range tests {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, next, err := Load([]byte(strings.Replace(validConfig, tc.from, tc.to, 1)))
			if err != nil {
				t.Fatal(err)
			}
			err = restartOnly(base, next)
			if err == nil || !strings.Contains(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), "restart") {
				t.Fatalf("want a refusal naming %s, got %v", tc.field, err)
			}
		})
	}
	t.Run("accepts peer, BFD timer and service changes", func(t *testing.T) {
		changed := strings.NewReplacer("min_tx: 100ms", "min_tx: 200ms", "203.0.113.10/32", "203.0.113.11/32").Replace(validConfig)
		_, next, err := Load([]byte(changed + "  - {name: video, prefixes: [203.0.113.12/32]}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := restartOnly(base, next); err != nil {
			t.Fatalf("refused a live-applicable change: %v", err)
		}
	})
}
