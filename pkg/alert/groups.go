package alert

// A batch can carry thousands of records; grouping stays linear so Compose stays fast on any
// input.

// distinct keeps the first occurrence of each string, in order.
type distinct struct {
	list []string
	seen map[string]bool
}

func (d *distinct) add(s string) {
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	if !d.seen[s] {
		d.seen[s] = true
		d.list = append(d.list, s)
	}
}

// groupBy groups items by key, keys in first-seen order.
func groupBy(items []item, key func(item) string) ([]string, map[string][]item) {
	var keys distinct
	groups := map[string][]item{}
	for _, it := range items {
		k := key(it)
		keys.add(k)
		groups[k] = append(groups[k], it)
	}
	return keys.list, groups
}

func byKey(it item) string { return it.f.KeyARN }

// pair is a map key for two strings.
type pair struct{ a, b string }
