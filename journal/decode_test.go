package journal

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// decodeLikeStd checks that decoding line agrees with encoding/json: the same lines
// are rejected, and accepted lines give the same record.
func decodeLikeStd(t *testing.T, line []byte) {
	t.Helper()
	var d decoder
	var got Record
	err := d.decode(line, &got)
	trimmed := strings.TrimLeft(string(line), " \t\r\n")
	if !json.Valid(line) || !strings.HasPrefix(trimmed, "{") {
		if err == nil {
			t.Fatalf("accepted %q, which is not a JSON object", line)
		}
		return
	}
	var std stdRecord
	serr := json.Unmarshal(line, &std)
	var typeErr *json.UnmarshalTypeError
	stdOK := serr == nil || errors.As(serr, &typeErr)
	if stdOK != (err == nil) {
		t.Fatalf("%q: got error %v, encoding/json error %v", line, err, serr)
	}
	if stdOK && !reflect.DeepEqual(got, Record(std)) {
		t.Fatalf("%q:\ngot  %+v\nwant %+v", line, got, Record(std))
	}
}

var decodeCases = []string{
	`{"v":1,"type":"call","ts":"2026-03-14T09:26:53.589793238Z","cost_usd":0.021975}`,
	`{}`,
	` { "v" : 2 , "type" : "call" } ` + "\r",
	`{"TYPE":"call","Cost_USD":1.5,"Usage":{"INPUT_TOKENS":3}}`,
	`{"\u0074ype":"call","model":"caf\u00e9","client":"\ud83d\ude00"}`,
	`{"type":"call","type":"session"}`,
	`{"usage":{"input_tokens":1},"usage":{"output_tokens":2}}`,
	`{"status":"200","stream":1,"model":5,"usage":[1],"v":1.0,"latency_ms":1e3}`,
	`{"status":null,"cost_usd":null,"ts":null,"usage":null,"model":null}`,
	`{"max_tokens_granted":9223372036854775807,"max_tokens_requested":-9223372036854775808}`,
	`{"latency_ms":9223372036854775808,"ttfb_ms":-0}`,
	`{"cost_usd":"0.25","reserved_usd":1e-3,"violation_usd":-0.5}`,
	`{"cost_usd":1.0000000000,"spent_usd":1234567890.5}`,
	`{"cost_usd":0.0000000001}`,
	`{"cost_usd":true}`,
	`{"cost_usd":{}}`,
	`{"ts":"2026-03-14T09:26:53+05:30"}`,
	`{"ts":"yesterday"}`,
	`{"ts":1}`,
	"{\"model\":\"\xff\xfe\"}",
	"{\"model\":\"a\u2028b\"}",
	`{"ſession":"x","kelvin":1,"budget_\u212aey":"k","max_to\u212Aens_granted":5}`,
	`{"unknown":{"deep":[1,{"a":[true,false,null]}]},"type":"call"}`,
	`{"type":"call"`,
	`{"type":"call"}}`,
	`{"type":"call",}`,
	`{"type":'call'}`,
	`{"model":"a` + "\t" + `b"}`,
	`{"model":"\x"}`,
	`{"cost_usd":01}`,
	`{"cost_usd":1.}`,
	`{"cost_usd":-}`,
	`{"stream":tru}`,
	`[1,2,3]`,
	`null`,
	`"string"`,
	``,
	`   `,
}

func TestDecodeLikeEncodingJSON(t *testing.T) {
	for _, c := range decodeCases {
		decodeLikeStd(t, []byte(c))
	}
}

func TestDecodeDepth(t *testing.T) {
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		// The record object is one level; the value nests depth-1 more.
		line := `{"x":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
		decodeLikeStd(t, []byte(line))
	}
}

func TestDecodeTypeMismatchKeepsTheRest(t *testing.T) {
	var rec Record
	line := `{"v":1,"type":"call","status":"200","cost_usd":0.1,"usage":{"input_tokens":"x","output_tokens":4}}`
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Status != 0 || rec.Cost != 100_000_000 || rec.Usage.OutputTokens != 4 || rec.Type != TypeCall {
		t.Errorf("got %+v", rec)
	}
}

func TestDecodeInternsStrings(t *testing.T) {
	d := newDecoder()
	var a, b Record
	line := []byte(`{"type":"call","model":"claude-sonnet-4-5","request_id":"r1"}`)
	if err := d.decode(line, &a); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.decode(line, &b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 { // the request id is not interned
		t.Errorf("got %v allocations per line, want at most 1", allocs)
	}
	if b.Model != a.Model || b.RequestID != "r1" {
		t.Errorf("got %+v", b)
	}
}
