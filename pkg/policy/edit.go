package policy

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Edits splice new bytes into the source and re-parse it: every byte outside the splice stays as
// it was. New content is rendered in the style the document already uses (line breaks,
// indentation, spacing around ':' and ',', one-line or one-per-line arrays).

// Value is new JSON content for an edit. Build it with String, Strings, Bool, List and Object.
type Value struct {
	kind    kind
	text    string
	elems   []Value
	members []Member
}

// Member is one name/value pair of an Object value, in the order it will be written.
type Member struct {
	Key   string
	Value Value
}

// String returns a JSON string value.
func String(s string) Value { return Value{kind: kindString, text: s} }

// Bool returns a JSON boolean value.
func Bool(b bool) Value {
	if b {
		return Value{kind: kindBool, text: "true"}
	}
	return Value{kind: kindBool, text: "false"}
}

// List returns a JSON array value.
func List(elems ...Value) Value { return Value{kind: kindArray, elems: elems} }

// Strings returns a JSON array of strings.
func Strings(ss ...string) Value {
	v := Value{kind: kindArray, elems: make([]Value, len(ss))}
	for i, s := range ss {
		v.elems[i] = String(s)
	}
	return v
}

// Object returns a JSON object value with members in the given order.
func Object(members ...Member) Value { return Value{kind: kindObject, members: members} }

// EditError is an edit the document cannot take (no such statement or member, wrong type).
type EditError struct {
	Path string
	Msg  string
}

func (e *EditError) Error() string { return "edit " + e.Path + ": " + e.Msg }

// AppendStrings appends values to the string-or-list member at path inside statement stmt, e.g.
// path {"Principal", "AWS"} or {"Resource"}. A string member becomes a list holding the old string
// (its bytes unchanged) and then the new values; a list gains the values after its last element.
func (d *Document) AppendStrings(stmt int, path []string, values ...string) error {
	if len(values) == 0 {
		return nil
	}

	parent, n, where, err := d.lookup(stmt, path)
	if err != nil {
		return err
	}
	st := d.style()
	raw := d.raw
	multi := st.listLines && st.nl != "" && bytes.IndexByte(raw[parent.start:parent.end], '\n') >= 0
	var buf bytes.Buffer
	switch {
	case n.kind == kindString:
		ind := lineIndent(raw, n.start)
		elems := make([]rawOrValue, 0, 1+len(values))
		elems = append(elems, rawOrValue{raw: raw[n.start:n.end]})
		for _, v := range values {
			elems = append(elems, rawOrValue{v: String(v)})
		}
		st.renderList(&buf, elems, ind, multi)
		return d.splice(n.start, n.end, buf.Bytes())
	case n.kind == kindArray && len(n.elems) == 0:
		ind := lineIndent(raw, n.start)
		elems := make([]rawOrValue, 0, len(values))
		for _, v := range values {
			elems = append(elems, rawOrValue{v: String(v)})
		}
		st.renderList(&buf, elems, ind, multi && st.nl != "")
		return d.splice(n.start, n.end, buf.Bytes())
	case n.kind == kindArray:
		sep := st.separator(raw, n.start, spans(n.elems))
		for _, v := range values {
			buf.Write(sep)
			st.quote(&buf, v)
		}
		last := n.elems[len(n.elems)-1]
		return d.splice(last.end, last.end, buf.Bytes())
	}
	return &EditError{Path: where, Msg: "must be a string or an array to append to, got " + n.kind.String()}
}

