package pricing

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/tidwall/gjson"
)

// The fixture is a Claude Code-like POST /v1/messages body of about 600 KB, generated
// deterministically below. Regenerate it with
//
//	go test ./pricing -run TestEstimateFixture -estimate.update
var estUpdateFixture = flag.Bool("estimate.update", false, "rewrite testdata/estimate/conversation_600k.json")

var estFixturePath = filepath.Join("testdata", "estimate", "conversation_600k.json")

func TestEstimateFixture(t *testing.T) {
	want := estGenerateConversation()
	if *estUpdateFixture {
		if err := os.WriteFile(estFixturePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(estFixturePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the generator's output; run with -estimate.update", estFixturePath)
	}
	if n := len(got); n < 570_000 || n > 630_000 {
		t.Errorf("fixture is %d bytes, want about 600 KB", n)
	}
	p := estPromptFromBody(got)
	if len(p.Messages) != 151 || gjson.GetBytes(got, "tools.#").Int() != 40 {
		t.Errorf("fixture has %d messages and %d tools, want 151 and 40",
			len(p.Messages), gjson.GetBytes(got, "tools.#").Int())
	}
}

// estPromptFromBody extracts a Prompt from a /v1/messages body the way the proxy's
// adapter does: one pass over the top-level members with gjson, a second over the
// messages, every value a sub-slice of the body (no copy, no decoding).
func estPromptFromBody(body []byte) Prompt {
	var p Prompt
	sub := func(v gjson.Result) []byte { return body[v.Index : v.Index+len(v.Raw)] }
	gjson.Parse(unsafe.String(unsafe.SliceData(body), len(body))).ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "system":
			p.System = sub(v)
		case "tools":
			p.Tools = sub(v)
		case "messages":
			v.ForEach(func(_, m gjson.Result) bool {
				p.Messages = append(p.Messages, sub(m))
				return true
			})
		}
		return true
	})
	return p
}

func estLoadFixture(b *testing.B) []byte {
	body, err := os.ReadFile(estFixturePath)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// estNewUserMessage is the message an agent appends on its next turn: a tool result of
// about size bytes of source code, then a short text. The result starts with a
// placeholder that estFresh overwrites, so that every iteration counts a message that
// neither the message cache nor the string cache has seen.
func estNewUserMessage(size int) []byte {
	g := estGen{r: rand.New(rand.NewPCG(uint64(size), 99))}
	code := g.goFile(size/30 + 10)
	if len(code) > size {
		code = code[:strings.LastIndexByte(code[:size], '\n')+1]
	}
	msg := estFxMessage{Role: "user", Content: []any{
		estFxToolResult{Type: "tool_result", ToolUseID: g.toolID(), Content: estPlaceholder + "\n" + g.numbered(code)},
		estFxText{Type: "text", Text: "Keep going.", CacheControl: &estFxCache{Type: "ephemeral"}},
	}}
	return estMarshal(msg)
}

const estPlaceholder = "@@@@@@@@@@@@"

// estFresh returns a copy of tmpl with its placeholder replaced by the number i.
func estFresh(tmpl []byte, i int) []byte {
	m := bytes.Clone(tmpl)
	at := bytes.Index(m, []byte(estPlaceholder))
	copy(m[at:at+len(estPlaceholder)], fmt.Sprintf("%0*d", len(estPlaceholder), i))
	return m
}

// BenchmarkResentConversation measures the pre-call work on a resent 600 KB
// conversation: the cache holds every earlier message, and each iteration counts the
// same conversation plus one new user message (a tool result of the given size) with
// the claude estimate. "count" starts from an extracted Prompt; "extract+count" also
// pulls the messages out of the body with gjson, as the proxy does.
func BenchmarkResentConversation(b *testing.B) {
	body := estLoadFixture(b)
	base := estPromptFromBody(body)
	e := NewEstimator()
	e.CountPrompt(EncodingClaude, base)
	seq := 0
	for _, size := range []int{200, 2000, 16000} {
		tmpl := estNewUserMessage(size)
		b.Run(fmt.Sprintf("count/new=%dB", size), func(b *testing.B) {
			p := base
			p.Messages = append(base.Messages[:len(base.Messages):len(base.Messages)], nil)
			b.ReportAllocs()
			for b.Loop() {
				seq++
				p.Messages[len(p.Messages)-1] = estFresh(tmpl, seq)
				if est := e.CountPrompt(EncodingClaude, p); est.CachedMessages != len(base.Messages) {
					b.Fatalf("%d cached messages, want %d", est.CachedMessages, len(base.Messages))
				}
			}
		})
		b.Run(fmt.Sprintf("extract+count/new=%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				seq++
				p := estPromptFromBody(body)
				p.Messages = append(p.Messages, estFresh(tmpl, seq))
				e.CountPrompt(EncodingClaude, p)
			}
		})
	}
}

