package pricing

import (
	"regexp"
	"strconv"
	"strings"
)

var (
	// dateSuffix matches dated model IDs: -20250929, -2025-08-07, @20251101.
	dateSuffix = regexp.MustCompile(`(?:[-@]\d{8}|-\d{4}-\d{2}-\d{2}|-\d{4})$`)
	// claudeNew matches claude-<tier>-<major>[-<minor>][-words].
	claudeNew = regexp.MustCompile(`^claude-([a-z]+)-(\d+)(?:[-.](\d{1,2}))?((?:-[a-z][a-z0-9]*)*)$`)
	// claudeOld matches claude-<major>[-<minor>]-<tier>[-words].
	claudeOld = regexp.MustCompile(`^claude-(\d+)(?:[-.](\d{1,2}))?-([a-z]+)((?:-[a-z][a-z0-9]*)*)$`)
	// gptName matches gpt-<major>[.<minor>][o][-words].
	gptName = regexp.MustCompile(`^gpt-(\d+)(?:\.(\d+))?(o?)((?:-[a-z0-9]+)*)$`)
	// oName matches o<major>[-words].
	oName = regexp.MustCompile(`^o(\d+)((?:-[a-z0-9]+)*)$`)
)

// claudeTiers and openaiTiers are the words that make a tier. Other words that only
// label a release (latest, preview, chat) are ignored; any other word means the name
// is not a family member, so it is not priced by fallback.
var (
	claudeTiers  = map[string]bool{"opus": true, "sonnet": true, "haiku": true, "fable": true, "mythos": true}
	openaiTiers  = map[string]bool{"mini": true, "nano": true, "pro": true, "codex": true, "max": true, "sol": true, "terra": true, "luna": true}
	releaseWords = map[string]bool{"latest": true, "preview": true, "chat": true}
)

// family is a parsed model name: the family (claude, gpt, o), the tier (opus,
// mini, codex-mini, "base" when none) and a version that orders releases.
type family struct {
	name    string
	tier    string
	version [2]int
}

// parseFamily parses a normalized name; ok is false for names outside every family.
func parseFamily(name string) (f family, ok bool) {
	if m := claudeNew.FindStringSubmatch(name); m != nil && claudeTiers[m[1]] {
		return family{name: "claude", tier: m[1], version: version(m[2], m[3])}, wordsOK(m[4], nil)
	}
	if m := claudeOld.FindStringSubmatch(name); m != nil && claudeTiers[m[3]] {
		return family{name: "claude", tier: m[3], version: version(m[1], m[2])}, wordsOK(m[4], nil)
	}
	if m := gptName.FindStringSubmatch(name); m != nil {
		tier, ok := openaiTier(m[4])
		if m[3] == "o" {
			tier = "o-" + tier // gpt-4o is its own line
		}
		return family{name: "gpt", tier: tier, version: version(m[1], m[2])}, ok
	}
	if m := oName.FindStringSubmatch(name); m != nil {
		tier, ok := openaiTier(m[2])
		return family{name: "o", tier: tier, version: version(m[1], "")}, ok
	}
	return family{}, false
}

// openaiTier joins the tier words of "-codex-mini" style suffixes in a fixed order.
func openaiTier(words string) (string, bool) {
	var tier []string
	ok := wordsOK(words, func(w string) { tier = append(tier, w) })
	if len(tier) == 0 {
		return "base", ok
	}
	return strings.Join(tier, "-"), ok
}

// wordsOK reports whether every word of a "-a-b" suffix is a tier or release word,
// passing tier words to tierWord (claude tiers are never in the suffix).
func wordsOK(suffix string, tierWord func(string)) bool {
	for _, w := range strings.Split(strings.TrimPrefix(suffix, "-"), "-") {
		switch {
		case w == "" || releaseWords[w]:
		case tierWord != nil && openaiTiers[w]:
			tierWord(w)
		default:
			return false
		}
	}
	return true
}

func version(major, minor string) [2]int {
	a, _ := strconv.Atoi(major)
	b, _ := strconv.Atoi(minor)
	return [2]int{a, b}
}

func (f family) newerThan(g family) bool {
	if f.version[0] != g.version[0] {
		return f.version[0] > g.version[0]
	}
	return f.version[1] > g.version[1]
}

// normalize lowercases and trims a model name.
func normalize(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// providerPrefixes are stripped before lookup.
var providerPrefixes = []string{"anthropic/", "openai/", "anthropic.", "openai."}

// guessProvider infers the provider from a model name, or "".
func guessProvider(name string) string {
	n := normalize(name)
	switch {
	case strings.HasPrefix(n, "anthropic/") || strings.HasPrefix(n, "claude"):
		return ProviderAnthropic
	case strings.HasPrefix(n, "openai/") || strings.HasPrefix(n, "gpt") || strings.HasPrefix(n, "chatgpt") ||
		oName.MatchString(n) || strings.HasPrefix(n, "codex"):
		return ProviderOpenAI
	}
	return ""
}

// defaultEncoding picks the tokenizer for a model without one in its entry.
func defaultEncoding(provider, name string) string {
	if provider == ProviderAnthropic {
		return "claude"
	}
	n := normalize(name)
	if strings.HasPrefix(n, "gpt-3.5") || n == "gpt-4" || (strings.HasPrefix(n, "gpt-4-") && !strings.HasPrefix(n, "gpt-4-1")) {
		return "cl100k_base"
	}
	return "o200k_base"
}
