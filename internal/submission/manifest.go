package submission

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ManifestName is the manifest's file name at the project root.
const ManifestName = "grader.yaml"

// DefaultStartupTimeout is how long the service has to listen on $PORT when
// grader.yaml does not say.
const DefaultStartupTimeout = 30 * time.Second

// Manifest is grader.yaml (DESIGN.md §2.1), or what detection chose when the
// project has none.
type Manifest struct {
	Stage          string            `yaml:"stage"`
	Build          string            `yaml:"build"`
	Run            string            `yaml:"run"`
	Docker         bool              `yaml:"docker"`
	StartupTimeout Duration          `yaml:"startupTimeout"` // "30s"; default 30s
	Services       []string          `yaml:"services"`
	Env            map[string]string `yaml:"env"` // ${VAR} takes the grader's value, anything else literal
	// BasePath is the prefix every route of the track lives under
	// ("/api/v1"); "" means the routes sit at the root.
	BasePath string `yaml:"basePath"`
	// Tables says where the data lives when the grader cannot find it by
	// itself: a logical table (todos, users) to the project's table and,
	// optionally, its columns.
	Tables Tables `yaml:"tables"`

	Dir      string `yaml:"-"` // absolute project dir
	Found    bool   `yaml:"-"` // grader.yaml was read
	Detected string `yaml:"-"` // when !Found: what detection chose, one line for the report

	// image is the image Build made for docker: true.
	image string
}

// Timeout is the startup timeout, with the default applied.
func (m *Manifest) Timeout() time.Duration {
	if m.StartupTimeout <= 0 {
		return DefaultStartupTimeout
	}
	return time.Duration(m.StartupTimeout)
}

// Duration is a YAML duration: "30s", "1m30s", or a plain number of seconds.
type Duration time.Duration

// UnmarshalYAML reads "30s" or 30 (seconds).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	bad := func(why string) error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, why)}}
	}
	if n.Kind != yaml.ScalarNode {
		return bad("expected a duration such as 30s")
	}
	s := strings.TrimSpace(n.Value)
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs < 0 {
			return bad(fmt.Sprintf("duration %q is negative", s))
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return bad(fmt.Sprintf("%q is not a duration: write it like 30s or 2m", s))
	}
	if v < 0 {
		return bad(fmt.Sprintf("duration %q is negative", s))
	}
	*d = Duration(v)
	return nil
}

// String formats the duration like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// Load reads the project in dir: its grader.yaml, or, without one, what can
// be detected (DESIGN.md §2.1). A project that cannot be understood is a
// *ProjectError of kind "manifest".
func Load(dir string) (*Manifest, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, &ProjectError{Kind: "manifest", Message: fmt.Sprintf("project directory %q: %v", dir, err)}
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return nil, &ProjectError{Kind: "manifest",
			Message: fmt.Sprintf("project directory %s does not exist or is not a directory", abs),
			Hint:    "give the directory that holds your project (the one with grader.yaml)"}
	}
	for _, name := range []string{ManifestName, "grader.yml"} {
		path := filepath.Join(abs, name)
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, &ProjectError{Kind: "manifest", Message: fmt.Sprintf("cannot read %s: %v", name, err)}
		}
		m, err := parseManifest(name, data)
		if err != nil {
			return nil, err
		}
		m.Dir, m.Found = abs, true
		if m.Docker && !exists(filepath.Join(abs, "Dockerfile")) {
			return nil, &ProjectError{Kind: "manifest",
				Message: fmt.Sprintf("%s says docker: true, but there is no Dockerfile in %s", name, abs),
				Hint:    "add a Dockerfile at the project root, or remove docker: true and say how to start the service with run:"}
		}
		return m, nil
	}
	return detect(abs)
}