// AddMember adds key: v as the last member of the object at path inside statement stmt (an empty
// path means the statement itself). The object must not have a member named key already.
func (d *Document) AddMember(stmt int, path []string, key string, v Value) error {
	_, n, where, err := d.lookup(stmt, path)
	if err != nil {
		return err
	}
	if n.kind != kindObject {
		return &EditError{Path: where, Msg: "must be an object to add a member to, got " + n.kind.String()}
	}
	if n.get(key) != nil {
		return &EditError{Path: where, Msg: "already has a member " + strconv.Quote(key)}
	}
	st := d.style()
	raw := d.raw
	multi := st.nl != "" && bytes.IndexByte(raw[n.start:n.end], '\n') >= 0
	var buf bytes.Buffer
	if len(n.members) == 0 {
		st.render(&buf, Object(Member{Key: key, Value: v}), lineIndent(raw, n.start), st.nl != "")
		return d.splice(n.start, n.end, buf.Bytes())
	}
	keySpans := make([]span, len(n.members))
	for i, m := range n.members {
		keySpans[i] = span{m.keyStart, m.val.end}
	}
	last := n.members[len(n.members)-1]
	buf.Write(st.separator(raw, n.start, keySpans))
	st.quote(&buf, key)
	buf.Write(raw[last.keyEnd:last.val.start]) // this object's own ':' spacing
	st.render(&buf, v, lineIndent(raw, last.keyStart), multi)
	return d.splice(last.val.end, last.val.end, buf.Bytes())
}

// AppendStatement adds a statement after the last one and returns its index. A single-object
// Statement becomes an array holding the old object (bytes unchanged) and the new one.
func (d *Document) AppendStatement(v Value) (int, error) {
	if v.kind != kindObject {
		return 0, &EditError{Path: "Statement", Msg: "a statement must be an object"}
	}

	s := d.stmtArray
	raw := d.raw
	st := d.style()
	multi := st.nl != "" && bytes.IndexByte(raw[s.start:s.end], '\n') >= 0
	index := len(d.statements)
	var buf bytes.Buffer
	switch {
	case s.kind == kindObject:
		buf.WriteByte('[')
		buf.Write(raw[s.start:s.end])
		buf.WriteByte(',')
		buf.WriteString(st.comma)
		st.render(&buf, v, lineIndent(raw, s.end-1), multi)
		buf.WriteByte(']')
		return index, d.splice(s.start, s.end, buf.Bytes())
	case len(s.elems) == 0:
		st.renderList(&buf, []rawOrValue{{v: v}}, lineIndent(raw, s.start), st.nl != "")
		if s.end-s.start == 2 { // "[]": the new list replaces two identical brackets
			return index, d.splice(s.start, s.end, buf.Bytes())
		}
		// "[ \r\n ]": keep the white space inside the brackets, add the element before "]".
		inner := buf.Bytes()[1 : buf.Len()-1]
		return index, d.splice(s.end-1, s.end-1, inner)
	}
	last := s.elems[len(s.elems)-1]
	buf.Write(st.separator(raw, s.start, spans(s.elems)))
	st.render(&buf, v, lineIndent(raw, last.end-1), multi)
	return index, d.splice(last.end, last.end, buf.Bytes())
}

// splice replaces raw[start:end] with repl and re-parses; on failure the document is unchanged.
func (d *Document) splice(start, end int, repl []byte) error {
	old := d.raw
	raw := make([]byte, 0, len(old)-(end-start)+len(repl))
	raw = append(raw, old[:start]...)
	raw = append(raw, repl...)
	raw = append(raw, old[end:]...)
	nd, err := parseOwned(raw)
	if err != nil {
		return fmt.Errorf("edit produced an invalid document: %w", err)
	}
	*d = *nd
	return nil
}

// lookup finds the value at path inside statement stmt and the object holding it.
func (d *Document) lookup(stmt int, path []string) (parent, n *node, where string, err error) {
	if stmt < 0 || stmt >= len(d.stmtNodes) {
		return nil, nil, "Statement", &EditError{Path: "Statement", Msg: fmt.Sprintf("no statement %d (the document has %d)", stmt, len(d.stmtNodes))}
	}
	where = "Statement"
	if d.stmtArray.kind == kindArray {
		where += "[" + strconv.Itoa(stmt) + "]"
	}
	parent = d.stmtNodes[stmt]
	n = parent
	for _, key := range path {
		where += "." + key
		if n.kind != kindObject {
			return nil, nil, where, &EditError{Path: where, Msg: "parent is not an object"}
		}
		parent, n = n, n.get(key)
		if n == nil {
			return nil, nil, where, &EditError{Path: where, Msg: "missing"}
		}
	}
	return parent, n, where, nil
}

type span struct{ start, end int }

