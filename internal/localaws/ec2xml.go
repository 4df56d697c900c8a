package localaws

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

const ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"

func newID(prefix string) string {
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)[:17]
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func awsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func xmlText(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// writeEC2Error answers in EC2's error format.
func writeEC2Error(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<Response><Errors><Error><Code>` + xmlText(code) + `</Code><Message>` + xmlText(message) +
		`</Message></Error></Errors><RequestID>` + newRequestID() + `</RequestID></Response>`))
}

// writeEC2 answers <ActionResponse> with inner as its content (after the requestId).
func writeEC2(w http.ResponseWriter, action, inner string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<` + action + `Response xmlns="` + ec2Namespace + `"><requestId>` + newRequestID() + `</requestId>` +
		inner + `</` + action + `Response>`))
}

// marshalItems renders values as a sequence of XML elements (each value's XMLName decides the tag).
func marshalItems[T any](items []T) string {
	var b strings.Builder
	for _, it := range items {
		raw, err := xml.Marshal(it)
		if err == nil {
			b.Write(raw)
		}
	}
	return b.String()
}

// indexed returns the values of prefix.1, prefix.2, ... (query protocol lists) in index order.
func indexed(params url.Values, prefix string) []string {
	type iv struct {
		i int
		v string
	}
	var out []iv
	for k, vs := range params {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok || len(vs) == 0 {
			continue
		}
		if i, err := strconv.Atoi(rest); err == nil {
			out = append(out, iv{i, vs[0]})
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].i < out[b].i })
	vals := make([]string, len(out))
	for i, x := range out {
		vals[i] = x.v
	}
	return vals
}

// indexedGroups returns, for prefix.N.field keys, one map field->value per N in index order.
func indexedGroups(params url.Values, prefix string) []map[string]string {
	groups := map[int]map[string]string{}
	for k, vs := range params {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok || len(vs) == 0 {
			continue
		}
		num, field, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		i, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		if groups[i] == nil {
			groups[i] = map[string]string{}
		}
		groups[i][field] = vs[0]
	}
	keys := make([]int, 0, len(groups))
	for i := range groups {
		keys = append(keys, i)
	}
	sort.Ints(keys)
	out := make([]map[string]string, len(keys))
	for n, i := range keys {
		out[n] = groups[i]
	}
	return out
}

// filter is one Filter.N of an EC2 Describe call.
type filter struct {
	name   string
	values []string
}

func parseFilters(params url.Values) []filter {
	var out []filter
	for i := 1; ; i++ {
		p := "Filter." + strconv.Itoa(i)
		name := params.Get(p + ".Name")
		if name == "" {
			break
		}
		out = append(out, filter{name: name, values: indexed(params, p+".Value")})
	}
	return out
}

// matchAny reports whether any filter value matches one of got (EC2 filter values allow * and ?).
func (f filter) matchAny(got ...string) bool {
	for _, want := range f.values {
		for _, g := range got {
			if globMatch(want, g, false) {
				return true
			}
		}
	}
	return false
}

// globMatch matches s against a pattern with * and ? wildcards.
func globMatch(pattern, s string, foldCase bool) bool {
	if foldCase {
		pattern, s = strings.ToLower(pattern), strings.ToLower(s)
	}
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && (pattern[pi] == '?' || pattern[pi] == s[si]):
			pi++
			si++
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

// spliceSet inserts items into the <set> element of a moto answer (<set/> or <set>...</set>).
func spliceSet(raw []byte, set, items string) []byte {
	if items == "" {
		return raw
	}
	if i := bytes.Index(raw, []byte("<"+set+"/>")); i >= 0 {
		var b bytes.Buffer
		b.Write(raw[:i])
		b.WriteString("<" + set + ">" + items + "</" + set + ">")
		b.Write(raw[i+len(set)+3:])
		return b.Bytes()
	}
	if i := bytes.Index(raw, []byte("<"+set+">")); i >= 0 {
		j := i + len(set) + 2
		var b bytes.Buffer
		b.Write(raw[:j])
		b.WriteString(items)
		b.Write(raw[j:])
		return b.Bytes()
	}
	return raw
}

// withoutIndexed returns params with the prefix.N list replaced by keep (renumbered from 1).
func withoutIndexed(params url.Values, prefix string, keep []string) url.Values {
	out := url.Values{}
	for k, v := range params {
		if rest, ok := strings.CutPrefix(k, prefix+"."); ok {
			if _, err := strconv.Atoi(rest); err == nil {
				continue
			}
		}
		out[k] = append([]string(nil), v...)
	}
	for i, v := range keep {
		out.Set(prefix+"."+strconv.Itoa(i+1), v)
	}
	return out
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
