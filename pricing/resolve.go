package pricing

import (
	"fmt"
	"strings"

	"github.com/costplan/costplan/core"
)

// How says how a name was resolved.
const (
	HowExact    = "exact"
	HowAlias    = "alias"
	HowFallback = "fallback"
)

// Resolution is the result of looking up a model name.
type Resolution struct {
	// Requested is the name as given.
	Requested string
	// Model is the priced model.
	Model *Model
	// How is HowExact, HowAlias or HowFallback.
	How string
	// Steps are the resolution path for display, e.g. "anthropic/claude-x → claude-x (provider prefix)".
	Steps []string
	// Note explains a fallback in one line; empty otherwise.
	Note string
}

// Fallback reports whether the price is a family fallback for an unknown name.
func (r Resolution) Fallback() bool { return r.How == HowFallback }

// UnknownModelError is returned for names the table cannot price. It wraps
// core.ErrUnknownModel and carries the TOML that would add a price.
type UnknownModelError struct {
	Name   string
	Policy string
	Hint   string
}

func (e *UnknownModelError) Error() string {
	why := "no price is known and no model of its family is"
	if e.Policy == PolicyReject {
		if _, ok := parseFamily(stripDate(normalize(e.Name))); ok {
			why = "no price is known (unknown_model = \"reject\")"
		}
	}
	return fmt.Sprintf("unknown model %q: %s; add a price to costplan.toml:\n\n%s", e.Name, why, e.Hint)
}

// Unwrap returns core.ErrUnknownModel.
func (e *UnknownModelError) Unwrap() error { return core.ErrUnknownModel }

// Lookup resolves name: the exact ID, then aliases (provider prefixes, dated and
// undated IDs, -latest), then the unknown-model policy. An unknown name is an
// *UnknownModelError.
func (t *Table) Lookup(name string) (Resolution, error) {
	r := Resolution{Requested: name}
	n := normalize(name)
	if m, ok := t.index[n]; ok {
		r.Model, r.How = m, HowExact
		if m.Name != n {
			r.How = HowAlias
			r.Steps = append(r.Steps, fmt.Sprintf("%s → %s (alias)", n, m.Name))
		}
		return r, nil
	}
	if s, ok := hasPrefixAny(n, providerPrefixes); ok {
		r.Steps = append(r.Steps, fmt.Sprintf("%s → %s (provider prefix)", n, s))
		n = s
		if m, ok := t.index[n]; ok {
			return t.aliased(r, n, m), nil
		}
	}
	if s, ok := strings.CutSuffix(n, "-latest"); ok {
		r.Steps = append(r.Steps, fmt.Sprintf("%s → %s (-latest)", n, s))
		n = s
		if m, ok := t.index[n]; ok {
			return t.aliased(r, n, m), nil
		}
	}
	if s := stripDate(n); s != n {
		r.Steps = append(r.Steps, fmt.Sprintf("%s → %s (dated ID)", n, s))
		n = s
		if m, ok := t.index[n]; ok {
			return t.aliased(r, n, m), nil
		}
	}
	return t.fallback(r, n)
}

func (t *Table) aliased(r Resolution, n string, m *Model) Resolution {
	r.Model, r.How = m, HowAlias
	if m.Name != n {
		r.Steps = append(r.Steps, fmt.Sprintf("%s → %s (alias)", n, m.Name))
	}
	return r
}

// fallback applies the unknown-model policy to a normalized name.
func (t *Table) fallback(r Resolution, n string) (Resolution, error) {
	unknown := &UnknownModelError{Name: r.Requested, Policy: t.policy, Hint: addHint(n)}
	f, ok := parseFamily(n)
	if !ok || t.policy == PolicyReject {
		return r, unknown
	}
	var best *member
	for i := range t.members {
		c := &t.members[i]
		if c.fam.name != f.name || c.fam.tier != f.tier {
			continue
		}
		if best == nil || c.fam.newerThan(best.fam) || (c.fam.version == best.fam.version && c.m.Name == c.name && best.m.Name != best.name) {
			best = c
		}
	}
	if best == nil {
		return r, unknown
	}
	tier := f.tier
	if tier == "base" {
		tier = "untiered"
	}
	r.Model, r.How = best.m, HowFallback
	r.Note = fmt.Sprintf("%s is not in the price table; priced as %s, the newest %s %s model (unknown_model = \"family\")",
		r.Requested, best.m.Name, f.name, tier)
	r.Steps = append(r.Steps, fmt.Sprintf("%s → %s (family fallback: newest %s %s)", n, best.m.Name, f.name, tier))
	if t.warn != nil {
		if _, seen := t.warned.LoadOrStore(n, true); !seen {
			t.warn(r.Note + "; set a price under [pricing.models] to silence this")
		}
	}
	return r, nil
}
