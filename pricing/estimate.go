package pricing

import (
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/costplan/costplan/core"
	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
	"github.com/tidwall/gjson"
)

// Encoding names a tokenizer for offline token estimates.
//
// EncodingO200k and EncodingCL100k are OpenAI's byte-level BPE vocabularies; their
// counts of plain text are exact. They are compiled into the binary (tiktoken-go-loader)
// and never fetched.
//
// EncodingClaude has no public tokenizer behind it: Anthropic publishes none for Claude 3
// and later, and only the count_tokens endpoint is exact. Its estimate of a text is
//
//	min(ceil(o200k(text) × 81/40), UTF-8 bytes of text)
//
// which is meant as an upper bound for budget reservations, never as a bill. The safety
// factor 81/40 = 2.025 is the product of two documented margins: plain heuristics
// (tiktoken counts, bytes/3.5 or bytes/4) miss Claude's real counts by roughly 20–50%,
// so the o200k count is raised by the top of that band (× 1.5); and the tokenizer
// introduced with Claude Opus 4.7 makes up to 1.35× as many tokens as the one before it
// for the same text (× 1.35). The byte count caps the estimate because every token of a
// byte-level BPE covers at least one byte; for the same reason the estimate is never
// below the exact o200k count of the same text. Prompts add framing on top: count_tokens
// returns about 7 tokens more than the text of a one-character message, so every Claude
// message and system prompt is charged 7 tokens (see CountPrompt for the rest).
//
// An Encoding that is none of the three is counted as o200k_base and never reported as
// exact: o200k is the vocabulary of every current OpenAI model and the closest public
// stand-in for an unknown one.
type Encoding string

// The encodings an Estimator understands.
const (
	// EncodingO200k is the tokenizer of gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1, o3 and o4-mini.
	EncodingO200k Encoding = "o200k_base"
	// EncodingCL100k is the tokenizer of gpt-4, gpt-4-turbo and gpt-3.5-turbo.
	EncodingCL100k Encoding = "cl100k_base"
	// EncodingClaude is the upper-bound estimate for Claude models described on Encoding.
	EncodingClaude Encoding = "claude"
)

// Framing and flat estimates, in tokens. Each is an estimate; the sources are named.
const (
	// OpenAI chat framing (OpenAI cookbook "How to count tokens with tiktoken",
	// num_tokens_from_messages): every message costs 3 tokens plus its role, a name
	// costs 1 more, and the reply is primed with 3.
	estOpenAIPerMessage = 3
	estOpenAIPerName    = 1
	estOpenAIReply      = 3
	// estClaudePerMessage: count_tokens reports about 7 tokens beyond the text of a
	// one-character message (PROTOCOLS.md E); charged for every message and the system
	// prompt, which overstates requests with many messages.
	estClaudePerMessage = 7
	// estClaudeTools: the hidden tool-use system prompt Anthropic adds whenever tools are
	// present. Its tool-use docs list 346 tokens for the Claude 4 family (tool_choice
	// auto) and 530 for Claude 3 Opus; 530 also covers 346 × 1.35 for the newer tokenizer.
	estClaudeTools = 530
	// Tool call and tool result blocks carry wrapper tokens that the JSON does not show
	// (OpenAI's channel and recipient headers, Claude's function-call markup). Neither
	// is documented; these are generous guesses.
	estOpenAIPerToolBlock = 12
	estClaudePerToolBlock = 30
	// estImageTokens is the flat charge for one image, whatever its size or detail:
	// Claude bills about width×height/750 tokens and downscales anything above about
	// 1.15 megapixels, so an image costs at most about 1,600 tokens (Anthropic vision
	// docs); gpt-4o at high detail tops out at 85 + 8×170 = 1,445 (OpenAI vision docs).
	// The base64 payload is never tokenized.
	estImageTokens = 1600
	// A document (PDF) is estimated from its decoded size: one page per 10,000 bytes
	// (rounded up, at least one page), each page 3,000 tokens of text (the top of
	// Anthropic's "1,500–3,000 tokens per page") plus one page image (estImageTokens).
	// Documents given by URL or file ID have no size here and count as one page.
	estDocBytesPerPage = 10_000
	estDocPageTokens   = 3000 + estImageTokens
	// Encrypted payloads (redacted_thinking data, encrypted_content) are charged one
	// token per 4 characters of base64, that is per 3 bytes of ciphertext.
	estOpaqueCharsPerToken = 4
	// Audio input (OpenAI input_audio) is charged one token per 1,000 decoded bytes, at
	// least one: 16 kHz 16-bit PCM is 32,000 bytes a second, and OpenAI's audio models
	// are billed on the order of ten tokens a second. A rough figure, not a documented
	// rate; the base64 payload is never tokenized.
	estAudioBytesPerToken = 1000
	// estClaudeFactorNum/estClaudeFactorDen is the Claude safety factor, 1.5 × 1.35.
	estClaudeFactorNum = 81
	estClaudeFactorDen = 40
)