func spans(ns []*node) []span {
	out := make([]span, len(ns))
	for i, n := range ns {
		out[i] = span{n.start, n.end}
	}
	return out
}

// style is how the document writes its JSON, inferred from its own bytes.
type style struct {
	nl        string // line break ("\n", "\r\n"); "" when the document is on one line
	colon     string // between a member name and its value: ":", ": ", " : "
	indent    string // one level of indentation
	comma     string // after ',' between items on one line: "" or " "
	pad       string // inside the brackets of a one-line array: "" or " "
	listLines bool   // arrays of strings are written one element per line
}

func (d *Document) style() style {
	raw := d.raw
	st := style{indent: "  "}
	switch {
	case bytes.Contains(raw, []byte("\r\n")):
		st.nl = "\r\n"
	case bytes.IndexByte(raw, '\n') >= 0:
		st.nl = "\n"
	}
	st.colon = ": "
	if len(d.root.members) > 0 {
		m := d.root.members[0]
		if c := raw[m.keyEnd:m.val.start]; !bytes.ContainsAny(c, "\r\n") {
			st.colon = string(c)
		}
	}
	if strings.Contains(st.colon, " ") {
		st.comma = " "
	}
	var foundIndent, foundComma, foundPad, foundList bool
	var walk func(n *node)
	walk = func(n *node) {
		switch n.kind {
		case kindObject:
			if !foundIndent && len(n.members) > 0 && startsLine(raw, n.members[0].keyStart) {
				if outer, inner := lineIndent(raw, n.start), lineIndent(raw, n.members[0].keyStart); len(inner) > len(outer) && strings.HasPrefix(inner, outer) {
					st.indent, foundIndent = inner[len(outer):], true
				}
			}
			for i := 1; i < len(n.members) && !foundComma; i++ {
				if gap := raw[n.members[i-1].val.end:n.members[i].keyStart]; bytes.IndexByte(gap, '\n') < 0 {
					st.comma, foundComma = commaSpace(gap), true
				}
			}
			for _, m := range n.members {
				walk(m.val)
			}
		case kindArray:
			if len(n.elems) > 0 && scalars(n.elems) {
				lead := raw[n.start+1 : n.elems[0].start]
				if !foundList {
					st.listLines, foundList = bytes.IndexByte(lead, '\n') >= 0, true
				}
				if !foundPad && bytes.IndexByte(lead, '\n') < 0 {
					st.pad, foundPad = string(lead), true
				}
			}
			for i := 1; i < len(n.elems) && !foundComma; i++ {
				if gap := raw[n.elems[i-1].end:n.elems[i].start]; bytes.IndexByte(gap, '\n') < 0 {
					st.comma, foundComma = commaSpace(gap), true
				}
			}
			for _, e := range n.elems {
				walk(e)
			}
		}
	}
	walk(d.root)
	if !foundList {
		// No list of strings to copy: follow the Statement array (AWS console: one per line;
		// KMS's own pretty printer, "[ {": on one line).
		s := d.stmtArray
		st.listLines = st.nl != ""
		if s.kind == kindArray && len(s.elems) > 0 {
			lead := raw[s.start+1 : s.elems[0].start]
			st.listLines = bytes.IndexByte(lead, '\n') >= 0
			if !foundPad && !st.listLines {
				st.pad = string(lead)
			}
		}
	}
	return st
}

func commaSpace(gap []byte) string {
	if i := bytes.IndexByte(gap, ','); i >= 0 && i+1 < len(gap) {
		return string(gap[i+1:])
	}
	return ""
}

func scalars(ns []*node) bool {
	for _, n := range ns {
		if n.kind == kindObject || n.kind == kindArray {
			return false
		}
	}
	return true
}

// lineIndent returns the spaces and tabs that start the line holding pos.
func lineIndent(raw []byte, pos int) string {
	start := bytes.LastIndexByte(raw[:pos], '\n') + 1
	end := start
	for end < len(raw) && (raw[end] == ' ' || raw[end] == '\t') {
		end++
	}
	return string(raw[start:end])
}

