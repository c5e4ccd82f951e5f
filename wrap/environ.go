package wrap

import (
	"slices"
	"strings"
)

// Environ builds a child's environment from the parent's ("KEY=value"
// entries, as os.Environ returns them): every entry of set replaces the
// parent's value or is added, and every name in drop is removed, also when
// set names it, so that a dropped secret can never reach the child.
//
// The order is deterministic: the parent's entries in their order, each name
// once (a repeated name keeps its first position and its last value, as
// exec.Cmd does), then the new names of set in sorted order.
func Environ(parent []string, set map[string]string, drop []string) []string {
	out := make([]string, 0, len(parent)+len(set))
	at := make(map[string]int, len(parent)) // name -> index in out
	for _, kv := range parent {
		name, _, _ := strings.Cut(kv, "=")
		if slices.Contains(drop, name) {
			continue
		}
		if v, ok := set[name]; ok {
			kv = name + "=" + v
		}
		if i, seen := at[name]; seen {
			out[i] = kv
			continue
		}
		at[name] = len(out)
		out = append(out, kv)
	}
	added := make([]string, 0, len(set))
	for name := range set {
		if _, seen := at[name]; !seen && !slices.Contains(drop, name) {
			added = append(added, name)
		}
	}
	slices.Sort(added)
	for _, name := range added {
		out = append(out, name+"="+set[name])
	}
	return out
}
