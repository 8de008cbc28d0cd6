package submission

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Tables is grader.yaml's tables: where the data lives when the grader
// cannot find it by itself (DESIGN.md §2.1). A logical table (todos, users)
// maps to the project's table name and, optionally, to its own names for
// the columns the grader reads:
//
//	tables: {todos: tasks, users: accounts}
//	tables: {todos: {table: tasks, columns: {created_at: inserted_at}}}
//
// Table may be empty when only columns are named: the grader then still
// finds the table itself.
type Tables map[string]struct {
	Table   string
	Columns map[string]string
}

// TableColumns lists, per logical table, the columns the grader reads.
var TableColumns = map[string][]string{
	"todos": {"id", "title", "description", "status", "created_at", "updated_at", "owner_id"},
	"users": {"id", "email", "password_hash"},
}

var (
	identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*$`)
	tableName  = regexp.MustCompile(`^(?:[A-Za-z_][A-Za-z0-9_$]*\.)?[A-Za-z_][A-Za-z0-9_$]*$`)
)

// UnmarshalYAML reads both forms. Its errors are plain (not yaml type
// errors) so that they reach the learner as written, with their line.
func (t *Tables) UnmarshalYAML(n *yaml.Node) error {
	bad := func(at *yaml.Node, format string, args ...any) error {
		return fmt.Errorf("line %d: tables: %s", at.Line, fmt.Sprintf(format, args...))
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return bad(n, "expected a mapping such as {todos: tasks}, got %s", nodeKind(n))
	}
	out := Tables{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		cols, known := TableColumns[k.Value]
		if !known {
			return bad(k, "unknown table %q (the grader looks for %s)", k.Value, strings.Join(sortedNames(TableColumns), " and "))
		}
		if _, dup := out[k.Value]; dup {
			return bad(k, "%s is named twice", k.Value)
		}
		entry := out[k.Value]
		switch v.Kind {
		case yaml.ScalarNode:
			entry.Table = strings.TrimSpace(v.Value)
			if entry.Table == "" || v.Tag == "!!null" {
				return bad(v, "%s: give the name of your table, e.g. %s: tasks", k.Value, k.Value)
			}
		case yaml.MappingNode:
			for j := 0; j+1 < len(v.Content); j += 2 {
				kk, vv := v.Content[j], v.Content[j+1]
				switch kk.Value {
				case "table":
					if vv.Kind != yaml.ScalarNode || strings.TrimSpace(vv.Value) == "" {
						return bad(vv, "%s.table: expected your table's name, got %s", k.Value, nodeKind(vv))
					}
					entry.Table = strings.TrimSpace(vv.Value)
				case "columns":
					if vv.Kind != yaml.MappingNode {
						return bad(vv, "%s.columns: expected a mapping such as {created_at: inserted_at}, got %s", k.Value, nodeKind(vv))
					}
					entry.Columns = map[string]string{}
					for c := 0; c+1 < len(vv.Content); c += 2 {
						ck, cv := vv.Content[c], vv.Content[c+1]
						if !contains(cols, ck.Value) {
							return bad(ck, "%s.columns: unknown column %q (the grader reads %s)", k.Value, ck.Value, strings.Join(cols, ", "))
						}
						name := strings.TrimSpace(cv.Value)
						if cv.Kind != yaml.ScalarNode || !identifier.MatchString(name) {
							return bad(cv, "%s.columns.%s: %q is not a column name (letters, digits and _)", k.Value, ck.Value, cv.Value)
						}
						entry.Columns[ck.Value] = name
					}
				default:
					return bad(kk, "%s: unknown key %q (the keys are table and columns)", k.Value, kk.Value)
				}
			}
			if entry.Table == "" && len(entry.Columns) == 0 {
				return bad(v, "%s: name the table (table: tasks) or its columns (columns: {created_at: inserted_at})", k.Value)
			}
		default:
			return bad(v, "%s: expected a table name or {table: ..., columns: {...}}, got %s", k.Value, nodeKind(v))
		}
		if entry.Table != "" && !tableName.MatchString(entry.Table) {
			return bad(v, "%s: %q is not a table name (letters, digits and _, optionally schema.table)", k.Value, entry.Table)
		}
		out[k.Value] = entry
	}
	*t = out
	return nil
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Tag == "!!null" || n.Value == "" {
		return "nothing"
	}
	return "`" + n.Value + "`"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkBasePath validates basePath: a path that starts with / and has no
// trailing slash, query or fragment.
func checkBasePath(name string, root *yaml.Node, p string) error {
	if p == "" {
		return nil
	}
	where := name
	if line := topLine(root, "basePath"); line > 0 {
		where = fmt.Sprintf("%s line %d", name, line)
	}
	bad := func(why string) error {
		return &ProjectError{Kind: "manifest",
			Message: fmt.Sprintf("%s: basePath %q %s", where, p, why),
			Hint:    "write the prefix your routes share, e.g. basePath: /api/v1 (no host, no trailing slash)"}
	}
	u, err := url.Parse(p)
	switch {
	case !strings.HasPrefix(p, "/"):
		return bad("does not start with /")
	case err != nil:
		return bad("is not a path: " + err.Error())
	case u.RawQuery != "" || strings.Contains(p, "?"):
		return bad("has a query; the prefix is a path only")
	case u.Fragment != "" || strings.Contains(p, "#"):
		return bad("has a fragment; the prefix is a path only")
	case p == "/":
		return bad("is the root; leave basePath out when the routes sit at the root")
	case strings.HasSuffix(p, "/"):
		return bad("ends with /; write it without the trailing slash")
	case strings.Contains(p, "//"):
		return bad("has an empty segment (//)")
	}
	return nil
}

// topLine returns the line of top-level key, or 0.
func topLine(root *yaml.Node, key string) int {
	top := topMapping(root)
	if top == nil {
		return 0
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == key {
			return top.Content[i].Line
		}
	}
	return 0
}