// startsLine reports whether only spaces and tabs precede pos on its line.
func startsLine(raw []byte, pos int) bool {
	start := bytes.LastIndexByte(raw[:pos], '\n')
	if start < 0 {
		return false
	}
	for _, c := range raw[start+1 : pos] {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// separator is what to write before a new item appended after items (spans of an array's
// elements or an object's members), copied from the container: the gap between its last two
// items, or for a single item the whitespace after the opening bracket.
func (st style) separator(raw []byte, open int, items []span) []byte {
	if k := len(items); k >= 2 {
		return raw[items[k-2].end:items[k-1].start]
	}
	lead := raw[open+1 : items[0].start]
	if bytes.IndexByte(lead, '\n') >= 0 {
		return append([]byte{','}, lead...)
	}
	return []byte("," + st.comma)
}

// rawOrValue is a list element: existing bytes kept as they are, or a new value.
type rawOrValue struct {
	raw []byte
	v   Value
}

func (st style) renderList(buf *bytes.Buffer, elems []rawOrValue, ind string, multi bool) {
	if len(elems) == 0 {
		buf.WriteString("[]")
		return
	}
	inner := ind + st.indent
	buf.WriteByte('[')
	if multi {
		buf.WriteString(st.nl + inner)
	} else {
		buf.WriteString(st.pad)
	}
	for i, e := range elems {
		if i > 0 {
			buf.WriteByte(',')
			if multi {
				buf.WriteString(st.nl + inner)
			} else {
				buf.WriteString(st.comma)
			}
		}
		if e.raw != nil {
			buf.Write(e.raw)
		} else {
			st.render(buf, e.v, inner, multi)
		}
	}
	if multi {
		buf.WriteString(st.nl + ind)
	} else {
		buf.WriteString(st.pad)
	}
	buf.WriteByte(']')
}

// render writes v as if it started on a line indented by ind; multi allows line breaks.
func (st style) render(buf *bytes.Buffer, v Value, ind string, multi bool) {
	switch v.kind {
	case kindString:
		st.quote(buf, v.text)
	case kindBool, kindNumber, kindNull:
		buf.WriteString(v.text)
	case kindArray:
		elems := make([]rawOrValue, len(v.elems))
		nested := false
		for i, e := range v.elems {
			elems[i] = rawOrValue{v: e}
			nested = nested || e.kind == kindObject || e.kind == kindArray
		}
		st.renderList(buf, elems, ind, multi && (st.listLines || nested))
	case kindObject:
		if len(v.members) == 0 {
			buf.WriteString("{}")
			return
		}
		inner := ind + st.indent
		buf.WriteByte('{')
		for i, m := range v.members {
			if i > 0 {
				buf.WriteByte(',')
				if !multi {
					buf.WriteString(st.comma)
				}
			}
			if multi {
				buf.WriteString(st.nl + inner)
			}
			st.quote(buf, m.Key)
			buf.WriteString(st.colon)
			st.render(buf, m.Value, inner, multi)
		}
		if multi {
			buf.WriteString(st.nl + ind)
		}
		buf.WriteByte('}')
	default:
		buf.WriteString("null")
	}
}

// quote writes s as a JSON string: only what JSON requires is escaped (no HTML escaping), and
// invalid UTF-8 becomes U+FFFD.
func (st style) quote(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				buf.WriteByte('\\')
				buf.WriteByte(c)
			case c == '\n':
				buf.WriteString(`\n`)
			case c == '\r':
				buf.WriteString(`\r`)
			case c == '\t':
				buf.WriteString(`\t`)
			case c < 0x20:
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xf])
			default:
				buf.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf.WriteString(`\ufffd`)
		} else {
			buf.WriteString(s[i : i+size])
		}
		i += size
	}
	buf.WriteByte('"')
}

// Encode writes v as a new JSON document: one member or element per line indented by indent, or
// compact when indent is "". Use it to create a policy; edit existing ones with the methods above.
func Encode(v Value, indent string) []byte {
	st := style{nl: "\n", indent: indent, colon: ": ", comma: " ", listLines: true}
	if indent == "" {
		st = style{colon: ":"}
	}
	var buf bytes.Buffer
	st.render(&buf, v, "", indent != "")
	return buf.Bytes()
}