// BenchmarkResentConversationMovedMarker is the resend as Claude Code does it: the
// cache_control marker moves from the previous last message to the new one, so the
// previous message's bytes change. Its long strings come from the string-level cache.
func BenchmarkResentConversationMovedMarker(b *testing.B) {
	body := estLoadFixture(b)
	p := estPromptFromBody(body)
	e := NewEstimator()
	e.CountPrompt(EncodingClaude, p)
	last := len(p.Messages) - 1
	unmarked := bytes.Replace(p.Messages[last], []byte(`,"cache_control":{"type":"ephemeral"}`), nil, 1)
	if len(unmarked) == len(p.Messages[last]) {
		b.Fatal("fixture's last message has no cache_control marker")
	}
	tmpl := estNewUserMessage(200)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q := p
		q.Messages = append(p.Messages[:last:last], estWhitespaced(unmarked, i), estFresh(tmpl, i))
		e.CountPrompt(EncodingClaude, q)
	}
}

// estWhitespaced returns raw followed by i written in binary as spaces and tabs: the
// same JSON value in bytes that no earlier iteration has hashed.
func estWhitespaced(raw []byte, i int) []byte {
	m := bytes.Clone(raw)
	for bit := range 24 {
		m = append(m, " \t"[i>>bit&1])
	}
	return m
}

// BenchmarkWalkConversation is the worst case short of a cold start, as when a client
// re-serializes the whole conversation: the message-level cache is emptied before each
// count, so all 600 KB is walked with gjson; long strings come from the string-level
// cache and short ones are tokenized again.
func BenchmarkWalkConversation(b *testing.B) {
	body := estLoadFixture(b)
	p := estPromptFromBody(body)
	e := NewEstimator()
	e.CountPrompt(EncodingClaude, p)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		e.cache.clearKind(estKindMessage)
		e.CountPrompt(EncodingClaude, p)
	}
}

// BenchmarkHashConversation is the floor of a resend: extracting and hashing 600 KB.
func BenchmarkHashConversation(b *testing.B) {
	body := estLoadFixture(b)
	e := NewEstimator()
	e.CountPrompt(EncodingClaude, estPromptFromBody(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		e.CountPrompt(EncodingClaude, estPromptFromBody(body))
	}
}

// BenchmarkColdConversation counts the conversation with no cache at all: plain
// tokenization of every message (the tokenizer itself is loaded beforehand).
func BenchmarkColdConversation(b *testing.B) {
	body := estLoadFixture(b)
	p := estPromptFromBody(body)
	e := newEstimatorSize(0)
	e.CountText(EncodingO200k, "warm up")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		e.CountPrompt(EncodingClaude, p)
	}
}

// BenchmarkCountText is raw tokenizer throughput on source code, against tiktoken-go
// (the same vocabularies through a backtracking regular-expression engine).
func BenchmarkCountText(b *testing.B) {
	g := estGen{r: rand.New(rand.NewPCG(7, 7))}
	text := g.goFile(3000)
	e := NewEstimator()
	for _, enc := range []Encoding{EncodingO200k, EncodingCL100k} {
		e.CountText(enc, "warm up")
		b.Run(string(enc), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				e.CountText(enc, text)
			}
		})
		ref := estReference(b, string(enc))
		b.Run("tiktoken-go/"+string(enc), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				ref.EncodeOrdinary(text)
			}
		})
	}
}

