package journal

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	good, _ := json.Marshal(sampleCall())
	session, _ := json.Marshal(Record{V: 1, Type: TypeSession, TS: goldenTS, Session: "s", Event: EventStart,
		SessionCap: 5_000_000_000, Command: "claude", Args: 1})
	f.Add(good)
	f.Add(session)
	f.Add(append(append(append([]byte{}, good...), '\n'), good[:len(good)/2]...))
	f.Add([]byte(string(good) + "\n{corrupt\n" + string(session) + "\n"))
	f.Add([]byte("\n\n\r\n"))
	for _, c := range decodeCases {
		f.Add([]byte(c))
	}
}

// FuzzScan checks that Scan never panics nor aborts on any input, that its counts add
// up, and that every record it yields writes back to a line that reads the same.
func FuzzScan(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs []Record
		st, err := Scan(bytes.NewReader(data), func(r Record) error {
			recs = append(recs, r)
			return nil
		})
		if err != nil {
			t.Fatalf("scan error: %v", err)
		}
		lines := int64(bytes.Count(data, []byte("\n")))
		if len(data) > 0 && data[len(data)-1] != '\n' {
			lines++
		}
		if st.Lines != lines || st.Records != int64(len(recs)) || st.Records+st.Skipped > st.Lines {
			t.Fatalf("stats %+v for %d lines and %d records", st, lines, len(recs))
		}
		for _, r := range recs {
			checkRewrite(t, r)
		}
	})
}

// checkRewrite checks that r marshals to one line that reads back as r, with the
// time in UTC and the error text cut as Append writes them.
func checkRewrite(t *testing.T, r Record) {
	if y := r.TS.UTC().Year(); y < 0 || y > 9999 {
		return // not representable in RFC 3339
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal %+v: %v", r, err)
	}
	if bytes.ContainsAny(b, "\n\r") {
		t.Fatalf("marshalled record spans lines: %q", b)
	}
	var got Record
	if err := got.UnmarshalJSON(b); err != nil {
		t.Fatalf("read back %s: %v", b, err)
	}
	want := r
	want.TS = r.TS.UTC()
	want.Error = truncateUTF8(r.Error, MaxErrorLen)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, want)
	}
}

// FuzzDecode checks the decoder against encoding/json on any line.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, line []byte) {
		if strings.Count(string(line), "[")+strings.Count(string(line), "{") > 200 {
			return // deep nesting is covered by TestDecodeDepth
		}
		decodeLikeStd(t, line)
	})
}
