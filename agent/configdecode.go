package agent

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decodeStrict decodes n into out (a pointer to a struct). Before decoding it
// walks the YAML tree beside the Go type, so that an unknown key is reported
// with its full path (`services[0].helth: unknown key`) rather than a line
// number, and so that yaml's own type errors ("line 7: cannot unmarshal …")
// can be rewritten to name the field on that line.
func decodeStrict(n *yaml.Node, out any) error {
	w := walker{lines: map[int]string{}}
	w.walk(n, reflect.TypeOf(out).Elem(), "")
	if len(w.problems) > 0 {
		return &ConfigError{Problems: w.problems}
	}
	if err := n.Decode(out); err != nil {
		return &ConfigError{Problems: w.translate(err)}
	}
	return nil
}

type walker struct {
	lines    map[int]string // line → path of the deepest field that starts there
	problems []string
}

var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			w.walk(c, t, path)
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if path != "" {
		w.lines[n.Line] = path
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// Types with their own decoder check their own shape. Values are
	// decoded here, one field at a time, so that an error names its field
	// even when several share a line (`bfd: {min_tx: 1s, multiplier: 300}`).
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		w.checkValue(n, t, path)
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			w.problems = append(w.problems, fmt.Sprintf("%s: expected a mapping, got %s", orRoot(path), describe(n)))
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				// `<<: *anchor` (or a list of them): the merged maps
				// must fit this type too; explicit keys may override them.
				w.walkMerge(v, t, path)
				continue
			}
			p := join(path, k.Value)
			if seen[k.Value] {
				w.problems = append(w.problems, fmt.Sprintf("%s: duplicate key", p))
				continue
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok {
				w.problems = append(w.problems, fmt.Sprintf("%s: unknown key (known keys: %s)", p, knownKeys(fields)))
				continue
			}
			w.lines[k.Line] = p
			w.walk(v, ft, p)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if n.Tag == "!!null" {
				return
			}
			w.problems = append(w.problems, fmt.Sprintf("%s: expected a mapping, got %s", orRoot(path), describe(n)))
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := fmt.Sprintf("%s[%q]", path, k.Value)
			if seen[k.Value] {
				w.problems = append(w.problems, fmt.Sprintf("%s: duplicate key", p))
				continue
			}
			seen[k.Value] = true
			w.lines[k.Line] = p
			w.walk(v, t.Elem(), p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if n.Tag == "!!null" {
				return
			}
			w.problems = append(w.problems, fmt.Sprintf("%s: expected a list, got %s", orRoot(path), describe(n)))
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			w.problems = append(w.problems, fmt.Sprintf("%s: expected a single value, got %s", orRoot(path), describe(n)))
			return
		}
		w.checkValue(n, t, path)
	}
}

// checkValue decodes n into a fresh t and records the error under path.
func (w *walker) checkValue(n *yaml.Node, t reflect.Type, path string) {
	if n.Tag == "!!null" {
		return
	}
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return
	}
	for _, m := range yamlMessages(err) {
		if sub := lineRE.FindStringSubmatch(m); sub != nil {
			m = sub[2]
		}
		w.problems = append(w.problems, fmt.Sprintf("%s: %s", orRoot(path), friendlyTypeError(m)))
	}
}

func yamlMessages(err error) []string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return te.Errors
	}
	return []string{err.Error()}
}

func (w *walker) walkMerge(v *yaml.Node, t reflect.Type, path string) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, c := range v.Content {
			w.walkMerge(c, t, path)
		}
		return
	}
	// Lines inside an anchor belong to the anchor's own path; keep those.
	saved := w.lines
	w.lines = map[int]string{}
	w.walk(v, t, path)
	for line, p := range w.lines {
		if _, ok := saved[line]; !ok {
			saved[line] = p
		}
	}
	w.lines = saved
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}

func knownKeys(fields map[string]reflect.Type) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// translate rewrites yaml's "line N: …" messages to name the field on line N.
func (w *walker) translate(err error) []string {
	msgs := yamlMessages(err)
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if sub := lineRE.FindStringSubmatch(m); sub != nil {
			line, _ := strconv.Atoi(sub[1])
			if p, ok := w.lines[line]; ok {
				out = append(out, fmt.Sprintf("%s: %s", p, friendlyTypeError(sub[2])))
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

var cannotRE = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")

func friendlyTypeError(msg string) string {
	sub := cannotRE.FindStringSubmatch(msg)
	if sub == nil {
		return msg
	}
	want := sub[3]
	switch {
	case strings.HasPrefix(want, "uint") || strings.HasPrefix(want, "int"):
		want = "a whole number (" + want + ")"
	case want == "bool":
		want = "true or false"
	case strings.HasPrefix(want, "float"):
		want = "a number"
	case want == "string":
		want = "a string"
	}
	return fmt.Sprintf("%q is not %s", sub[2], want)
}
