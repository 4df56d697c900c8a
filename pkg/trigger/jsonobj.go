package trigger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// object is a JSON object whose members stay raw until a parser asks for one. Reading members
// one at a time (instead of unmarshalling into a struct) lets every error name the exact path
// and the JSON type that was found, and lets a parser read only the fields its kind needs.
type object struct {
	path    string // dotted path for error messages, e.g. "detail.requestParameters"
	members map[string]json.RawMessage
}

// jsonType names the JSON type of raw by its first significant byte.
func jsonType(raw json.RawMessage) string {
	b := bytes.TrimLeft(raw, " \t\r\n")
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	default:
		return "number"
	}
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	t := jsonType(raw)
	return t == "nothing" || t == "null"
}

// join builds a member path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// parseObject decodes raw as a JSON object; path names it in errors.
func parseObject(raw json.RawMessage, path string) (object, error) {
	if t := jsonType(raw); t != "object" {
		return object{}, fmt.Errorf("%s: expected object, got %s", path, t)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return object{}, fmt.Errorf("%s: %w", path, err)
	}
	return object{path: path, members: m}, nil
}

// has reports whether the member exists (even when null).
func (o object) has(key string) bool {
	_, ok := o.members[key]
	return ok
}

// raw returns the member as given (nil when absent).
func (o object) raw(key string) json.RawMessage {
	return o.members[key]
}

// str returns a string member; absent or null gives "". Any other type is an error.
func (o object) str(key string) (string, error) {
	raw, ok := o.members[key]
	if !ok || isNull(raw) {
		return "", nil
	}
	if t := jsonType(raw); t != "string" {
		return "", fmt.Errorf("%s: expected string, got %s", join(o.path, key), t)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %w", join(o.path, key), err)
	}
	return s, nil
}

// text returns a string member, or a number member as its literal JSON text (never via float64,
// so 444455556666 stays "444455556666" and 4.4e11 stays "4.4e11" for the validator to reject).
func (o object) text(key string) (string, error) {
	raw, ok := o.members[key]
	if ok && jsonType(raw) == "number" {
		return string(bytes.TrimSpace(raw)), nil
	}
	return o.str(key)
}

// obj returns an object member; found is false when it is absent or null.
func (o object) obj(key string) (object, bool, error) {
	raw, ok := o.members[key]
	if !ok || isNull(raw) {
		return object{}, false, nil
	}
	sub, err := parseObject(raw, join(o.path, key))
	if err != nil {
		return object{}, false, err
	}
	return sub, true, nil
}

// items returns the elements of a CloudTrail "items" member. CloudTrail renders a one-element
// list as a list, but forged or older records may hold a single object: both are accepted.
// Absent or null gives no items.
func (o object) items(key string) ([]object, error) {
	raw, ok := o.members[key]
	if !ok || isNull(raw) {
		return nil, nil
	}
	path := join(o.path, key)
	switch t := jsonType(raw); t {
	case "object":
		one, err := parseObject(raw, path)
		if err != nil {
			return nil, err
		}
		return []object{one}, nil
	case "array":
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out := make([]object, 0, len(elems))
		for i, e := range elems {
			item, err := parseObject(e, path+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			out = append(out, item)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%s: expected array or object, got %s", path, t)
	}
}

// itemSet returns the items of a {"items": [...]} member such as instancesSet or
// launchPermission.add; absent or null gives no items.
func (o object) itemSet(key string) ([]object, error) {
	set, ok, err := o.obj(key)
	if err != nil || !ok {
		return nil, err
	}
	return set.items("items")
}

// clip cuts a value taken from an event so it cannot flood a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