// manifestKeys lists grader.yaml's keys, for the unknown-key error.
const manifestKeys = "stage, build, run, docker, startupTimeout, services, env, basePath, tables"

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parseManifest decodes and validates grader.yaml; name is the file's name
// for messages.
func parseManifest(name string, data []byte) (*Manifest, error) {
	var root yaml.Node
	// A syntax error is reported by the strict decode below; the node tree
	// only serves to name keys by line.
	_ = yaml.Unmarshal(data, &root)

	m := &Manifest{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(m); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(name, &root, err)
	}
	m.Stage = strings.TrimSpace(m.Stage)
	m.Build = strings.TrimSpace(m.Build)
	m.Run = strings.TrimSpace(m.Run)
	if m.Run == "" && !m.Docker {
		return nil, &ProjectError{Kind: "manifest",
			Message: fmt.Sprintf("%s has no run: say how to start your service in the foreground", name),
			Hint:    exampleManifest + "\n(or docker: true to build ./Dockerfile and run the image)"}
	}
	if err := checkBasePath(name, &root, m.BasePath); err != nil {
		return nil, err
	}
	for k, v := range m.Env {
		where := name
		if line := keyLine(&root, "env", k); line > 0 {
			where = fmt.Sprintf("%s line %d", name, line)
		}
		if err := checkRefs(where, k, v); err != nil {
			return nil, err
		}
		if !envName.MatchString(k) {
			return nil, &ProjectError{Kind: "manifest",
				Message: fmt.Sprintf("%s: env %q is not a variable name (letters, digits and _, not starting with a digit)", where, k)}
		}
		if k == "PORT" {
			return nil, &ProjectError{Kind: "manifest",
				Message: fmt.Sprintf("%s: env sets PORT, which the grader chooses itself", where),
				Hint:    "remove PORT from env: and read the port from the PORT environment variable"}
		}
	}
	return m, nil
}

// exampleManifest is shown when a project needs a grader.yaml.
const exampleManifest = "a minimal grader.yaml:\n  stage: http\n  build: go build -o server .\n  run: ./server"

var (
	yamlLine     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	cannotDecode = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
)

// yamlError turns a yaml.v3 error into the learner's terms:
// "grader.yaml line 3: unknown key "servics" (...)".
func yamlError(name string, root *yaml.Node, err error) *ProjectError {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	out := make([]string, 0, len(msgs))
	for _, msg := range msgs {
		msg = strings.TrimSpace(msg)
		line := 0
		if g := yamlLine.FindStringSubmatch(msg); g != nil {
			line, _ = strconv.Atoi(g[1])
			msg = g[2]
		}
		if g := unknownField.FindStringSubmatch(msg); g != nil {
			msg = fmt.Sprintf("unknown key %q (the keys are %s)", g[1], manifestKeys)
		} else if g := cannotDecode.FindStringSubmatch(msg); g != nil {
			got := map[string]string{"!!map": "a mapping", "!!seq": "a list"}[g[1]]
			if got == "" {
				got = "`" + g[2] + "`"
			}
			want := map[string]string{
				"bool":              "true or false",
				"[]string":          "a list such as [postgres, redis]",
				"map[string]string": "NAME: value lines",
				"string":            "a single value",
			}[g[3]]
			if want == "" {
				want = "a mapping of keys such as run: ./server"
			}
			msg = fmt.Sprintf("expected %s, got %s", want, got)
			if key := keyAt(root, line); key != "" {
				msg = key + ": " + msg
			}
		} else if te != nil {
			if key := keyAt(root, line); key != "" {
				msg = key + ": " + msg
			}
		}
		if line > 0 {
			out = append(out, fmt.Sprintf("%s line %d: %s", name, line, msg))
		} else {
			out = append(out, fmt.Sprintf("%s: %s", name, msg))
		}
	}
	return &ProjectError{Kind: "manifest", Message: strings.Join(out, "; "),
		Hint: "fix " + name + " (it is YAML; the keys are " + manifestKeys + "); " + exampleManifest}
}

// topMapping returns the document's top-level mapping, or nil.
func topMapping(root *yaml.Node) *yaml.Node {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	return n
}

// keyAt names the top-level key whose value is on line (or, within env,
// "env.NAME"), or "".
func keyAt(root *yaml.Node, line int) string {
	top := topMapping(root)
	if top == nil || line == 0 {
		return ""
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Line == line {
			return k.Value
		}
		if v.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(v.Content); j += 2 {
				if v.Content[j+1].Line == line {
					return k.Value + "." + v.Content[j].Value
				}
			}
		}
		if v.Line == line {
			return k.Value
		}
	}
	return ""
}

// keyLine returns the line of key sub under the top-level key, or 0.
func keyLine(root *yaml.Node, key, sub string) int {
	top := topMapping(root)
	if top == nil {
		return 0
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != key || top.Content[i+1].Kind != yaml.MappingNode {
			continue
		}
		v := top.Content[i+1]
		for j := 0; j+1 < len(v.Content); j += 2 {
			if v.Content[j].Value == sub {
				return v.Content[j].Line
			}
		}
	}
	return 0
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