// clearKind drops every cached count of one kind (benchmarks only).
func (c *estCache) clearKind(k estKind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, n := range c.items {
		if key.kind == k {
			n.prev.next, n.next.prev = n.next, n.prev
			delete(c.items, key)
		}
	}
}

// The fixture generator. Everything below is deterministic: a fixed PCG seed and
// encoding/json, whose output order is fixed by struct fields and sorted map keys.

type estFxBody struct {
	Model     string            `json:"model"`
	Messages  []estFxMessage    `json:"messages"`
	System    []estFxText       `json:"system"`
	Tools     []estFxTool       `json:"tools"`
	Metadata  map[string]string `json:"metadata"`
	MaxTokens int               `json:"max_tokens"`
	Thinking  map[string]string `json:"thinking"`
	Stream    bool              `json:"stream"`
}

type estFxMessage struct {
	Role    string `json:"role"`
	Content []any  `json:"content"`
}

type estFxCache struct {
	Type string `json:"type"`
	TTL  string `json:"ttl,omitempty"`
}

type estFxText struct {
	Type         string      `json:"type"`
	Text         string      `json:"text"`
	CacheControl *estFxCache `json:"cache_control,omitempty"`
}

type estFxThinking struct {
	Type      string `json:"type"`
	Thinking  string `json:"thinking"`
	Signature string `json:"signature"`
}

type estFxToolUse struct {
	Type  string         `json:"type"`
	ID    string         `json:"id"`
	Name  string         `json:"name"`
	Input map[string]any `json:"input"`
}

type estFxToolResult struct {
	Type      string `json:"type"`
	ToolUseID string `json:"tool_use_id"`
	Content   string `json:"content"`
	IsError   bool   `json:"is_error,omitempty"`
}

type estFxTool struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	InputSchema map[string]any `json:"input_schema"`
}

func estMarshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// estGenerateConversation builds the fixture: a system prompt of two cached blocks, 40
// tools with JSON schemas, and 150 messages of an agent reading, searching, editing and
// testing Go code (tool uses with JSON input, tool results with numbered file contents
// and command output, a few thinking blocks).
func estGenerateConversation() []byte {
	g := estGen{r: rand.New(rand.NewPCG(2026, 600))}
	body := estFxBody{
		Model:     "claude-opus-5-5",
		MaxTokens: 128000,
		Metadata:  map[string]string{"user_id": "user_" + g.hex(64)},
		Thinking:  map[string]string{"type": "adaptive"},
		Stream:    true,
		System: []estFxText{
			{Type: "text", Text: "You are an interactive command-line agent that helps with software engineering tasks.", CacheControl: &estFxCache{Type: "ephemeral"}},
			{Type: "text", Text: g.systemPrompt(), CacheControl: &estFxCache{Type: "ephemeral", TTL: "1h"}},
		},
	}
	for _, name := range estFxToolNames {
		body.Tools = append(body.Tools, g.tool(name))
	}
	body.Messages = append(body.Messages, estFxMessage{Role: "user", Content: []any{
		estFxText{Type: "text", Text: "<system-reminder>\n" + g.paragraphs(4) + "\n</system-reminder>"},
		estFxText{Type: "text", Text: g.paragraphs(1) + " Start with the budget ledger ✅"},
	}})
	for len(body.Messages) < 150 {
		body.Messages = append(body.Messages, g.assistantTurn(len(body.Messages)))
		body.Messages = append(body.Messages, g.userTurn(body.Messages[len(body.Messages)-1]))
	}
	last := &body.Messages[len(body.Messages)-1]
	last.Content = append(last.Content, estFxText{Type: "text", Text: "Now run the whole test suite again.", CacheControl: &estFxCache{Type: "ephemeral"}})
	return estMarshal(body)
}

