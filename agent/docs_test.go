package agent

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
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

// Every metric the agent registers is in docs/metrics.md.
func TestEveryMetricIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	src := ""
	for _, f := range []string{"metrics.go", "metrics_bfd.go", "metrics_bgp.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src += string(b)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?:gv|cv)\("([a-z_]+)"`).FindAllStringSubmatch(src, -1) {
		names = append(names, "rsagent_"+m[1])
	}
	for _, m := range regexp.MustCompile(`d\("([a-z_]+)"`).FindAllStringSubmatch(src, -1) {
		names = append(names, "rsagent_bfd_"+m[1])
	}
	for _, m := range regexp.MustCompile(`NewDesc\("(rsagent_[a-z_]+)",`).FindAllStringSubmatch(src, -1) {
		names = append(names, m[1])
	}
	for _, m := range regexp.MustCompile(`Name: "([a-z_]+)"`).FindAllStringSubmatch(src, -1) {
		names = append(names, "rsagent_"+m[1])
	}
	if len(names) < 20 {
		t.Fatalf("found only %d metric names in the source", len(names))
	}
	for _, n := range names {
		if !strings.Contains(string(doc), "`"+n+"`") {
			t.Errorf("docs/metrics.md does not document `%s`", n)
		}
	}
}
