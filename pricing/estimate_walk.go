package pricing

import (
	"hash/maphash"
	"strings"

	"github.com/tidwall/gjson"
)

// estWalker accumulates the count of one message's JSON.
type estWalker struct {
	e    *Estimator
	base estBase
	bpe  *estBPE // nil: count bytes
	p    estPart
}

// root walks one message, system prompt or string input; role is the role assumed when
// the value has none.
func (w *estWalker) root(raw []byte, role string) {
	if !gjson.ValidBytes(raw) {
		w.p.role = int32(w.tokens(role))
		w.rawText(string(raw))
		return
	}
	v := gjson.ParseBytes(raw)
	if v.IsObject() {
		if r := v.Get("role"); r.Type == gjson.String {
			role = r.Str
			w.p.named = v.Get("name").Exists()
		} else if v.Get("type").Exists() {
			role = "" // a Responses item such as function_call: no role header
		}
	}
	if role != "" {
		w.p.role = int32(w.tokens(role))
	}
	w.value(v, 0)
}

// value walks any JSON value.
func (w *estWalker) value(v gjson.Result, depth int) {
	switch {
	case v.Type == gjson.String:
		w.leaf(v)
	case depth > estMaxDepth:
		w.rawText(v.Raw)
	case v.IsObject():
		w.object(v, depth)
	case v.IsArray():
		v.ForEach(func(_, el gjson.Result) bool {
			w.value(el, depth+1)
			return true
		})
	}
}

// object walks a JSON object: a content block, a message, a tool call.
func (w *estWalker) object(v gjson.Result, depth int) {
	typ := v.Get("type").Str
	switch typ {
	case "image", "image_url", "input_image", "computer_screenshot":
		w.image()
		return
	case "document", "file", "input_file":
		w.document(v)
		return
	case "redacted_thinking":
		w.opaque(v.Get("data").Str)
		return
	case "input_audio":
		decoded := int64(len(v.Get("input_audio.data").Str)) * 3 / 4
		w.p.extra += max(1, (decoded+estAudioBytesPerToken-1)/estAudioBytesPerToken)
		return
	}
	if estToolBlock(typ) {
		w.p.blocks++
	}
	v.ForEach(func(k, val gjson.Result) bool {
		w.field(k.Str, val, depth+1)
		return true
	})
}

// field walks one member of an object.
func (w *estWalker) field(key string, val gjson.Result, depth int) {
	switch key {
	case "type", "role", "id", "tool_use_id", "tool_call_id", "call_id", "cache_control",
		"signature", "media_type", "status", "detail", "format", "file_id", "index",
		"is_error", "logprobs":
		return
	case "encrypted_content":
		w.opaque(val.Str)
		return
	case "input", "arguments", "parameters", "input_schema":
		if val.IsObject() || val.IsArray() {
			w.rawText(val.Raw)
			return
		}
	case "tool_calls":
		val.ForEach(func(_, call gjson.Result) bool {
			w.p.blocks++
			w.value(call, depth+1)
			return true
		})
		return
	}
	w.value(val, depth)
}

// estToolBlock reports block types that call a tool or return its result.
func estToolBlock(typ string) bool {
	return strings.HasSuffix(typ, "tool_use") || strings.HasSuffix(typ, "tool_result") ||
		strings.HasSuffix(typ, "_call") || strings.HasSuffix(typ, "_call_output")
}

// document estimates a document block without tokenizing its payload: Anthropic
// {"type":"document","source":{...}}, OpenAI chat {"type":"file","file":{...}} and
// Responses {"type":"input_file",...}.
func (w *estWalker) document(v gjson.Result) {
	for _, k := range [...]string{"title", "context", "filename", "file.filename"} {
		if s := v.Get(k); s.Type == gjson.String {
			w.leaf(s)
		}
	}
	src := v.Get("source")
	switch src.Get("type").Str {
	case "text":
		w.leaf(src.Get("data"))
		return
	case "content":
		w.value(src.Get("content"), 1)
		return
	}
	data := src.Get("data").Str
	if data == "" {
		data = v.Get("file_data").Str
	}
	if data == "" {
		data = v.Get("file.file_data").Str
	}
	if i := strings.IndexByte(data, ','); i >= 0 && strings.HasPrefix(data, "data:") {
		data = data[i+1:]
	}
	w.documentSize(len(data))
}

// documentSize charges a document of n base64 characters.
func (w *estWalker) documentSize(n int) {
	decoded := int64(n) * 3 / 4
	pages := max(1, (decoded+estDocBytesPerPage-1)/estDocBytesPerPage)
	w.p.extra += pages * estDocPageTokens
}

// image charges one image.
func (w *estWalker) image() {
	w.p.images++
	w.p.extra += estImageTokens
}

// dataURL charges a base64 data URL found in a place the walk does not know (an image
// or file inside an unfamiliar block) instead of tokenizing it, and reports whether s
// was one.
func (w *estWalker) dataURL(s string) bool {
	head, payload, ok := strings.Cut(s, ";base64,")
	if !ok || !strings.HasPrefix(head, "data:") || strings.ContainsAny(head, " \n") {
		return false
	}
	if strings.HasPrefix(head, "data:image/") {
		w.image()
	} else {
		w.documentSize(len(payload))
	}
	return true
}

// opaque charges an encrypted base64 payload by its length.
func (w *estWalker) opaque(data string) {
	w.p.extra += int64((len(data) + estOpaqueCharsPerToken - 1) / estOpaqueCharsPerToken)
}

// leaf counts one JSON string value, through the cache when it is long.
func (w *estWalker) leaf(v gjson.Result) {
	if strings.HasPrefix(v.Str, "data:") && w.dataURL(v.Str) {
		return
	}
	if len(v.Raw) < estLeafCacheMin {
		t, size := w.count(v.Str)
		w.p.text += t
		w.p.bytes += size
		return
	}
	key := estKey{hash: maphash.String(w.e.seed, v.Raw), size: len(v.Raw), kind: estKindLeaf, base: w.base}
	if p, ok := w.e.cache.get(key); ok {
		w.p.text += p.text
		w.p.bytes += p.bytes
		return
	}
	var p estPart
	p.text, p.bytes = w.count(v.Str)
	w.e.cache.put(key, p)
	w.p.text += p.text
	w.p.bytes += p.bytes
}

// rawText counts s as it stands, JSON punctuation included.
func (w *estWalker) rawText(s string) {
	w.leaf(gjson.Result{Type: gjson.String, Str: s, Raw: s})
}

// count tokenizes s, or counts its bytes when no tokenizer is loaded; size is the
// length in bytes of the text tokenized.
func (w *estWalker) count(s string) (tokens, size int64) {
	if w.bpe == nil {
		return int64(len(s)), int64(len(s))
	}
	return w.bpe.count(s)
}

// tokens is count without the size.
func (w *estWalker) tokens(s string) int64 {
	t, _ := w.count(s)
	return t
}
