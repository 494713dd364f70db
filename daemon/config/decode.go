package config

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// BurntSushi's Decode stops at the first type mismatch, visits tables in map
// order, and its messages cannot tell [[plugin]] elements apart. So the file
// is parsed by BurntSushi into a generic tree, and this strict decoder moves
// that tree into Config: it reports every unknown key and every type mismatch
// with its line, keeps going, and records which keys were present (defaults
// apply only to absent keys). BurntSushi's own typed Decode then runs as a
// cross-check on files that passed (see crossCheck).

// keyState records what the decoder made of a key.
type keyState uint8

const (
	stateSet keyState = iota + 1 // present and decoded
	stateBad                     // present but of the wrong type (reported)
)

// source is what Load remembers about the file, for later messages.
type source struct {
	name  string              // the file as named to Load
	lines map[string]int      // path id → line
	state map[string]keyState // path id → state, for struct fields only
}

// line returns the line of p or, when p was not written, of the nearest
// enclosing table that was; 0 when none was.
func (s *source) line(p path) int {
	if s == nil {
		return 0
	}
	for n := len(p); n > 0; n-- {
		if ln, ok := s.lines[p[:n].id()]; ok {
			return ln
		}
	}
	return 0
}

// bad reports whether p was written with the wrong type (already reported).
func (s *source) bad(p path) bool { return s != nil && s.state[p.id()] == stateBad }

// absent reports whether p was not written at all.
func (s *source) absent(p path) bool { return s == nil || s.state[p.id()] == 0 }

type decoder struct {
	src   *source
	probs []Problem
}