var estFxToolNames = []string{
	"Task", "Bash", "Glob", "Grep", "LS", "ExitPlanMode", "Read", "Edit", "MultiEdit", "Write",
	"NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillShell", "SlashCommand",
	"mcp__github__create_issue", "mcp__github__get_issue", "mcp__github__list_issues",
	"mcp__github__create_pull_request", "mcp__github__get_pull_request_diff", "mcp__github__add_comment",
	"mcp__github__search_code", "mcp__github__list_commits", "mcp__github__get_file_contents",
	"mcp__linear__create_ticket", "mcp__linear__update_ticket", "mcp__linear__search",
	"mcp__postgres__query", "mcp__postgres__describe_table", "mcp__postgres__list_tables",
	"mcp__sentry__get_issue", "mcp__sentry__list_events", "mcp__browser__navigate",
	"mcp__browser__screenshot", "mcp__browser__click", "mcp__browser__type",
	"mcp__costplan__budget_remaining", "mcp__costplan__estimate_cost",
}

type estGen struct{ r *rand.Rand }

var (
	estFxWords = strings.Fields(`the a an and or but if then when while because so that this these those it its
		we you they is are was were be been has have had do does did can could should would will may might must
		not no all any each every some more most other such only also just very well still even first next last new old
		file function test value error result request response budget ledger token model price cost session call stream
		cache message tool input output change code line package type field method interface struct map slice string
		number count limit cap reserve settle release lock reset warn journal record proxy server client handler
		config flag option default path directory command build run check fix update add remove rename move keep
		make sure need want look see find read write open close start stop wait return handle parse encode decode
		small large empty full current previous correct wrong simple clear safe exact total remaining granted actual
		because before after during between across into from with without over under about around through per`)
	estFxIdentParts = strings.Fields(`user config budget ledger token stream request handler cache price model session event
		reader writer buffer parse encode decode load store journal limit grant reserve settle state entry record item
		call usage rate cost total snapshot options table index key value count max min next prev err ctx`)
	estFxTypes = []string{"string", "int", "int64", "bool", "error", "[]byte", "time.Duration", "core.Money",
		"core.Tokens", "*Ledger", "map[string]int", "[]string", "context.Context", "sync.Mutex"}
	estFxPaths = []string{"core/ledger.go", "core/money.go", "core/usage.go", "proxy/anthropic.go",
		"proxy/handler.go", "proxy/stream.go", "pricing/table.go", "pricing/cost.go", "journal/writer.go",
		"journal/reader.go", "wrap/run.go", "cmd/costplan/exec_cmd.go", "cmd/costplan/main.go", "mcpserver/tools.go"}
)

func (g *estGen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *estGen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

func (g *estGen) toolID() string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte("toolu_01")
	for range 22 {
		b = append(b, alnum[g.r.IntN(len(alnum))])
	}
	return string(b)
}

func (g *estGen) ident(exported bool) string {
	n := 1 + g.r.IntN(3)
	var sb strings.Builder
	for i := range n {
		p := g.pick(estFxIdentParts)
		if i > 0 || exported {
			p = strings.ToUpper(p[:1]) + p[1:]
		}
		sb.WriteString(p)
	}
	return sb.String()
}

func (g *estGen) sentence() string {
	n := 6 + g.r.IntN(16)
	words := make([]string, n)
	for i := range words {
		switch g.r.IntN(14) {
		case 0:
			words[i] = "`" + g.ident(g.r.IntN(2) == 0) + "`"
		case 1:
			words[i] = g.pick(estFxPaths)
		default:
			words[i] = g.pick(estFxWords)
		}
	}
	words[0] = strings.ToUpper(words[0][:1]) + words[0][1:]
	end := "."
	if g.r.IntN(8) == 0 {
		end = ":"
	}
	return strings.Join(words, " ") + end
}

func (g *estGen) paragraphs(n int) string {
	ps := make([]string, n)
	for i := range ps {
		ss := make([]string, 2+g.r.IntN(5))
		for j := range ss {
			ss[j] = g.sentence()
		}
		ps[i] = strings.Join(ss, " ")
		if g.r.IntN(3) == 0 {
			ps[i] += "\n- " + g.sentence() + "\n- " + g.sentence()
		}
	}
	return strings.Join(ps, "\n\n")
}

func (g *estGen) systemPrompt() string {
	var sb strings.Builder
	for _, h := range []string{"Tone and style", "Proactiveness", "Following conventions", "Code style",
		"Task management", "Doing tasks", "Tool usage policy", "Environment"} {
		fmt.Fprintf(&sb, "# %s\n%s\n\n", h, g.paragraphs(4))
	}
	sb.WriteString("<env>\nWorking directory: /home/dev/costplan\nIs directory a git repo: Yes\nPlatform: linux\n</env>")
	return sb.String()
}

