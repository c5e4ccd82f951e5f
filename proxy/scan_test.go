package proxy

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestScanBody(t *testing.T) {
	body := []byte(` {"model":"m","messages":[{"role":"user","content":"a \"quoted\" \\ \u00e9 \n"},{"content":[{"type":"text","text":"` +
		strings.Repeat(`long \"text\" `, 20) + `","cache_control":{"type":"ephemeral","ttl":"1h"}}]}],"max_tokens":10,"n":null,"t":true,"f":false,"x":-1.5e3} `)
	sc, err := scanBody(body, map[string]bool{"messages": true})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range sc.members {
		keys = append(keys, m.key)
		if !json.Valid(m.raw) {
			t.Errorf("member %s: raw %q is not valid JSON", m.key, m.raw)
		}
		if string(body[m.at:m.at+len(m.raw)]) != string(m.raw) {
			t.Errorf("member %s: offset %d does not point at its value", m.key, m.at)
		}
	}
	if got := strings.Join(keys, ","); got != "model,messages,max_tokens,n,t,f,x" {
		t.Errorf("keys: got %s", got)
	}
	if msgs := sc.members[1].elems; len(msgs) != 2 || !json.Valid(msgs[0]) || !json.Valid(msgs[1]) {
		t.Errorf("messages: got %q", msgs)
	}
	if !sc.cacheControl || !sc.ttl1h {
		t.Errorf("cache markers: got %v %v, want both", sc.cacheControl, sc.ttl1h)
	}
	if r := sc.members[2].result(); r.Int() != 10 || r.Index != sc.members[2].at {
		t.Errorf("result: got %v at %d", r.Raw, r.Index)
	}
}

func TestScanBodyRejects(t *testing.T) {
	for _, body := range []string{
		``, `[]`, `"x"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1} x`, `{"a":"unterminated}`, `{"a":"bad \q escape"}`,
		`{"a":"\u12"}`, `{"a":tru}`, `{"a":00}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":1e}`, `{"a":1e+}`, `{"a":--1}`, `{"a":1.2.3}`, `{"a":+1}`, `{"a":[1,2}`, `{"a":{"b":1]}`, `{"a":-}`, `{1:2}`, `{"a":1 "b":2}`,
		`{"a":` + strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2) + `}`,
	} {
		if _, err := scanBody([]byte(body), nil); err == nil {
			t.Errorf("%q: accepted, want an error", body)
		}
	}
	for _, body := range []string{`{}`, ` { } `, `{"a":[]}`, `{"a":{}}`, `{"\u0061":"\ud83d\ude00"}`,
		`{"a":0,"b":-0.5,"c":1e10,"d":-12.5E-3,"e":[1,2.0,3e+2]}`} {
		if _, err := scanBody([]byte(body), nil); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
	// An escaped key is decoded, so a duplicate written with an escape is caught.
	sc, err := scanBody([]byte(`{"max\u005ftokens":5}`), nil)
	if err != nil || sc.members[0].key != "max_tokens" {
		t.Errorf("escaped key: got %+v, %v", sc, err)
	}
}
