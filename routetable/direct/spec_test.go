package direct

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func TestParseSpecAcceptsVpcRoutersFormat(t *testing.T) {
	spec, err := ParseSpec([]byte(`{
		"10.55.16.0/24": ["10.33.20.142"],
		"10.66.17.0/24": ["10.33.20.93", "10.33.30.22"],
		"2001:db8:1::/64": ["10.33.20.93", "2001:db8::5"]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(spec) != 3 {
		t.Fatalf("parsed %d destinations, want 3: %v", len(spec), spec)
	}
	got := spec[netip.MustParsePrefix("10.66.17.0/24")]
	if len(got) != 2 || got[0] != netip.MustParseAddr("10.33.20.93") || got[1] != netip.MustParseAddr("10.33.30.22") {
		t.Errorf("hosts of 10.66.17.0/24 = %v, want the spec's order", got)
	}
	if hs := spec.Hosts(); len(hs) != 4 {
		t.Errorf("Hosts() = %v, want the 4 distinct hosts", hs)
	}
	t.Run("it marshals back to the same spec", func(t *testing.T) {
		b, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseSpec(b)
		if err != nil || !again.Equal(spec) {
			t.Fatalf("round trip: %v, %s", err, b)
		}
		if !strings.HasPrefix(string(b), `{"10.55.16.0/24":["10.33.20.142"],`) {
			t.Errorf("marshalled order is not stable (IPv4 first, by address): %s", b)
		}
	})
	t.Run("an empty object is an empty spec", func(t *testing.T) {
		s, err := ParseSpec([]byte(`{}`))
		if err != nil || len(s) != 0 {
			t.Fatalf("%v, %v", s, err)
		}
	})
}

func TestParseSpecRefusesBadSpecsNamingTheCIDROrHost(t *testing.T) {
	tests := []struct {
		name, spec string
		say        []string
	}{
		{"not JSON", `{"10.0.0.0/8": [`, []string{"want a JSON object"}},
		{"a list at the top", `["10.0.0.0/8"]`, []string{"want a JSON object"}},
		{"trailing data", `{} {}`, []string{"something follows"}},
		{"a bad CIDR", `{"10.55.0.0/33": ["10.0.0.1"]}`, []string{`"10.55.0.0/33" is not a CIDR`}},
		{"host bits", `{"10.55.0.1/16": ["10.0.0.1"]}`, []string{`"10.55.0.1/16" has host bits set (did you mean 10.55.0.0/16?)`}},
		{"a CIDR twice", `{"10.55.0.0/16": ["10.0.0.1"], "10.55.0.0/16": ["10.0.0.2"]}`, []string{"10.55.0.0/16 is already listed"}},
		{"a host that is not an IP", `{"10.55.0.0/16": ["10.33.20.300"]}`, []string{`10.55.0.0/16: host "10.33.20.300" is not an IP address`}},
		{"a host that is a number", `{"10.55.0.0/16": [10]}`, []string{"10.55.0.0/16: host 10 is not a string"}},
		{"hosts not a list", `{"10.55.0.0/16": "10.0.0.1"}`, []string{"10.55.0.0/16: want a list of host IP addresses"}},
		{"null hosts", `{"10.55.0.0/16": null}`, []string{"10.55.0.0/16: want a list"}},
		{"no hosts", `{"10.55.0.0/16": []}`, []string{"10.55.0.0/16: no hosts"}},
		{"a host twice", `{"10.55.0.0/16": ["10.0.0.1", "10.0.0.1"]}`, []string{"10.55.0.0/16: host 10.0.0.1 is listed twice"}},
		{"an unspecified host", `{"10.55.0.0/16": ["0.0.0.0"]}`, []string{"host 0.0.0.0 cannot be a route target"}},
		{"a mapped host", `{"10.55.0.0/16": ["::ffff:10.0.0.1"]}`, []string{"write IPv4 hosts as IPv4 (10.0.0.1)"}},
		{"every problem at once", `{"10.55.0.1/16": ["10.0.0.1"], "10.66.0.0/16": ["x"]}`, []string{"2 problems", "10.55.0.1/16", `host "x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			s, err := ParseSpec([]byte(tc.spec))
			if err == nil {
				t.Fatalf("accepted: %v", s)
			}
			for _, want := range tc.say {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			var se *SpecError
			if !errors.As(err, &se) && !errors.Is(err, ErrSpecSyntax) {
				t.Errorf("error %T is neither a SpecError nor ErrSpecSyntax", err)
			}
		})
	}
}

func TestSpecLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"10.0.0.0/8": [`)
	for i := range MaxHostsPerCIDR + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"` + netip.AddrFrom4([4]byte{10, 1, byte(i / 256), byte(i % 256)}).String() + `"`)
	}
	b.WriteString("]}")
	if _, err := ParseSpec([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "at most 64") {
		t.Errorf("a CIDR with %d hosts: %v", MaxHostsPerCIDR+1, err)
	}
}

func TestValidateChecksSpecsBuiltInCode(t *testing.T) {
	bad := Spec{netip.MustParsePrefix("10.55.0.1/16"): {netip.MustParseAddr("10.0.0.1")}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "host bits") {
		t.Errorf("Validate = %v", err)
	}
	good := Spec{netip.MustParsePrefix("10.55.0.0/16"): {netip.MustParseAddr("10.0.0.1")}}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
	c := good.Clone()
	c[netip.MustParsePrefix("10.55.0.0/16")][0] = netip.MustParseAddr("10.0.0.9")
	if good.Equal(c) {
		t.Error("Clone shares the host lists")
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(`{"10.55.0.0/16": ["10.33.20.142", "10.33.30.22"]}`))
	f.Add([]byte(`{"2001:db8::/32": ["2001:db8::1"], "10.0.0.0/8": []}`))
	f.Add([]byte(`{"10.0.0.1/8": ["x"], "10.0.0.0/8": [1]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec(data)
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("ParseSpec accepted a spec Validate refuses: %v", err)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseSpec(b)
		if err != nil || !again.Equal(s) {
			t.Fatalf("round trip of %s: %v", b, err)
		}
	})
}

func TestTheShippedExampleSpecParses(t *testing.T) {
	b, err := os.ReadFile("../../deploy/examples/route-spec.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSpec(b)
	if err != nil || len(s) != 2 {
		t.Fatalf("deploy/examples/route-spec.json: %v, %d destinations", err, len(s))
	}
}
