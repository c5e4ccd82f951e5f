package journal

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/costplan/costplan/core"
)

// stdRecord is Record without its methods, decoded by encoding/json from the tags.
type stdRecord Record

var goldenTS = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)

func sampleCall() Record {
	return Record{
		V: 1, Type: TypeCall, TS: goldenTS, Session: "s-7f3a",
		Provider: ProviderAnthropic, API: APIMessages,
		Model: "claude-sonnet-4-5", PriceModel: "claude-sonnet-4-5",
		Stream: true, Status: 200, Outcome: OutcomeOK,
		Usage: core.Usage{InputTokens: 1200, OutputTokens: 350, CacheReadTokens: 50000,
			CacheWrite5mTokens: 2000, ReasoningTokens: 120},
		Cost: 21_975_000, Reserved: 150_000_001,
		MaxTokensRequested: 32000, MaxTokensGranted: 8192,
		LatencyMS: 2310, TTFBMS: 412, RequestID: "req_011CX",
		Client: "claude-cli/2.0.14 (external, cli)",
	}
}

func TestCallRecordJSON(t *testing.T) {
	refused := Record{
		V: 1, Type: TypeCall, TS: time.Date(2026, 3, 14, 9, 27, 0, 0, time.UTC), Session: "s-7f3a",
		Provider: ProviderOpenAI, API: APIResponses, Model: "gpt-5-turbo-x", PriceModel: "gpt-5",
		Status: 429, Outcome: OutcomeRefused, MaxTokensRequested: 128000,
		Client: `ua "quoted"`, Refusal: "session", BudgetKey: "team-a",
		Error: "session budget exhausted", Fallback: true, Violation: 1,
	}
	tests := []struct {
		name string
		rec  Record
		want string
	}{
		{"ok", sampleCall(), `{"v":1,"type":"call","ts":"2026-03-14T09:26:53.589793238Z","session":"s-7f3a",` +
			`"provider":"anthropic","api":"messages","model":"claude-sonnet-4-5","price_model":"claude-sonnet-4-5",` +
			`"stream":true,"status":200,"outcome":"ok","usage":{"input_tokens":1200,"output_tokens":350,` +
			`"cache_read_tokens":50000,"cache_write_5m_tokens":2000,"cache_write_1h_tokens":0,"reasoning_tokens":120},` +
			`"cost_usd":0.021975,"reserved_usd":0.150000001,"max_tokens_requested":32000,"max_tokens_granted":8192,` +
			`"estimated":false,"latency_ms":2310,"ttfb_ms":412,"request_id":"req_011CX",` +
			`"client":"claude-cli/2.0.14 (external, cli)"}`},
		{"refused", refused, `{"v":1,"type":"call","ts":"2026-03-14T09:27:00Z","session":"s-7f3a",` +
			`"provider":"openai","api":"responses","model":"gpt-5-turbo-x","price_model":"gpt-5",` +
			`"stream":false,"status":429,"outcome":"refused","usage":{"input_tokens":0,"output_tokens":0,` +
			`"cache_read_tokens":0,"cache_write_5m_tokens":0,"cache_write_1h_tokens":0,"reasoning_tokens":0},` +
			`"cost_usd":0,"reserved_usd":0,"max_tokens_requested":128000,"max_tokens_granted":0,` +
			`"estimated":false,"latency_ms":0,"ttfb_ms":0,"request_id":"","client":"ua \"quoted\"",` +
			`"refusal":"session","budget_key":"team-a","error":"session budget exhausted","fallback":true,` +
			`"violation_usd":0.000000001}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestSessionRecordJSON(t *testing.T) {
	ts := time.Date(2026, 3, 14, 10, 0, 0, 5, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		rec  Record
		want string
	}{
		{"start", Record{V: 1, Type: TypeSession, TS: ts, Session: "s-7f3a", Event: EventStart,
			SessionCap: 5 * core.Dollar, PerCallCap: core.Dollar, Command: "claude", Args: 2},
			`{"v":1,"type":"session","ts":"2026-03-14T09:00:00.000000005Z","session":"s-7f3a",` +
				`"event":"start","session_usd":5,"per_call_usd":1,"command":"claude","args":2}`},
		{"end", Record{V: 1, Type: TypeSession, TS: ts, Session: "s-7f3a", Event: EventEnd,
			SessionCap: 5 * core.Dollar, Spent: 4_999_999_999, Calls: 31, Refused: 2},
			`{"v":1,"type":"session","ts":"2026-03-14T09:00:00.000000005Z","session":"s-7f3a",` +
				`"event":"end","session_usd":5,"spent_usd":4.999999999,"calls":31,"refused":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.rec)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	full := sampleCall()
	full.Usage.CacheWrite1hTokens = 7
	full.Usage.WebSearchRequests = 3
	full.Usage.Batch = true
	full.Refusal, full.BudgetKey, full.Error, full.Fallback, full.Violation = "per_call", "k", "e\n\u2028x", true, 9
	session := Record{V: 1, Type: TypeSession, TS: goldenTS, Session: "s", Event: EventLock,
		SessionCap: 1, PerCallCap: 2, Spent: 3, Calls: 4, Refused: 5, Command: "codex", Args: 6}
	odd := Record{V: 7, Type: "future", TS: goldenTS, Model: "m", Cost: 5, Stream: true, Event: "x"}
	for _, rec := range []Record{full, session, odd, {Type: TypeCall, TS: goldenTS}} {
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		var got Record
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if !reflect.DeepEqual(got, rec) {
			t.Errorf("got %+v, want %+v", got, rec)
		}
		var std stdRecord
		if err := json.Unmarshal(b, &std); err != nil {
			t.Fatalf("encoding/json %s: %v", b, err)
		}
		if !reflect.DeepEqual(Record(std), rec) {
			t.Errorf("encoding/json got %+v, want %+v", std, rec)
		}
	}
}

func TestMoneyRoundTrip(t *testing.T) {
	for _, m := range []core.Money{0, 1, 10, 999_999_999, core.Dollar, 1_000_000_001,
		123_456_789_012, core.MaxMoney, -1, -core.Dollar - 5, 21_975_000} {
		rec := Record{Type: TypeCall, TS: goldenTS, Cost: m, Reserved: m, Violation: m}
		b, _ := json.Marshal(rec)
		var got Record
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%d: %v", m, err)
		}
		if got.Cost != m || got.Reserved != m || got.Violation != m {
			t.Errorf("got %d %d %d, want %d", got.Cost, got.Reserved, got.Violation, m)
		}
	}
}

func TestErrorTextIsCut(t *testing.T) {
	rec := Record{Type: TypeCall, TS: goldenTS, Error: strings.Repeat("é", MaxErrorLen)}
	b, _ := json.Marshal(rec)
	var got Record
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Error) != MaxErrorLen || got.Error != strings.Repeat("é", MaxErrorLen/2) {
		t.Errorf("got %d bytes, want %d", len(got.Error), MaxErrorLen)
	}
}

