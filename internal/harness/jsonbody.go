package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// BodyError says what was wrong with a response body, in HTTP and JSON
// terms: never a Go type or a decoder's message.
type BodyError struct{ Message string }

func (e *BodyError) Error() string { return e.Message }

// DecodeJSON decodes the body into v. It is lenient about what setup does
// not grade: an id (a key "id", or one ending in "Id" or "_id") may be a
// JSON number or a string, and is handed to v as a string. The error is a
// *BodyError saying what was wrong with the body: not JSON, or a value of
// another JSON type than v needs (as a JSON path with the value seen).
func (r *Response) DecodeJSON(v any) error {
	tree, err := r.JSON()
	if err != nil {
		return err
	}
	b, err := json.Marshal(tree)
	if err != nil {
		return fmt.Errorf("grader bug: re-encoding a decoded body: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &BodyError{Message: typeMismatch(tree, te)}
		}
		return &BodyError{Message: "the body could not be read as the JSON expected"}
	}
	return nil
}

// JSON decodes the body into plain JSON values (map[string]any, []any,
// string, json.Number, bool, nil), ids normalised to strings as
// DecodeJSON does. The error is a *BodyError.
func (r *Response) JSON() (any, error) {
	return ParseJSON(r.Body)
}

// ParseJSON is Response.JSON for any body.
func ParseJSON(body []byte) (any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &BodyError{Message: "the body is empty, expected JSON"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, &BodyError{Message: NotJSON(body)}
	}
	if _, err := dec.Token(); err == nil {
		return nil, &BodyError{Message: "the body is not JSON: it holds more than one JSON value (" + Excerpt(body, 60) + ")"}
	}
	return normaliseIDs(tree), nil
}

// NotJSON says that body is not JSON, showing how it starts.
func NotJSON(body []byte) string {
	return "the body is not JSON: it starts with " + Excerpt(body, 60)
}

// Excerpt shows up to n runes of s, quoted with Go escapes (so control
// characters and invalid UTF-8 show as \n, \x00), followed by "…" when
// cut.
func Excerpt(s []byte, n int) string {
	str := string(bytes.TrimLeft(s, " \t\r\n"))
	runes := []rune(str)
	if len(runes) <= n {
		return "`" + strings.Trim(strconv.Quote(str), `"`) + "`"
	}
	return "`" + strings.Trim(strconv.Quote(string(runes[:n])), `"`) + "…`"
}

// IsIDKey reports whether a JSON key names an id ("id", "ownerId",
// "user_id", ...), whose value setup takes as a string or a number.
func IsIDKey(k string) bool {
	return k == "id" || k == "ID" || strings.HasSuffix(k, "Id") || strings.HasSuffix(k, "ID") || strings.HasSuffix(k, "_id")
}

func normaliseIDs(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if n, ok := x.(json.Number); ok && IsIDKey(k) {
				v[k] = n.String()
				continue
			}
			v[k] = normaliseIDs(x)
		}
	case []any:
		for i, x := range v {
			v[i] = normaliseIDs(x)
		}
	}
	return v
}

// typeMismatch renders a decode type error as "$.path: expected a string,
// got 5".
func typeMismatch(tree any, te *json.UnmarshalTypeError) string {
	var segs []string
	if te.Field != "" {
		segs = strings.Split(te.Field, ".")
	}
	path, got, ok := findKind(tree, "$", segs, te.Value)
	if !ok {
		path = "$"
		if len(segs) > 0 {
			path += "." + strings.Join(segs, ".")
		}
		return fmt.Sprintf("%s: expected %s, got a JSON %s", path, expectedKind(te.Type), te.Value)
	}
	return fmt.Sprintf("%s: expected %s, got %s", path, expectedKind(te.Type), ShowJSON(got, 80))
}

// findKind follows segs from v (looking into every element of a list on
// the way, and past index segments the decoder may add) to a value of JSON
// kind want ("string", "number", "array", "object", "bool"; the decoder's
// words), and returns its JSON path.
func findKind(v any, path string, segs []string, want string) (string, any, bool) {
	if arr, ok := v.([]any); ok && (len(segs) == 0 || !isIndex(segs[0])) {
		if len(segs) == 0 && kindOf(v) == want {
			return path, v, true
		}
		for i, x := range arr {
			if p, g, ok := findKind(x, fmt.Sprintf("%s[%d]", path, i), segs, want); ok {
				return p, g, true
			}
		}
		return "", nil, false
	}
	if len(segs) == 0 {
		if kindOf(v) == want || strings.HasPrefix(want, kindOf(v)) {
			return path, v, true
		}
		return "", nil, false
	}
	switch x := v.(type) {
	case map[string]any:
		child, ok := x[segs[0]]
		if !ok {
			// The decoder names Go fields in some versions; look up the
			// key without regard to case, as it matches them.
			for k, c := range x {
				if strings.EqualFold(k, segs[0]) {
					child, ok = c, true
					segs = append([]string{k}, segs[1:]...)
					break
				}
			}
		}
		if !ok {
			return "", nil, false
		}
		return findKind(child, path+"."+segs[0], segs[1:], want)
	case []any:
		i, _ := strconv.Atoi(segs[0])
		if i < 0 || i >= len(x) {
			return "", nil, false
		}
		return findKind(x[i], fmt.Sprintf("%s[%d]", path, i), segs[1:], want)
	}
	return "", nil, false
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// kindOf names v's JSON kind in the decoder's words.
func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "bool"
	}
	return "null"
}

// expectedKind says what JSON a Go type takes.
func expectedKind(t reflect.Type) string {
	if t == nil {
		return "another JSON type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return expectedKind(t.Elem())
	}
	return "another JSON type"
}

// ShowJSON renders a decoded JSON value as compact JSON, cut to about n
// bytes.
func ShowJSON(v any, n int) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSuffix(buf.String(), "\n")
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}
