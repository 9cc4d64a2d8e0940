package config

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds the configuration file Load reads.
const MaxFileSize = 1 << 20

// Load reads the YAML file at path on top of Default() and validates the
// result. The error is Errors (each naming path, line and key) or a file
// error.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxFileSize+1)); err != nil {
		return Config{}, fmt.Errorf("config: %s: %w", path, err)
	}
	if buf.Len() > MaxFileSize {
		return Config{}, fmt.Errorf("config: %s: larger than %d bytes", path, MaxFileSize)
	}
	c, err := Parse(path, buf.Bytes())
	if err != nil {
		return c, err
	}
	if err := c.API.readTokenFiles(); err != nil {
		return Config{}, fmt.Errorf("config: %s: %w", path, err)
	}
	return c, nil
}

// Parse is Load on bytes; name is used in error messages.
func Parse(name string, data []byte) (Config, error) {
	c := Default()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Config{}, syntaxError(name, data, err)
	}
	d := decoder{file: name, lines: map[string]int{}}
	if len(doc.Content) > 0 {
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			// an empty document: all defaults
		} else {
			d.value(root, reflect.ValueOf(&c).Elem(), "")
		}
	}
	// Values that did not decode kept their (valid) defaults, so validating
	// now reports the other problems without follow-on errors.
	es := c.validate()
	for _, e := range es {
		e.File = name
		e.Line = d.lineOf(e.Key)
	}
	es = append(d.errs, es...)
	if len(es) > 0 {
		slices.SortStableFunc(es, func(a, b *FieldError) int { return a.Line - b.Line })
		return Config{}, es
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns "yaml: line 3: did not find expected key" into
// "config.yaml:3: did not find expected key".
func syntaxError(name string, data []byte, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if strings.Contains(m[2], "tab character") {
			// yaml reports the line before; point at the first tab-indented line.
			for i, l := range strings.Split(string(data), "\n") {
				if strings.HasPrefix(strings.TrimLeft(l, " "), "\t") {
					line = i + 1
					m[2] += " (indent with spaces)"
					break
				}
			}
		}
		return Errors{{File: name, Line: line, Msg: "YAML syntax: " + m[2]}}
	}
	return Errors{{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}}
}

// decoder walks a yaml.Node tree into a Go value, so that every error can
// name the line and the dotted key.
type decoder struct {
	file  string
	lines map[string]int // dotted key -> line
	errs  Errors
	depth int
}

func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{File: d.file, Line: n.Line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// lineOf returns the line of key or of its nearest ancestor present in the
// file; 0 if none.
func (d *decoder) lineOf(key string) int {
	for key != "" {
		if l, ok := d.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}

var durationType = reflect.TypeOf(time.Duration(0))

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func (d *decoder) value(n *yaml.Node, rv reflect.Value, key string) {
	d.depth++
	defer func() { d.depth-- }()
	if d.depth > 64 {
		d.fail(n, key, "nested too deeply")
		return
	}

	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // "key:" with no value keeps the default
	}
	switch {
	case rv.Type() == durationType:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, key, "must be a duration like 30s, 10m or 24h, got %s", describe(n))
			return
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil && n.Value == "0" {
			dur, err = 0, nil
		}
		if err != nil {
			d.fail(n, key, "must be a duration like 30s, 10m or 24h, got %q", n.Value)
			return
		}
		if dur < 0 {
			d.fail(n, key, "must not be negative, got %q", n.Value)
			return
		}
		rv.SetInt(int64(dur))
	case rv.Kind() == reflect.Struct:
		d.mapping(n, rv, key)
	case rv.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, key, "must be a list (like [a, b] or lines starting with \"- \"), got %s", describe(n))
			return
		}
		if len(n.Content) == 0 {
			rv.SetZero() // "[]": an empty list, nil like an absent one
			return
		}
		s := reflect.MakeSlice(rv.Type(), len(n.Content), len(n.Content))
		before := len(d.errs)
		for i, el := range n.Content {
			ek := fmt.Sprintf("%s[%d]", key, i)
			d.lines[ek] = el.Line
			d.value(el, s.Index(i), ek)
		}
		if len(d.errs) == before { // else keep the default list: no follow-on errors
			rv.Set(s)
		}
	case rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String:
		d.stringMap(n, rv, key)
	case rv.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n, key, "must be a string, got %s", describe(n))
			return
		}
		rv.SetString(n.Value)
	case rv.Kind() == reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			d.fail(n, key, "must be true or false, got %s", describe(n))
			return
		}
		rv.SetBool(n.Value == "true" || n.Value == "True" || n.Value == "TRUE")
	case rv.CanInt() || rv.CanUint():
		bits := rv.Type().Bits()
		var lo int64
		hi := uint64(1)<<bits - 1
		if rv.CanInt() {
			lo, hi = -1<<(bits-1), 1<<(bits-1)-1
		}
		bad := func() { d.fail(n, key, "must be an integer from %d to %d, got %s", lo, hi, describe(n)) }
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			bad()
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil || i < lo || (i > 0 && uint64(i) > hi) {
			bad()
			return
		}
		if rv.CanInt() {
			rv.SetInt(i)
		} else {
			rv.SetUint(uint64(i))
		}
	case rv.CanFloat():
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
			d.fail(n, key, "must be a number, got %s", describe(n))
			return
		}
		var f float64
		if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(n, key, "must be a finite number, got %s", describe(n))
			return
		}
		rv.SetFloat(f)
	default:
		panic("config: unsupported field type " + rv.Type().String())
	}
}

