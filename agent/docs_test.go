package agent

import (
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rsagent/rsagent/internal/vpcsim"
)

// A config key that is not in docs/config.md does not exist for users.
func TestEveryConfigKeyIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := configKeys(reflect.TypeOf(Config{}), "")
	if len(keys) < 40 {
		t.Fatalf("found only %d keys; the walk is broken", len(keys))
	}
	for _, k := range keys {
		if !strings.Contains(string(doc), "`"+k+"`") {
			t.Errorf("docs/config.md does not document `%s`", k)
		}
	}
}

func configKeys(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := prefix + name
		out = append(out, path)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(unmarshalerType):
			out = append(out, configKeys(ft, path+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, configKeys(ft.Elem(), path+"[].")...)
		}
	}
	return out
}

// documentedRows returns the first cell of every table row of a doc whose
// first cell is one backquoted name matching re: the reference entries.
func documentedRows(t *testing.T, path string, re *regexp.Regexp) []string {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|")
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		if re.MatchString(m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// A key documented in docs/config.md that the config does not have would
// be an error in every file that uses it.
func TestEveryDocumentedConfigKeyExists(t *testing.T) {
	keys := map[string]bool{}
	for _, k := range configKeys(reflect.TypeOf(Config{}), "") {
		keys[k] = true
	}
	rows := documentedRows(t, "../docs/config.md", regexp.MustCompile(`^(bgp|bfd|services|reconcile|router|http|log)[\[.\]a-z0-9_]*$`))
	if len(rows) < 40 {
		t.Fatalf("found only %d documented keys; the doc's table format changed", len(rows))
	}
	for _, r := range rows {
		if !keys[r] {
			t.Errorf("docs/config.md documents `%s`, which the config does not have", r)
		}
	}
}

// registeredMetrics returns the rsagent_ metrics a running agent can export:
// everything registered by an agent with every section, read from the
// registry itself (not from the source text).
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	for k, v := range vpcsim.OfflineAWSEnv() {
		t.Setenv(k, v)
	}
	_, m, err := Load([]byte(validConfig + "reconcile: {region: us-east-1, vpc_id: vpc-0123456789abcdef0, endpoint: \"http://127.0.0.1:1\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *prometheus.Desc, 256)
	go func() {
		a.metrics.reg.Describe(ch)
		close(ch)
	}()
	names := map[string]bool{}
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := fq.FindStringSubmatch(d.String()); m != nil && strings.HasPrefix(m[1], "rsagent_") {
			names[m[1]] = true
		}
	}
	return names
}

// Every metric the agent registers is in docs/metrics.md, and every metric
// documented there exists: dashboards and alerts are written from the doc.
func TestMetricsAndTheirDocsAgree(t *testing.T) {
	reg := registeredMetrics(t)
	if len(reg) < 30 {
		t.Fatalf("found only %d registered metrics; the registry walk is broken", len(reg))
	}
	if !reg["rsagent_ec2_requests_total"] || !reg["rsagent_bfd_detect_time_seconds"] {
		t.Fatalf("the registry walk misses known metrics: %v", slices.Sorted(maps.Keys(reg)))
	}
	rows := documentedRows(t, "../docs/metrics.md", regexp.MustCompile(`^rsagent_[a-z0-9_]+$`))
	if len(rows) < 30 {
		t.Fatalf("found only %d documented metrics; the doc's table format changed", len(rows))
	}
	documented := map[string]bool{}
	for _, r := range rows {
		documented[r] = true
		if !reg[r] {
			t.Errorf("docs/metrics.md documents `%s`, which no agent registers", r)
		}
	}
	for n := range reg {
		if !documented[n] {
			t.Errorf("docs/metrics.md has no row for `%s`", n)
		}
	}
}
