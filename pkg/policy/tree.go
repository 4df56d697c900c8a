package policy

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The document is kept as its original bytes plus a tree of spans over them. Nothing is ever
// re-encoded from the tree: an edit splices new bytes into the original and the tree is rebuilt.

type kind uint8

const (
	kindObject kind = iota + 1
	kindArray
	kindString
	kindNumber
	kindBool
	kindNull
)

func (k kind) String() string {
	switch k {
	case kindObject:
		return "object"
	case kindArray:
		return "array"
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindBool:
		return "boolean"
	case kindNull:
		return "null"
	}
	return "nothing"
}

// node is one JSON value: its span [start, end) in the source and its decoded content.
type node struct {
	kind    kind
	start   int
	end     int
	text    string // decoded string; number as written; "true"/"false"; "null"
	members []member
	elems   []*node
}

type member struct {
	key      string // decoded
	keyStart int    // offset of the key's opening quote
	keyEnd   int    // offset after the key's closing quote
	val      *node
}

// get returns the value of the first member named key (exact match), nil when absent.
func (n *node) get(key string) *node {
	if n == nil || n.kind != kindObject {
		return nil
	}
	for i := range n.members {
		if n.members[i].key == key {
			return n.members[i].val
		}
	}
	return nil
}

// maxDepth bounds nesting so that hostile input cannot exhaust the stack.
const maxDepth = 256

type scanner struct {
	data  []byte
	src   string // data as a string: decoded strings without escapes are substrings of it
	pos   int
	depth int
	slab  []node // nodes are carved from chunks to save allocations; chunks never move
}

func (s *scanner) node(n node) *node {
	if len(s.slab) == cap(s.slab) {
		s.slab = make([]node, 0, 32)
	}
	s.slab = append(s.slab, n)
	return &s.slab[len(s.slab)-1]
}

// SyntaxError is a JSON syntax error at a position in the document.
type SyntaxError struct {
	Offset int // byte offset
	Line   int // 1-based
	Column int // 1-based, in bytes
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

func (s *scanner) errAt(pos int, format string, args ...any) error {
	if pos > len(s.data) {
		pos = len(s.data)
	}
	line, col := 1, 1
	for _, b := range s.data[:pos] {
		if b == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &SyntaxError{Offset: pos, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) describe(pos int) string {
	if pos >= len(s.data) {
		return "end of input"
	}
	c := s.data[pos]
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	return strconv.QuoteRune(rune(c))
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// parseTree parses exactly one JSON value surrounded by optional whitespace.
func parseTree(data []byte) (*node, error) {
	s := &scanner{data: data, src: string(data)}
	s.skipSpace()
	n, err := s.value()
	if err != nil {
		return nil, err
	}
	s.skipSpace()
	if s.pos != len(data) {
		return nil, s.errAt(s.pos, "unexpected %s after the end of the document", s.describe(s.pos))
	}
	return n, nil
}

func (s *scanner) value() (*node, error) {
	if s.pos >= len(s.data) {
		return nil, s.errAt(s.pos, "unexpected end of input, expecting a value")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '"':
		start := s.pos
		str, err := s.str()
		if err != nil {
			return nil, err
		}
		return s.node(node{kind: kindString, start: start, end: s.pos, text: str}), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	case c == 't':
		return s.literal("true", kindBool)
	case c == 'f':
		return s.literal("false", kindBool)
	case c == 'n':
		return s.literal("null", kindNull)
	}
	return nil, s.errAt(s.pos, "unexpected %s, expecting a value", s.describe(s.pos))
}

func (s *scanner) literal(word string, k kind) (*node, error) {
	start := s.pos
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return nil, s.errAt(s.pos, "invalid literal, expecting %s", word)
	}
	s.pos += len(word)
	return s.node(node{kind: k, start: start, end: s.pos, text: word}), nil
}

func (s *scanner) number() (*node, error) {
	start := s.pos
	d := s.data
	if d[s.pos] == '-' {
		s.pos++
	}
	digits := func() int {
		n := 0
		for s.pos < len(d) && d[s.pos] >= '0' && d[s.pos] <= '9' {
			s.pos++
			n++
		}
		return n
	}
	if s.pos < len(d) && d[s.pos] == '0' {
		s.pos++
	} else if digits() == 0 {
		return nil, s.errAt(s.pos, "invalid number: expecting a digit, got %s", s.describe(s.pos))
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if digits() == 0 {
			return nil, s.errAt(s.pos, "invalid number: expecting a digit after '.', got %s", s.describe(s.pos))
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if digits() == 0 {
			return nil, s.errAt(s.pos, "invalid number: expecting an exponent digit, got %s", s.describe(s.pos))
		}
	}
	return s.node(node{kind: kindNumber, start: start, end: s.pos, text: s.src[start:s.pos]}), nil
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > maxDepth {
		return s.errAt(s.pos, "nesting deeper than %d levels", maxDepth)
	}
	return nil
}

func (s *scanner) object() (*node, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer func() { s.depth-- }()
	n := s.node(node{kind: kindObject, start: s.pos})
	s.pos++ // '{'
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		n.end = s.pos
		return n, nil
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return nil, s.errAt(s.pos, "unexpected %s, expecting a member name in double quotes", s.describe(s.pos))
		}
		keyStart := s.pos
		key, err := s.str()
		if err != nil {
			return nil, err
		}
		keyEnd := s.pos
		s.skipSpace()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return nil, s.errAt(s.pos, "unexpected %s after member name %q, expecting ':'", s.describe(s.pos), key)
		}
		s.pos++
		s.skipSpace()
		v, err := s.value()
		if err != nil {
			return nil, err
		}
		n.members = append(n.members, member{key: key, keyStart: keyStart, keyEnd: keyEnd, val: v})
		s.skipSpace()
		if s.pos >= len(s.data) {
			return nil, s.errAt(s.pos, "unexpected end of input, expecting ',' or '}'")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case '}':
			s.pos++
			n.end = s.pos
			return n, nil
		default:
			return nil, s.errAt(s.pos, "unexpected %s after member %q, expecting ',' or '}'", s.describe(s.pos), key)
		}
	}
}

func (s *scanner) array() (*node, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer func() { s.depth-- }()
	n := s.node(node{kind: kindArray, start: s.pos})
	s.pos++ // '['
	s.skipSpace()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		n.end = s.pos
		return n, nil
	}
	for {
		v, err := s.value()
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, v)
		s.skipSpace()
		if s.pos >= len(s.data) {
			return nil, s.errAt(s.pos, "unexpected end of input, expecting ',' or ']'")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.skipSpace()
		case ']':
			s.pos++
			n.end = s.pos
			return n, nil
		default:
			return nil, s.errAt(s.pos, "unexpected %s in array, expecting ',' or ']'", s.describe(s.pos))
		}
	}
}