func (d *decoder) add(p path, format string, args ...any) {
	d.probs = append(d.probs, Problem{File: d.src.name, Line: d.src.line(p), Msg: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeFor[Duration]()

// decode stores data, found at p, into rv. It reports whether it succeeded.
func (d *decoder) decode(p path, data any, rv reflect.Value) bool {
	if rv.Type() == durationType {
		return d.decodeDuration(p, data, rv)
	}
	switch rv.Kind() {
	case reflect.Struct:
		m, ok := data.(map[string]any)
		if !ok {
			d.typeErr(p, rv.Type(), data)
			return false
		}
		d.decodeStruct(p, m, rv)
		return true
	case reflect.Slice:
		elems, ok := asSlice(data)
		if !ok {
			d.typeErr(p, rv.Type(), data)
			return false
		}
		s := reflect.MakeSlice(rv.Type(), len(elems), len(elems))
		good := true
		for i, e := range elems {
			good = d.decode(p.idx(i), e, s.Index(i)) && good
		}
		rv.Set(s)
		return good
	case reflect.Map:
		m, ok := data.(map[string]any)
		if !ok || rv.Type().Key().Kind() != reflect.String {
			d.typeErr(p, rv.Type(), data)
			return false
		}
		mv := reflect.MakeMapWithSize(rv.Type(), len(m))
		good := true
		for _, k := range sortedKeys(m) {
			ev := reflect.New(rv.Type().Elem()).Elem()
			if d.decode(p.key(k), m[k], ev) {
				mv.SetMapIndex(reflect.ValueOf(k).Convert(rv.Type().Key()), ev)
			} else {
				good = false
			}
		}
		rv.Set(mv)
		return good
	case reflect.String:
		s, ok := data.(string)
		if !ok {
			d.typeErr(p, rv.Type(), data)
			return false
		}
		rv.SetString(s)
		return true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := data.(int64)
		if !ok {
			d.typeErr(p, rv.Type(), data)
			return false
		}
		if rv.OverflowInt(n) {
			d.add(p, "%s = %d is too large; use a smaller number", p, n)
			return false
		}
		rv.SetInt(n)
		return true
	case reflect.Bool:
		b, ok := data.(bool)
		if !ok {
			d.typeErr(p, rv.Type(), data)
			return false
		}
		rv.SetBool(b)
		return true
	case reflect.Interface:
		if data != nil {
			rv.Set(reflect.ValueOf(data))
		}
		return true
	default:
		d.add(p, "%s has a Go type (%s) the config decoder does not support; this is a bug in voxgate, please report it", p, rv.Type())
		return false
	}
}

func (d *decoder) decodeDuration(p path, data any, rv reflect.Value) bool {
	s, ok := data.(string)
	if !ok {
		d.typeErr(p, rv.Type(), data)
		return false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.add(p, "%s = %q is not a duration; write a number with a unit, e.g. %s = %q (units: ms, s, m, h)", p, s, lastKey(p), durationExample(p))
		return false
	}
	rv.Set(reflect.ValueOf(Duration{v}))
	return true
}

// decodeStruct decodes the table m into the struct rv, field by toml tag.
func (d *decoder) decodeStruct(p path, m map[string]any, rv reflect.Value) {
	fields := tomlFields(rv.Type())
	for _, k := range sortedKeys(m) {
		q := p.key(k)
		i, ok := fields[k]
		if !ok {
			d.unknownKey(p, k, m, rv.Type())
			continue
		}
		if d.decode(q, m[k], rv.Field(i)) {
			d.src.state[q.id()] = stateSet
		} else {
			d.src.state[q.id()] = stateBad
		}
	}
}

// tomlFields maps the toml tag names of t's fields to their index.
func tomlFields(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		fields[name] = i
	}
	return fields
}

// unknownKey reports key k, found in the table at p of Go type t, with the
// closest known key or the table it belongs in.
func (d *decoder) unknownKey(p path, k string, table map[string]any, t reflect.Type) {
	what := "key"
	if _, ok := table[k].(map[string]any); ok {
		what = "table"
	}
	where := tableLabel(p, table)
	known := slices.Sorted(maps.Keys(tomlFields(t)))
	msg := fmt.Sprintf("unknown %s %q %s", what, k, where)
	switch {
	case closest(k, known) != "":
		msg += fmt.Sprintf("; did you mean %q?", closest(k, known))
	case homeOf(k) != "":
		msg += fmt.Sprintf("; %q belongs in %s, move it there", k, homeOf(k))
	case t == reflect.TypeFor[Plugin]():
		msg += "; settings for the plugin itself go in its [plugin.config] table"
	default:
		msg += fmt.Sprintf("; remove it (known keys here: %s)", strings.Join(known, ", "))
	}
	d.add(p.key(k), "%s", msg)
}

// tableLabel names the table at p for messages: "in [media]",
// "in [[plugin]] \"router-static\"", "at the top level".
func tableLabel(p path, table map[string]any) string {
	if len(p) == 0 {
		return "at the top level"
	}
	last := p[len(p)-1]
	if last.index < 0 {
		return "in [" + p.String() + "]"
	}
	arr := p[:len(p)-1].String()
	if name, ok := table["name"].(string); ok && name != "" {
		return fmt.Sprintf("in [[%s]] %q", arr, name)
	}
	return fmt.Sprintf("in [[%s]] #%d", arr, last.index+1)
}

// homeOf returns the table where a known key of another top-level table
// lives, e.g. "[media]" for rtp_ip, or "" when k is not a key of any of them.
func homeOf(k string) string {
	homes := []struct {
		label string
		t     reflect.Type
	}{
		{"[server]", reflect.TypeFor[Server]()},
		{"[media]", reflect.TypeFor[Media]()},
		{"[routing]", reflect.TypeFor[Routing]()},
		{"[cdr]", reflect.TypeFor[CDR]()},
		{"[log]", reflect.TypeFor[Log]()},
	}
	for _, h := range homes {
		if _, ok := tomlFields(h.t)[k]; ok {
			return h.label
		}
	}
	return ""
}

// typeErr reports that the value at p does not fit the Go type want, with the
// way to write it.
func (d *decoder) typeErr(p path, want reflect.Type, data any) {
	name := lastKey(p)
	got := describe(data)
	switch {
	case want == durationType:
		d.add(p, "%s must be a duration in quotes, got %s; write it with a unit, e.g. %s = %q (units: ms, s, m, h)", p, got, name, durationExample(p))
	case want.Kind() == reflect.String:
		fix := "put the value in double quotes"
		if lit, ok := scalarText(data); ok {
			fix += fmt.Sprintf(", e.g. %s = %q", name, lit)
		}
		d.add(p, "%s must be a string, got %s; %s", p, got, fix)
	case want.Kind() >= reflect.Int && want.Kind() <= reflect.Int64:
		fix := "write a whole number without quotes"
		if s, ok := data.(string); ok {
			if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
				fix = fmt.Sprintf("remove the quotes: %s = %d", name, n)
			}
		}
		if f, ok := data.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1e15 {
			fix = fmt.Sprintf("drop the decimal point: %s = %d", name, int64(f))
		}
		d.add(p, "%s must be a whole number, got %s; %s", p, got, fix)
	case want.Kind() == reflect.Bool:
		d.add(p, "%s must be true or false, got %s; write true or false without quotes", p, got)
	case want.Kind() == reflect.Slice && want.Elem().Kind() == reflect.Struct:
		if _, ok := data.(map[string]any); ok {
			d.add(p, "%s must be an array of tables, got a single table; write [[%s]] (double brackets) above each entry", p, p.header())
			return
		}
		d.add(p, "%s must be an array of tables, got %s; write [[%s]] (double brackets) above each entry", p, got, p.header())
	case want.Kind() == reflect.Slice:
		fix := "write a list in brackets"
		if lit, ok := tomlLiteral(data); ok {
			fix += fmt.Sprintf(", e.g. %s = [%s]", name, lit)
		}
		d.add(p, "%s must be an array, got %s; %s", p, got, fix)
	case want.Kind() == reflect.Struct || want.Kind() == reflect.Map:
		d.add(p, "%s must be a table, got %s; write it as a [%s] section or as { key = value, ... }", p, got, p.header())
	default:
		d.add(p, "%s has the wrong type (%s)", p, got)
	}
}

// describe names the TOML type of a parsed value, with the value if short.
func describe(data any) string {
	switch v := data.(type) {
	case string:
		if len(v) > 40 {
			return "a string"
		}
		return fmt.Sprintf("string %q", v)
	case int64:
		return fmt.Sprintf("integer %d", v)
	case float64:
		return fmt.Sprintf("float %s", strconv.FormatFloat(v, 'g', -1, 64))
	case bool:
		return fmt.Sprintf("boolean %t", v)
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("a %T", data)
	}
}

// scalarText is the text of a scalar, to show it written as a string.
func scalarText(data any) (string, bool) {
	switch v := data.(type) {
	case int64, bool:
		return fmt.Sprint(v), true
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), true
	}
	return "", false
}