const (
	// estDefaultCacheEntries bounds the per-message cache of NewEstimator.
	estDefaultCacheEntries = 65536
	// estLeafCacheMin is the raw length from which a single string value is cached on
	// its own, so that a message whose bytes changed elsewhere (a moved cache_control
	// marker) re-tokenizes only its short strings.
	estLeafCacheMin = 64
	// estMaxDepth stops the JSON walk; anything deeper counts as raw text.
	estMaxDepth = 64
)

// Estimator counts tokens offline. The zero value is not usable; call NewEstimator. It
// is safe for concurrent use.
//
// Each vocabulary is loaded on first use from the ranks compiled into the binary
// (o200k_base: a few hundred milliseconds and about 9 MiB of heap; cl100k_base about
// half that) and kept. Counts of messages, system prompts and tool lists are cached in
// a bounded LRU (65,536 entries) keyed by a hash of the raw JSON bytes and the
// tokenizer, and so are the counts of long string values inside them: a conversation
// resent with one new message costs a hash of its bytes and the tokenization of the
// new message only, and a message whose bytes changed only in structural members (a
// moved cache_control marker) re-tokenizes only its short strings.
type Estimator struct {
	seed  maphash.Seed
	cache *estCache // nil: no caching
	toks  [2]estTokenizer
}

// NewEstimator returns an Estimator with an empty cache and no tokenizer loaded yet.
func NewEstimator() *Estimator { return newEstimatorSize(estDefaultCacheEntries) }

// newEstimatorSize returns an Estimator whose cache holds at most entries counts; zero
// disables the cache.
func newEstimatorSize(entries int) *Estimator {
	e := &Estimator{seed: maphash.MakeSeed()}
	if entries > 0 {
		e.cache = newEstCache(entries)
	}
	return e
}

// CountText counts the tokens of plain text, without any message framing. exact is
// true for o200k_base and cl100k_base (the count OpenAI's tokenizer gives), false for
// claude (the upper bound described on Encoding) and for an unknown Encoding (counted
// as o200k_base).
func (e *Estimator) CountText(enc Encoding, text string) (n core.Tokens, exact bool) {
	base, claude, exact := estResolve(enc)
	bpe := e.tokenizer(base)
	if bpe == nil {
		// The embedded vocabulary did not load: bytes bound any byte-level BPE.
		return core.Tokens(len(text)), false
	}
	t, size := bpe.count(text)
	if claude {
		t = estClaudeText(t, size)
	}
	return core.Tokens(t), exact
}

// Prompt is the countable content of one request as raw JSON values, as the proxy's
// adapters extract them with gjson without decoding the whole body. Slices may point
// into the request body; the Estimator does not keep or modify them.
type Prompt struct {
	// System is the raw JSON of the system prompt or instructions (a string or an array
	// of blocks), or nil.
	System []byte
	// Messages holds the raw JSON of each message: Anthropic messages, OpenAI chat
	// messages or Responses input items, or a raw JSON string for a plain string input.
	Messages [][]byte
	// Tools is the raw JSON array of tool definitions, or nil.
	Tools []byte
}

// Estimate is the token count of a Prompt.
type Estimate struct {
	// Tokens is the estimated input size, framing included.
	Tokens core.Tokens
	// Exact reports an exact count. CountPrompt never sets it: chat framing, tool
	// rendering and images are documented only approximately by the providers.
	Exact bool
	// Images is the number of image blocks, each counted as a flat estimate.
	Images int
	// CachedMessages is how many of Prompt.Messages were counted from the cache.
	CachedMessages int
}

// CountPrompt estimates the input tokens of a request.
//
// Every message is walked generically, so the three wire APIs need no adapter code here.
// String values count (text, thinking, tool results, names, tool arguments); structural
// keys do not (type, role, id, tool_use_id, call_id, cache_control, signature, status
// and the like). Tool inputs given as JSON objects count as their raw JSON text, and so
// does the Tools array. Images count estImageTokens each, documents and audio a
// size-based estimate; their base64 payload is never tokenized, nor is a base64 data
// URL found anywhere else. Thinking text counts even though
// Claude drops old thinking blocks, which keeps the figure an upper bound.
//
// Framing for OpenAI encodings follows OpenAI's documented chat counting (3 per message,
// the role, 1 per name, 3 to prime the reply), plus estOpenAIPerToolBlock per tool call
// or result. For claude each message and the system prompt add 7, each tool block
// estClaudePerToolBlock, and a non-empty Tools array the 530-token tool-use prompt;
// text is scaled as described on Encoding, per message.
func (e *Estimator) CountPrompt(enc Encoding, p Prompt) Estimate {
	base, claude, _ := estResolve(enc)
	var est Estimate
	var total int64
	add := func(kind estKind, raw []byte) bool {
		part, hit := e.part(base, kind, raw)
		total += part.tokens(kind, claude)
		est.Images += int(part.images)
		return hit
	}
	if len(p.System) > 0 {
		add(estKindSystem, p.System)
	}
	for _, m := range p.Messages {
		if add(estKindMessage, m) {
			est.CachedMessages++
		}
	}
	if len(p.Tools) > 0 {
		add(estKindTools, p.Tools)
	}
	if !claude {
		total += estOpenAIReply
	}
	est.Tokens = core.Tokens(total)
	return est
}

