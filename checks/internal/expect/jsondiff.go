package expect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/backend-grader/grader/internal/harness"
)

// Diff lists every difference between want and got as JSON paths with the
// expected and the actual value, one per line, each line starting with a
// newline and two spaces, so that it follows a sentence:
//
//	$.status: expected "todo", got ["a","b"]
//	$.description: expected "", missing
//
// want and got are compared as the JSON they encode to (numbers by value).
// It is "" when they are equal.
func Diff(want, got any) string {
	return DiffAs(want, got, "expected", "got")
}

// DiffAs is Diff with other words for the two sides, e.g. "unknown e-mail"
// and "wrong password" when two answers should be the same.
func DiffAs(want, got any, wantWord, gotWord string) string {
	var lines []string
	diffJSON(&lines, "$", toJSON(want), toJSON(got), wantWord, gotWord)
	if len(lines) == 0 {
		return ""
	}
	return "\n  " + strings.Join(lines, "\n  ")
}

// Fields compares only want's keys of got: extra keys in got are ignored, a
// key missing from got shows as missing. It returns "" when they match,
// else Diff's lines.
func Fields(want, got map[string]any) string {
	sub := make(map[string]any, len(want))
	for k := range want {
		if v, ok := got[k]; ok {
			sub[k] = v
		}
	}
	return Diff(want, sub)
}

// missing stands for a key that is not there (not the same as null).
type missing struct{}

// toJSON turns any Go value into plain JSON values (numbers as
// json.Number) by encoding and decoding it.
func toJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return fmt.Sprint(v)
	}
	return out
}

func diffJSON(lines *[]string, path string, want, got any, wantWord, gotWord string) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			break
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			wv, wok := w[k]
			gv, gok := g[k]
			var a, b any = wv, gv
			if !wok {
				a = missing{}
			}
			if !gok {
				b = missing{}
			}
			diffJSON(lines, JSONPath(path, k), a, b, wantWord, gotWord)
		}
		return
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			break
		}
		for i := range w {
			diffJSON(lines, fmt.Sprintf("%s[%d]", path, i), w[i], g[i], wantWord, gotWord)
		}
		return
	}
	if sameJSON(want, got) {
		return
	}
	_, wantMissing := want.(missing)
	_, gotMissing := got.(missing)
	switch {
	case gotMissing && wantWord == "expected":
		*lines = append(*lines, fmt.Sprintf("%s: expected %s, missing", path, showValue(want)))
	case wantMissing && wantWord == "expected":
		*lines = append(*lines, fmt.Sprintf("%s: not expected, got %s", path, showValue(got)))
	default:
		*lines = append(*lines, fmt.Sprintf("%s: %s %s, %s %s", path, wantWord, showValue(want), gotWord, showValue(got)))
	}
}

func sameJSON(a, b any) bool {
	if an, ok := a.(json.Number); ok {
		bn, ok := b.(json.Number)
		if !ok {
			return false
		}
		af, aerr := strconv.ParseFloat(an.String(), 64)
		bf, berr := strconv.ParseFloat(bn.String(), 64)
		if aerr != nil || berr != nil {
			return an == bn
		}
		return af == bf
	}
	switch a.(type) {
	case map[string]any, []any:
		return false // reached only when the other side has another shape
	}
	return a == b
}

func showValue(v any) string {
	if _, ok := v.(missing); ok {
		return "missing"
	}
	if l, ok := v.([]any); ok {
		return harness.ShowJSON(v, 200) + fmt.Sprintf(" (%d items)", len(l))
	}
	return harness.ShowJSON(v, 200)
}

var plainKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// JSONPath appends key to a JSON path: $.title, or $["content-type"].
func JSONPath(path, key string) string {
	if plainKey.MatchString(key) {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// Show renders a value as compact JSON for a message (cut to about 200
// bytes).
func Show(v any) string { return harness.ShowJSON(toJSON(v), 200) }