func (d *decoder) mapping(n *yaml.Node, rv reflect.Value, key string) {
	t := rv.Type()
	var names []string
	for i := range t.NumField() {
		names = append(names, yamlName(t.Field(i)))
	}
	if n.Kind != yaml.MappingNode {
		what := "the configuration"
		if key != "" {
			what = "this section"
		}
		d.fail(n, key, "%s must be a mapping of keys (%s), got %s", what, strings.Join(names, ", "), describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		name := kn.Value
		fk := name
		if key != "" {
			fk = key + "." + name
		}
		if kn.Kind != yaml.ScalarNode || name == "<<" {
			d.fail(kn, fk, "unsupported key (merge keys and complex keys are not allowed)")
			continue
		}
		if first, dup := seen[name]; dup {
			d.fail(kn, fk, "duplicate key (first set on line %d)", first)
			continue
		}
		seen[name] = kn.Line
		idx := slices.Index(names, name)
		if idx < 0 {
			hint := ""
			if s := closest(name, names); s != "" {
				hint = fmt.Sprintf("did you mean %q? ", s)
			}
			where := "at the top level"
			if key != "" {
				where = "in " + key
			}
			d.fail(kn, fk, "unknown key; %sallowed %s: %s", hint, where, strings.Join(names, ", "))
			continue
		}
		d.lines[fk] = kn.Line
		d.value(vn, rv.Field(idx), fk)
	}
}

// stringMap decodes a mapping with free-form string keys (key.NAME in
// errors) into a map; "{}" leaves it nil, like an absent one.
func (d *decoder) stringMap(n *yaml.Node, rv reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, key, "must be a mapping (like {name: value} or lines of \"name: value\"), got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		rv.SetZero()
		return
	}
	m := reflect.MakeMapWithSize(rv.Type(), len(n.Content)/2)
	before := len(d.errs)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		ek := key + "." + kn.Value
		if kn.Kind != yaml.ScalarNode || kn.Value == "<<" {
			d.fail(kn, ek, "unsupported key (merge keys and complex keys are not allowed)")
			continue
		}
		if first, dup := seen[kn.Value]; dup {
			d.fail(kn, ek, "duplicate key (first set on line %d)", first)
			continue
		}
		seen[kn.Value] = kn.Line
		d.lines[ek] = kn.Line
		ev := reflect.New(rv.Type().Elem()).Elem()
		d.value(vn, ev, ek)
		m.SetMapIndex(reflect.ValueOf(kn.Value).Convert(rv.Type().Key()), ev)
	}
	if len(d.errs) == before {
		rv.Set(m)
	}
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name
}

// closest returns the allowed name nearest to s if it is close enough to be
// a typo: one edit for short names, two for longer ones.
func closest(s string, names []string) string {
	best, bestD := "", 2
	if len(s) > 5 {
		bestD = 3
	}
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