func (g *estGen) tool(name string) estFxTool {
	props := map[string]any{}
	var required []string
	for range 1 + g.r.IntN(6) {
		p := strings.ToLower(g.ident(false))
		prop := map[string]any{"description": g.sentence()}
		switch g.r.IntN(5) {
		case 0:
			prop["type"] = "number"
		case 1:
			prop["type"] = "boolean"
		case 2:
			prop["type"] = "array"
			prop["items"] = map[string]any{"type": "string"}
		case 3:
			prop["type"] = "string"
			prop["enum"] = []string{g.pick(estFxIdentParts), g.pick(estFxIdentParts), g.pick(estFxIdentParts)}
		default:
			prop["type"] = "string"
		}
		props[p] = prop
		if g.r.IntN(2) == 0 {
			required = append(required, p)
		}
	}
	return estFxTool{
		Name:        name,
		Description: g.paragraphs(1 + g.r.IntN(4)),
		InputSchema: map[string]any{
			"type": "object", "properties": props, "required": required,
			"additionalProperties": false, "$schema": "http://json-schema.org/draft-07/schema#",
		},
	}
}

func (g *estGen) goFile(lines int) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "package %s\n\nimport (\n\t\"context\"\n\t\"fmt\"\n\t\"sync\"\n)\n\n", strings.ToLower(g.pick(estFxIdentParts)))
	for n := 8; n < lines; {
		typ := g.ident(true)
		fmt.Fprintf(&sb, "// %s %s\ntype %s struct {\n", typ, g.sentence(), typ)
		for range 2 + g.r.IntN(5) {
			fmt.Fprintf(&sb, "\t%s %s // %s\n", g.ident(false), g.pick(estFxTypes), strings.ToLower(g.sentence()))
			n++
		}
		sb.WriteString("}\n\n")
		for range 1 + g.r.IntN(3) {
			n += g.goFunc(&sb, typ)
		}
		n += 4
	}
	return sb.String()
}

func (g *estGen) goFunc(sb *strings.Builder, typ string) int {
	fn, arg, field := g.ident(true), g.ident(false), g.ident(true)
	comment := g.sentence()
	if g.r.IntN(12) == 0 {
		comment += " 预算检查在此完成。"
	}
	fmt.Fprintf(sb, "// %s %s\nfunc (x *%s) %s(ctx context.Context, %s %s) (%s, error) {\n",
		fn, comment, typ, fn, arg, g.pick(estFxTypes), g.pick(estFxTypes))
	n := 3
	for range 2 + g.r.IntN(6) {
		switch g.r.IntN(4) {
		case 0:
			fmt.Fprintf(sb, "\tif err := x.%s(ctx, %s); err != nil {\n\t\treturn nil, fmt.Errorf(\"%s %%s: %%w\", %s, err)\n\t}\n",
				g.ident(false), arg, strings.ToLower(g.pick(estFxIdentParts)), arg)
			n += 3
		case 1:
			fmt.Fprintf(sb, "\tfor i, v := range x.%s {\n\t\tif v.%s > %d {\n\t\t\tx.%s[i] = v\n\t\t}\n\t}\n",
				field, g.ident(true), g.r.IntN(1000), field)
			n += 5
		case 2:
			fmt.Fprintf(sb, "\tx.mu.Lock()\n\tdefer x.mu.Unlock()\n\t// %s\n", strings.ToLower(g.sentence()))
			n += 3
		default:
			fmt.Fprintf(sb, "\t%s := x.%s + %d\n", g.ident(false), field, g.r.IntN(100000))
			n++
		}
	}
	fmt.Fprintf(sb, "\treturn x.%s, nil\n}\n\n", field)
	return n + 2
}

// numbered formats code as a file reader tool shows it: right-aligned line numbers and
// an arrow.
func (g *estGen) numbered(code string) string {
	lines := strings.Split(strings.TrimRight(code, "\n"), "\n")
	var sb strings.Builder
	for i, l := range lines {
		fmt.Fprintf(&sb, "%6d→%s\n", i+1, l)
	}
	return sb.String()
}

