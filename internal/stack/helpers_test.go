package stack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"
)

// repoRoot is the module root (two levels above this package: internal/stack).
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source file")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// yamlToJSON turns a CloudFormation YAML template into JSON with python3 and PyYAML (cfn-lint
// depends on PyYAML, so wherever cfn-lint runs it is there; the module takes no YAML dependency).
// Short-form intrinsics become their long form: !Ref X -> {"Ref": X}, !GetAtt A.B -> {"Fn::GetAtt":
// [A, B]}, !Sub s -> {"Fn::Sub": s}, !Condition c -> {"Condition": c}.
const yamlToJSON = `
import json, sys, yaml

class Loader(yaml.SafeLoader):
    pass

def intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    name = suffix if suffix in ("Ref", "Condition") else "Fn::" + suffix
    return {name: value}

Loader.add_multi_constructor("!", intrinsic)
with open(sys.argv[1]) as f:
    json.dump(yaml.load(f, Loader=Loader), sys.stdout, default=str)
`

// tomlToJSON turns a TOML file into JSON with python3's tomllib (Python >= 3.11).
const tomlToJSON = `
import json, sys, tomllib
with open(sys.argv[1], "rb") as f:
    json.dump(tomllib.load(f), sys.stdout)
`

// pythonJSON runs a python3 converter on path and decodes its JSON output.
func pythonJSON(t *testing.T, script, path string) map[string]any {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed to read %s (it is installed with cfn-lint and moto): %v", path, err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(py, "-c", script, path)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("convert %s to JSON: %v\n%s", path, err, stderr.String())
	}
	var doc map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("decode JSON of %s: %v", path, err)
	}
	return doc
}

// template is a decoded CloudFormation template.
type template map[string]any

var (
	templatesMu sync.Mutex
	templates   = map[string]template{}
)

// loadTemplate decodes a template of the repository once per test binary; callers only read it.
func loadTemplate(t *testing.T, name string) template {
	t.Helper()
	templatesMu.Lock()
	defer templatesMu.Unlock()
	if tpl, ok := templates[name]; ok {
		return tpl
	}
	tpl := template(pythonJSON(t, yamlToJSON, filepath.Join(repoRoot(t), name)))
	templates[name] = tpl
	return tpl
}

// resource returns the named resource's Properties, failing when it is missing or of another type.
func (tpl template) resource(t *testing.T, id, typ string) map[string]any {
	t.Helper()
	r, ok := dig(map[string]any(tpl), "Resources", id).(map[string]any)
	if !ok {
		t.Fatalf("resource %s is missing", id)
	}
	if r["Type"] != typ {
		t.Fatalf("resource %s: Type = %v, want %s", id, r["Type"], typ)
	}
	props, _ := r["Properties"].(map[string]any)
	return props
}

// resourcesOfType returns the logical IDs of all resources of a type, sorted.
func (tpl template) resourcesOfType(typ string) []string {
	var ids []string
	res, _ := tpl["Resources"].(map[string]any)
	for id, r := range res {
		if m, ok := r.(map[string]any); ok && m["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// dig walks nested maps (string keys) and lists (int keys); nil when the path does not exist.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k < 0 || k >= len(l) {
				return nil
			}
			v = l[k]
		default:
			return nil
		}
	}
	return v
}

// strings returns v as a list of strings: a string is a one-element list.
func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, fmt.Sprint(e))
		}
		return out
	}
	return nil
}

// num returns a JSON number as an int (-1 when it is not a number).
func num(v any) int {
	f, ok := v.(float64)
	if !ok {
		return -1
	}
	return int(f)
}

// mustJSON marshals v (test data only).
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return string(b)
}

// getAttResources returns the resources a list of Fn::GetAtt values names, sorted.
func getAttResources(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		out = append(out, fmt.Sprint(dig(e, "Fn::GetAtt", 0)))
	}
	sort.Strings(out)
	return out
}