// tomlLiteral writes a scalar as a TOML literal, to show it inside a list.
func tomlLiteral(data any) (string, bool) {
	if s, ok := data.(string); ok {
		if len(s) > 40 {
			return "", false
		}
		return strconv.Quote(s), true
	}
	return scalarText(data)
}

func asSlice(data any) ([]any, bool) {
	switch v := data.(type) {
	case []any:
		return v, true
	case []map[string]any:
		s := make([]any, len(v))
		for i, m := range v {
			s[i] = m
		}
		return s, true
	}
	return nil, false
}

// durationExample is a sensible value for the duration at p, for messages.
func durationExample(p path) string {
	switch lastKey(p) {
	case "deadline":
		return "500ms"
	case "ring_timeout":
		return "10s"
	case "max_call_duration":
		return "4h"
	}
	return "30s"
}

func lastKey(p path) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i].index < 0 {
			return quoteKey(p[i].key)
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// closest returns the candidate nearest to s by edit distance (with
// transpositions), when it is near enough to be a likely typo, else "".
func closest(s string, candidates []string) string {
	best, bestDist := "", math.MaxInt
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := max(1, min(3, len(s)/3))
	if best == "" || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b:
// insertions, deletions, substitutions and swaps of neighbours cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 { // not a typo of any key; keep it cheap
		return math.MaxInt / 2
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