// estResolve maps an Encoding to the tokenizer that counts it.
func estResolve(enc Encoding) (base estBase, claude, exact bool) {
	switch enc {
	case EncodingO200k:
		return estO200k, false, true
	case EncodingCL100k:
		return estCL100k, false, true
	case EncodingClaude:
		return estO200k, true, false
	default:
		return estO200k, false, false
	}
}

// estClaudeText scales an o200k count t of a text of n bytes to the Claude bound.
func estClaudeText(t, n int64) int64 {
	return min((t*estClaudeFactorNum+estClaudeFactorDen-1)/estClaudeFactorDen, n)
}

// estBase is a tokenizer the Estimator loads.
type estBase uint8

const (
	estO200k estBase = iota
	estCL100k
)

// estTokenizer is one lazily loaded vocabulary.
type estTokenizer struct {
	once sync.Once
	bpe  *estBPE // nil if loading failed
}

// tokenizer returns the loaded vocabulary for base, or nil if it cannot be loaded.
func (e *Estimator) tokenizer(base estBase) *estBPE {
	t := &e.toks[base]
	t.once.Do(func() { t.bpe, _ = estLoad(base) })
	return t.bpe
}

// estLoad reads the merge ranks of base embedded by tiktoken-go-loader. It does not go
// through tiktoken.GetEncoding, whose package-global loader would have to be replaced
// (its default downloads) and which builds decoder tables that counting never uses.
func estLoad(base estBase) (*estBPE, error) {
	name := "o200k_base"
	if base == estCL100k {
		name = "cl100k_base"
	}
	ranks, err := tiktokenloader.NewOfflineLoader().LoadTiktokenBpe(name + ".tiktoken")
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	return &estBPE{ranks: ranks, cl100k: base == estCL100k}, nil
}

// estKind says what a cached count is of; counts of the same bytes differ by kind.
type estKind uint8

const (
	estKindMessage estKind = iota
	estKindSystem
	estKindTools
	estKindLeaf // one string value, or the raw JSON of a tool input
)

// estPart is the count of one message, system prompt, tool list or string value, kept
// in tokenizer terms so that o200k and claude share cache entries.
type estPart struct {
	text   int64 // tokens of the counted text
	bytes  int64 // UTF-8 bytes of the counted text
	extra  int64 // flat tokens: images, documents, encrypted payloads
	role   int32 // tokens of the role name
	blocks int32 // tool call and tool result blocks; for tools, the number of tools
	images int32
	named  bool // an OpenAI chat message with a name
}

// tokens applies the framing of kind under one family of encodings.
func (p estPart) tokens(kind estKind, claude bool) int64 {
	if claude {
		n := estClaudeText(p.text, p.bytes) + p.extra + int64(p.blocks)*estClaudePerToolBlock
		switch kind {
		case estKindTools:
			n = estClaudeText(p.text, p.bytes)
			if p.blocks > 0 {
				n += estClaudeTools
			}
		case estKindMessage, estKindSystem:
			n += estClaudePerMessage
		}
		return n
	}
	n := p.text + p.extra
	if kind == estKindMessage || kind == estKindSystem {
		n += estOpenAIPerMessage + int64(p.role) + int64(p.blocks)*estOpenAIPerToolBlock
		if p.named {
			n += estOpenAIPerName
		}
	}
	return n
}

// part counts raw as kind, from the cache when it has been counted before.
func (e *Estimator) part(base estBase, kind estKind, raw []byte) (estPart, bool) {
	key := estKey{hash: maphash.Bytes(e.seed, raw), size: len(raw), kind: kind, base: base}
	if p, ok := e.cache.get(key); ok {
		return p, true
	}
	w := estWalker{e: e, base: base, bpe: e.tokenizer(base)}
	switch kind {
	case estKindTools:
		w.rawText(string(raw))
		w.p.blocks = int32(len(gjson.ParseBytes(raw).Array()))
	case estKindSystem:
		w.root(raw, "system")
	default:
		w.root(raw, "user")
	}
	e.cache.put(key, w.p)
	return w.p, false
}