// str scans a string starting at the opening quote and returns its decoded value. Invalid UTF-8
// and lone surrogates decode to U+FFFD, as encoding/json does; the source bytes are kept anyway.
func (s *scanner) str() (string, error) {
	d := s.data
	start := s.pos
	s.pos++ // opening quote
	simple := true
	for {
		if s.pos >= len(d) {
			return "", s.errAt(start, "unterminated string")
		}
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			raw := d[start+1 : s.pos-1]
			if simple && utf8.Valid(raw) {
				return s.src[start+1 : s.pos-1], nil
			}
			return decodeString(raw), nil
		case c == '\\':
			simple = false
			if s.pos+1 >= len(d) {
				return "", s.errAt(start, "unterminated string")
			}
			switch d[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if s.pos+6 > len(d) {
					return "", s.errAt(s.pos, "truncated \\u escape in string")
				}
				for _, h := range d[s.pos+2 : s.pos+6] {
					if !isHex(h) {
						return "", s.errAt(s.pos, "invalid \\u escape in string")
					}
				}
				s.pos += 6
			default:
				return "", s.errAt(s.pos, "invalid escape %s in string", strconv.Quote(string(d[s.pos:s.pos+2])))
			}
		case c < 0x20:
			return "", s.errAt(s.pos, "control character 0x%02x in string (must be escaped)", c)
		default:
			s.pos++
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// decodeString decodes the (already validated) body of a JSON string.
func decodeString(raw []byte) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			r, size := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, raw[i:i+size]...)
			}
			i += size
			continue
		}
		e := raw[i+1]
		i += 2
		switch e {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hexVal(raw[i : i+4])
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					r2 := hexVal(raw[i+2 : i+6])
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						i += 6
						out = utf8.AppendRune(out, dec)
						continue
					}
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, e)
		}
	}
	return string(out)
}
