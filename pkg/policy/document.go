package policy

import (
	"bytes"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// ElementError is a document that is valid JSON but not a valid policy. Path names the element
// ("Statement[2].Effect"); Msg says what is wrong with it.
type ElementError struct {
	Path string
	Msg  string
}

func (e *ElementError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func elemErr(path, format string, args ...any) error {
	return &ElementError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Parse parses an IAM or KMS policy document. Errors say where and what ("Statement[2].Effect: ...").
// The returned error is a *SyntaxError (not JSON) or an *ElementError (JSON, but not a policy).
// Parse keeps its own copy of data.
func Parse(data []byte) (*Document, error) {
	return parseOwned(bytes.Clone(data))
}

func parseOwned(raw []byte) (*Document, error) {
	root, err := parseTree(raw)
	if err != nil {
		return nil, err
	}
	d := &Document{raw: raw, root: root}
	if err := d.build(); err != nil {
		return nil, err
	}
	return d, nil
}

// DecodeIAM decodes a URL-encoded document as IAM returns it (path unescaping: '+' stays '+').
// A document that already starts with '{' is returned unchanged: IAM always escapes '{', so such
// a string was never encoded (some emulators return documents that way).
func DecodeIAM(s string) (string, error) {
	if t := strings.TrimLeft(s, " \t\r\n"); strings.HasPrefix(t, "{") {
		return s, nil
	}
	out, err := url.PathUnescape(s)
	if err != nil {
		return "", fmt.Errorf("decode IAM policy document: %w", err)
	}
	return out, nil
}

// Bytes returns the document's JSON; byte-identical to the input of Parse when nothing was edited.
// The slice is the document's own: do not modify it.
func (d *Document) Bytes() []byte { return d.raw }

// String returns the document's JSON as a string.
func (d *Document) String() string { return string(d.raw) }

// Statements returns the typed views in document order. The views are shared: treat them as
// read-only.
func (d *Document) Statements() []Statement { return d.statements }

// Version returns the top-level "Version" value, "" when absent.
func (d *Document) Version() string {
	if v := d.root.get("Version"); v != nil {
		return v.text
	}
	return ""
}

// Id returns the top-level "Id" value, "" when absent or not a string.
func (d *Document) Id() string {
	if v := d.root.get("Id"); v != nil && v.kind == kindString {
		return v.text
	}
	return ""
}

// StatementIsList reports whether "Statement" is written as an array (false: a single object).
func (d *Document) StatementIsList() bool { return d.stmtArray.kind == kindArray }

func (d *Document) build() error {
	root := d.root
	if root.kind != kindObject {
		return elemErr("", "policy must be a JSON object, got %s", root.kind)
	}
	if err := noDuplicates(root, ""); err != nil {
		return err
	}
	if v := root.get("Version"); v != nil && v.kind != kindString {
		return elemErr("Version", "must be a string, got %s", v.kind)
	}
	st := root.get("Statement")
	if st == nil {
		return elemErr("Statement", "missing")
	}
	d.stmtArray = st
	switch st.kind {
	case kindObject:
		s, err := statementView(st, 0, "Statement")
		if err != nil {
			return err
		}
		d.statements = []Statement{s}
		d.stmtNodes = []*node{st}
	case kindArray:
		d.statements = make([]Statement, 0, len(st.elems))
		d.stmtNodes = make([]*node, 0, len(st.elems))
		for i, e := range st.elems {
			path := "Statement[" + strconv.Itoa(i) + "]"
			if e.kind != kindObject {
				return elemErr(path, "must be an object, got %s", e.kind)
			}
			s, err := statementView(e, i, path)
			if err != nil {
				return err
			}
			d.statements = append(d.statements, s)
			d.stmtNodes = append(d.stmtNodes, e)
		}
	default:
		return elemErr("Statement", "must be an object or an array of objects, got %s", st.kind)
	}
	return nil
}

// noDuplicates rejects an object with two members of the same name: JSON decoders disagree on
// which one wins, so the evaluator and AWS could read different policies.
func noDuplicates(n *node, path string) error {
	if len(n.members) < 2 {
		return nil
	}
	if len(n.members) <= 8 {
		for i := 1; i < len(n.members); i++ {
			for j := 0; j < i; j++ {
				if n.members[i].key == n.members[j].key {
					return elemErr(path, "duplicate member %q", n.members[i].key)
				}
			}
		}
		return nil
	}
	seen := make(map[string]struct{}, len(n.members))
	for _, m := range n.members {
		if _, dup := seen[m.key]; dup {
			return elemErr(path, "duplicate member %q", m.key)
		}
		seen[m.key] = struct{}{}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func statementView(n *node, index int, path string) (Statement, error) {
	s := Statement{Index: index}
	if err := noDuplicates(n, path); err != nil {
		return s, err
	}
	for _, pair := range [][2]string{{"Principal", "NotPrincipal"}, {"Action", "NotAction"}, {"Resource", "NotResource"}} {
		if n.get(pair[0]) != nil && n.get(pair[1]) != nil {
			return s, elemErr(path, "has both %s and %s", pair[0], pair[1])
		}
	}
	if v := n.get("Sid"); v != nil {
		if v.kind != kindString {
			return s, elemErr(join(path, "Sid"), "must be a string, got %s", v.kind)
		}
		s.Sid = v.text
	}
	e := n.get("Effect")
	switch {
	case e == nil:
		return s, elemErr(join(path, "Effect"), "missing")
	case e.kind != kindString:
		return s, elemErr(join(path, "Effect"), "must be \"Allow\" or \"Deny\", got %s", e.kind)
	case e.text != string(Allow) && e.text != string(Deny):
		return s, elemErr(join(path, "Effect"), "must be \"Allow\" or \"Deny\", got %s", strconv.Quote(e.text))
	}
	s.Effect = Effect(e.text)
	var err error
	if s.Principal, err = principalView(n.get("Principal"), join(path, "Principal")); err != nil {
		return s, err
	}
	if s.NotPrincipal, err = principalView(n.get("NotPrincipal"), join(path, "NotPrincipal")); err != nil {
		return s, err
	}
	for _, f := range []struct {
		name string
		dst  **Values
	}{{"Action", &s.Action}, {"NotAction", &s.NotAction}, {"Resource", &s.Resource}, {"NotResource", &s.NotResource}} {
		if *f.dst, err = valuesView(n.get(f.name), join(path, f.name)); err != nil {
			return s, err
		}
	}
	if s.Conditions, err = conditionsView(n.get("Condition"), join(path, "Condition")); err != nil {
		return s, err
	}
	return s, nil
}

func principalView(n *node, path string) (*Principal, error) {
	if n == nil {
		return nil, nil
	}
	switch n.kind {
	case kindString:
		if n.text != "*" {
			return nil, elemErr(path, "must be \"*\" or an object, got %s", strconv.Quote(n.text))
		}
		return &Principal{Wildcard: true}, nil
	case kindObject:
		if err := noDuplicates(n, path); err != nil {
			return nil, err
		}
		p := &Principal{By: make(map[string][]string, len(n.members))}
		for _, m := range n.members {
			v, err := valuesView(m.val, path+"."+m.key)
			if err != nil {
				return nil, err
			}
			p.By[m.key] = v.List
		}
		return p, nil
	}
	return nil, elemErr(path, "must be \"*\" or an object, got %s", n.kind)
}

func valuesView(n *node, path string) (*Values, error) {
	if n == nil {
		return nil, nil
	}
	switch n.kind {
	case kindString:
		return &Values{List: []string{n.text}}, nil
	case kindArray:
		v := &Values{List: make([]string, 0, len(n.elems)), IsList: true}
		for i, e := range n.elems {
			if e.kind != kindString {
				return nil, elemErr(path+"["+strconv.Itoa(i)+"]", "must be a string, got %s", e.kind)
			}
			v.List = append(v.List, e.text)
		}
		return v, nil
	}
	return nil, elemErr(path, "must be a string or an array of strings, got %s", n.kind)
}

func conditionsView(n *node, path string) ([]Condition, error) {
	if n == nil {
		return nil, nil
	}
	if n.kind != kindObject {
		return nil, elemErr(path, "must be an object, got %s", n.kind)
	}
	if err := noDuplicates(n, path); err != nil {
		return nil, err
	}
	var out []Condition
	for _, op := range n.members {
		opPath := path + "." + op.key
		if op.val.kind != kindObject {
			return nil, elemErr(opPath, "must be an object of condition keys, got %s", op.val.kind)
		}
		if err := noDuplicates(op.val, opPath); err != nil {
			return nil, err
		}
		for _, k := range op.val.members {
			keyPath := opPath + "." + k.key
			c := Condition{Operator: op.key, Key: k.key}
			switch v := k.val; v.kind {
			case kindString, kindBool, kindNumber:
				c.Values = []string{v.text}
			case kindArray:
				c.Values = make([]string, 0, len(v.elems))
				for i, e := range v.elems {
					switch e.kind {
					case kindString, kindBool, kindNumber:
						c.Values = append(c.Values, e.text)
					default:
						return nil, elemErr(keyPath+"["+strconv.Itoa(i)+"]", "must be a string, boolean or number, got %s", e.kind)
					}
				}
			default:
				return nil, elemErr(keyPath, "must be a string, boolean, number or an array of them, got %s", v.kind)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// SameSet reports whether the values are exactly want, in any order and case (IAM action names
// are case-insensitive). nil Values hold nothing.
func (v *Values) SameSet(want []string) bool {
	if v == nil || len(v.List) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, a := range v.List {
			if strings.EqualFold(a, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