func (g *estGen) shellOutput() string {
	var sb strings.Builder
	switch g.r.IntN(3) {
	case 0:
		for range 5 + g.r.IntN(30) {
			name := "Test" + g.ident(true)
			fmt.Fprintf(&sb, "=== RUN   %s\n--- PASS: %s (0.%02ds)\n", name, name, g.r.IntN(100))
		}
		fmt.Fprintf(&sb, "PASS\nok  \tgithub.com/costplan/costplan/%s\t%d.%03ds\n", strings.TrimSuffix(g.pick(estFxPaths), ".go"), g.r.IntN(3), g.r.IntN(1000))
	case 1:
		for range 10 + g.r.IntN(40) {
			p := g.pick(estFxPaths)
			fmt.Fprintf(&sb, "%s:%d:\t%s\n", p, 1+g.r.IntN(400), strings.ToLower(g.sentence()))
		}
	default:
		fmt.Fprintf(&sb, "diff --git a/%[1]s b/%[1]s\n--- a/%[1]s\n+++ b/%[1]s\n@@ -%d,7 +%d,9 @@\n", g.pick(estFxPaths), 10+g.r.IntN(200), 10+g.r.IntN(200))
		code := strings.Split(g.goFile(60), "\n")
		for _, l := range code[:min(len(code), 20+g.r.IntN(40))] {
			fmt.Fprintf(&sb, "%c%s\n", " +-"[g.r.IntN(3)], l)
		}
	}
	return sb.String()
}

func (g *estGen) assistantTurn(n int) estFxMessage {
	var content []any
	if n%20 == 1 {
		sig := make([]byte, 240+g.r.IntN(200))
		for i := range sig {
			sig[i] = byte(g.r.IntN(256))
		}
		content = append(content, estFxThinking{Type: "thinking", Thinking: g.paragraphs(2 + g.r.IntN(4)), Signature: base64.StdEncoding.EncodeToString(sig)})
	}
	content = append(content, estFxText{Type: "text", Text: g.paragraphs(1)})
	for range 1 + g.r.IntN(2) {
		var use estFxToolUse
		switch g.r.IntN(4) {
		case 0:
			use = estFxToolUse{Name: "Read", Input: map[string]any{"file_path": "/home/dev/costplan/" + g.pick(estFxPaths)}}
		case 1:
			use = estFxToolUse{Name: "Bash", Input: map[string]any{"command": "go test ./... -run " + g.ident(true), "description": g.sentence()}}
		case 2:
			use = estFxToolUse{Name: "Grep", Input: map[string]any{"pattern": g.ident(true) + `\(`, "path": "/home/dev/costplan", "output_mode": "content", "-n": true}}
		default:
			code := strings.Split(g.goFile(30), "\n")
			use = estFxToolUse{Name: "Edit", Input: map[string]any{
				"file_path":  "/home/dev/costplan/" + g.pick(estFxPaths),
				"old_string": strings.Join(code[8:14], "\n"),
				"new_string": strings.Join(code[8:18], "\n"),
			}}
		}
		use.Type, use.ID = "tool_use", g.toolID()
		content = append(content, use)
	}
	return estFxMessage{Role: "assistant", Content: content}
}

func (g *estGen) userTurn(prev estFxMessage) estFxMessage {
	var content []any
	for _, c := range prev.Content {
		use, ok := c.(estFxToolUse)
		if !ok {
			continue
		}
		var out string
		switch use.Name {
		case "Read":
			out = g.numbered(g.goFile(30 + g.r.IntN(160)))
		case "Edit":
			out = "The file has been updated. Here's the result of running `cat -n` on a snippet of the edited file:\n" + g.numbered(g.goFile(25))
		default:
			out = g.shellOutput()
		}
		content = append(content, estFxToolResult{Type: "tool_result", ToolUseID: use.ID, Content: out, IsError: g.r.IntN(25) == 0})
	}
	if g.r.IntN(6) == 0 {
		content = append(content, estFxText{Type: "text", Text: g.paragraphs(1)})
	}
	return estFxMessage{Role: "user", Content: content}
}