// TestRecordFields pins the record's fields: a record must never carry an API key,
// a request or response body or prompt text, so a new field needs that review.
func TestRecordFields(t *testing.T) {
	want := []string{"V", "Type", "TS", "Session", "Provider", "API", "Model", "PriceModel",
		"Stream", "Status", "Outcome", "Usage", "Cost", "Reserved", "MaxTokensRequested",
		"MaxTokensGranted", "Estimated", "LatencyMS", "TTFBMS", "RequestID", "Client",
		"Refusal", "BudgetKey", "Error", "Fallback", "Violation", "Event", "SessionCap",
		"PerCallCap", "Spent", "Calls", "Refused", "Command", "Args"}
	typ := reflect.TypeFor[Record]()
	var got []string
	for f := range typ.Fields() {
		got = append(got, f.Name)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got fields %v, want %v", got, want)
	}
}

// TestUsageKeys keeps the hand-written usage encoding and decoding in step with
// core.Usage's JSON form.
func TestUsageKeys(t *testing.T) {
	u := core.Usage{}
	v := reflect.ValueOf(&u).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.Int64:
			f.SetInt(int64(i + 1))
		case reflect.Bool:
			f.SetBool(true)
		default:
			t.Fatalf("core.Usage.%s: kind %s not handled by the journal", v.Type().Field(i).Name, f.Kind())
		}
	}
	std, _ := json.Marshal(u)
	if got := appendUsage(nil, u); string(got) != string(std) {
		t.Errorf("appendUsage got %s, want %s", got, std)
	}
	var rec Record
	if err := json.Unmarshal([]byte(`{"usage":`+string(std)+`}`), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Usage != u {
		t.Errorf("decoded %+v, want %+v", rec.Usage, u)
	}
}
