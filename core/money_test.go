package core_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/costplan/costplan/core"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in   string
		want core.Money
	}{
		{"1.5", 1_500_000_000},
		{"1.50", 1_500_000_000},
		{"$1.50", 1_500_000_000},
		{" 2 ", 2_000_000_000},
		{"\t$7\n", 7_000_000_000},
		{"0.000000001", 1},
		{"1e-3", 1_000_000},
		{"2.5E2", 250_000_000_000},
		{"1E+2", 100_000_000_000},
		{"0.5e-8", 5},
		{"123456789e-9", 123_456_789},
		{"1e-9", 1},
		{"1.e1", 10_000_000_000},
		{"1_000", 1_000_000_000_000},
		{"0", 0},
		{"0.0", 0},
		{"$0", 0},
		{".5", 500_000_000},
		{"5.", 5_000_000_000},
		{"+3", 3_000_000_000},
		{"1.000000000000", 1_000_000_000},
		{"0.012345678", 12_345_678},
		{"$0.012345678", 12_345_678},
		{"007.10", 7_100_000_000},
		{"9223372036.854775807", core.MaxMoney},
		{"9.223372036854775807e9", core.MaxMoney},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := core.ParseMoney(tt.in)
			if err != nil {
				t.Fatalf("ParseMoney(%q): unexpected error %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseMoney(%q): got %d nano, want %d nano", tt.in, int64(got), int64(tt.want))
			}
		})
	}
}

func TestParseMoneyRefusals(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{"", core.ErrMoneySyntax},
		{"   ", core.ErrMoneySyntax},
		{"$", core.ErrMoneySyntax},
		{"-1", core.ErrMoneyNegative},
		{"$-1", core.ErrMoneyNegative},
		{"-0.5", core.ErrMoneyNegative},
		{"-1e3", core.ErrMoneyNegative},
		{"abc", core.ErrMoneySyntax},
		{"1.2.3", core.ErrMoneySyntax},
		{"NaN", core.ErrMoneySyntax},
		{"Inf", core.ErrMoneySyntax},
		{"+Inf", core.ErrMoneySyntax},
		{"Infinity", core.ErrMoneySyntax},
		{"1,000", core.ErrMoneySyntax},
		{"1 000", core.ErrMoneySyntax},
		{"USD 1", core.ErrMoneySyntax},
		{"1$", core.ErrMoneySyntax},
		{"0x10", core.ErrMoneySyntax},
		{".", core.ErrMoneySyntax},
		{"e5", core.ErrMoneySyntax},
		{"1e", core.ErrMoneySyntax},
		{"1e1.5", core.ErrMoneySyntax},
		{"1e5e5", core.ErrMoneySyntax},
		{"0.0000000001", core.ErrMoneySyntax},
		{"1.0000000001", core.ErrMoneySyntax},
		{"1e-10", core.ErrMoneySyntax},
		{"9223372036.854775808", core.ErrMoneyRange},
		{"9223372037", core.ErrMoneyRange},
		{"99999999999999999999", core.ErrMoneyRange},
		{"1e10", core.ErrMoneyRange},
		{"9.3e9", core.ErrMoneyRange},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := core.ParseMoney(tt.in)
			if err == nil {
				t.Fatalf("ParseMoney(%q): got %v, want an error", tt.in, got)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("ParseMoney(%q) error: got %v, want one wrapping %v", tt.in, err, tt.want)
			}
			if quoted := strconv.Quote(tt.in); !strings.Contains(err.Error(), quoted) {
				t.Errorf("ParseMoney(%q) error: got %q, want it to name %s", tt.in, err, quoted)
			}
		})
	}
}

func TestMoneyFormatting(t *testing.T) {
	tests := []struct {
		m                    core.Money
		format, decimal, str string
	}{
		{0, "0.000000000", "0", "$0.00"},
		{1, "0.000000001", "0.000000001", "$0.000000001"},
		{10, "0.000000010", "0.00000001", "$0.00000001"},
		{499, "0.000000499", "0.000000499", "$0.000000499"},
		{500, "0.000000500", "0.0000005", "$0.000001"},
		{core.Microdollar, "0.000001000", "0.000001", "$0.000001"},
		{12_345_678, "0.012345678", "0.012345678", "$0.012346"},
		{12_345_499, "0.012345499", "0.012345499", "$0.012345"},
		{core.Cent, "0.010000000", "0.01", "$0.01"},
		{999_999_500, "0.999999500", "0.9999995", "$1.00"},
		{core.Dollar, "1.000000000", "1", "$1.00"},
		{1_500_000_000, "1.500000000", "1.5", "$1.50"},
		{5 * core.Dollar, "5.000000000", "5", "$5.00"},
		{10 * core.Dollar, "10.000000000", "10", "$10.00"},
		{100 * core.Dollar, "100.000000000", "100", "$100.00"},
		{1_234_567_890_123, "1234.567890123", "1234.567890123", "$1234.56789"},
		{core.MaxMoney, "9223372036.854775807", "9223372036.854775807", "$9223372036.854776"},
		{-1, "-0.000000001", "-0.000000001", "-$0.000000001"},
		{-1_500_000_000, "-1.500000000", "-1.5", "-$1.50"},
		{math.MinInt64, "-9223372036.854775808", "-9223372036.854775808", "-$9223372036.854776"},
	}
	for _, tt := range tests {
		t.Run(strconv.FormatInt(int64(tt.m), 10), func(t *testing.T) {
			if got := tt.m.Format(); got != tt.format {
				t.Errorf("Format: got %q, want %q", got, tt.format)
			}
			if got := tt.m.Decimal(); got != tt.decimal {
				t.Errorf("Decimal: got %q, want %q", got, tt.decimal)
			}
			if got := tt.m.String(); got != tt.str {
				t.Errorf("String: got %q, want %q", got, tt.str)
			}
			if got := fmt.Sprint(tt.m); got != tt.str {
				t.Errorf("fmt.Sprint: got %q, want %q", got, tt.str)
			}
		})
	}
}

func TestMoneyFloat(t *testing.T) {
	tests := []struct {
		m    core.Money
		want float64
	}{
		{0, 0},
		{1_500_000_000, 1.5},
		{core.Cent, 0.01},
		{-core.Dollar, -1},
	}
	for _, tt := range tests {
		t.Run(tt.m.Format(), func(t *testing.T) {
			if got := tt.m.Float(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// roundTripValues returns fixed edge values and a reproducible spread of random ones
// across every magnitude up to MaxMoney.
func roundTripValues() []core.Money {
	vs := []core.Money{
		0, 1, 9, 10, 499, 500, 999, 1000, 12_345_678, core.Cent, core.Dollar - 1,
		core.Dollar, core.Dollar + 1, 1_500_000_000, 100_000_000, 123_456_789_123_456_789,
		core.MaxMoney - 1, core.MaxMoney,
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		vs = append(vs, core.Money(r.Int64N(maxI>>r.IntN(63))))
	}
	return vs
}

func TestMoneyRoundTrip(t *testing.T) {
	for _, m := range roundTripValues() {
		t.Run(m.Format(), func(t *testing.T) {
			for _, s := range []string{m.Format(), m.Decimal(), "$" + m.Decimal(), " $" + m.Format() + " "} {
				got, err := core.ParseMoney(s)
				if err != nil {
					t.Fatalf("ParseMoney(%q): unexpected error %v", s, err)
				}
				if got != m {
					t.Errorf("ParseMoney(%q): got %d nano, want %d nano", s, int64(got), int64(m))
				}
			}
			text, err := m.MarshalText()
			if err != nil {
				t.Fatalf("MarshalText: %v", err)
			}
			var fromText core.Money
			if err := fromText.UnmarshalText(text); err != nil {
				t.Fatalf("UnmarshalText(%q): %v", text, err)
			}
			if fromText != m {
				t.Errorf("text round trip %q: got %d nano, want %d nano", text, int64(fromText), int64(m))
			}
		})
	}
}

func TestMoneyJSONRoundTrip(t *testing.T) {
	type doc struct {
		Cost core.Money `json:"cost"`
	}
	for _, m := range roundTripValues() {
		t.Run(m.Format(), func(t *testing.T) {
			b, err := json.Marshal(doc{Cost: m})
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if want := `{"cost":` + m.Decimal() + `}`; string(b) != want {
				t.Errorf("Marshal: got %s, want %s", b, want)
			}
			forms := []string{
				string(b),
				`{"cost":"` + m.Decimal() + `"}`,
				`{"cost":"$` + m.Decimal() + `"}`,
				`{"cost":"` + m.Format() + `"}`,
			}
			for _, in := range forms {
				var got doc
				if err := json.Unmarshal([]byte(in), &got); err != nil {
					t.Fatalf("Unmarshal(%s): unexpected error %v", in, err)
				}
				if got.Cost != m {
					t.Errorf("Unmarshal(%s): got %d nano, want %d nano", in, int64(got.Cost), int64(m))
				}
			}
		})
	}
}

func TestMoneyUnmarshalJSON(t *testing.T) {
	tests := []struct {
		in      string
		want    core.Money
		wantErr error
	}{
		{`1.5`, 1_500_000_000, nil},
		{`0`, 0, nil},
		{`1e-3`, 1_000_000, nil},
		{`0.000000001`, 1, nil},
		{`"$5.00"`, 5 * core.Dollar, nil},
		{`-1.5`, -1_500_000_000, nil},
		{`"-0.25"`, -250_000_000, nil},
		{`-9223372036.854775807`, -core.MaxMoney, nil},
		{`null`, 42, nil}, // null leaves the value alone
		{`"abc"`, 42, core.ErrMoneySyntax},
		{`""`, 42, core.ErrMoneySyntax},
		{`0.0000000001`, 42, core.ErrMoneySyntax},
		{`9223372037`, 42, core.ErrMoneyRange},
		{`true`, 42, core.ErrMoneySyntax},
		{`--1`, 42, core.ErrMoneyNegative},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := core.Money(42)
			err := got.UnmarshalJSON([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error: got %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %d nano, want %d nano", int64(got), int64(tt.want))
			}
		})
	}
}

func TestMoneyUnmarshalTOML(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		want    core.Money
		wantErr error
	}{
		{"int64", int64(5), 5 * core.Dollar, nil},
		{"int64 zero", int64(0), 0, nil},
		{"int64 max dollars", int64(9_223_372_036), 9_223_372_036 * core.Dollar, nil},
		{"float64 0.1", 0.1, 100_000_000, nil},
		{"float64 0.3", 0.3, 300_000_000, nil},
		{"float64 1.5", 1.5, 1_500_000_000, nil},
		{"float64 0.7", 0.7, 700_000_000, nil},
		{"float64 nano", 1e-9, 1, nil},
		{"float64 exponent", 2.5e2, 250 * core.Dollar, nil},
		{"float64 0.012345678", 0.012345678, 12_345_678, nil},
		{"string", "$1.50", 1_500_000_000, nil},
		{"string exponent", "1e-3", 1_000_000, nil},
		{"int64 negative", int64(-1), 42, core.ErrMoneyNegative},
		{"int64 too large", int64(9_223_372_037), 42, core.ErrMoneyRange},
		{"float64 negative", -0.5, 42, core.ErrMoneyNegative},
		{"float64 NaN", math.NaN(), 42, core.ErrMoneySyntax},
		{"float64 +Inf", math.Inf(1), 42, core.ErrMoneySyntax},
		{"float64 -Inf", math.Inf(-1), 42, core.ErrMoneySyntax},
		{"float64 too large", 1e300, 42, core.ErrMoneyRange},
		{"float64 too precise", 1e-10, 42, core.ErrMoneySyntax},
		{"string bad", "abc", 42, core.ErrMoneySyntax},
		{"bool", true, 42, core.ErrMoneySyntax},
		{"nil", nil, 42, core.ErrMoneySyntax},
		{"int", 5, 42, core.ErrMoneySyntax},
		{"array", []any{int64(1)}, 42, core.ErrMoneySyntax},
		{"table", map[string]any{"usd": int64(1)}, 42, core.ErrMoneySyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := core.Money(42)
			err := got.UnmarshalTOML(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error: got %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %d nano, want %d nano", int64(got), int64(tt.want))
			}
		})
	}
}

func TestUSD(t *testing.T) {
	tests := []struct {
		in   float64
		want core.Money
	}{
		{0, 0},
		{0.5, 500_000_000},
		{0.1, 100_000_000},
		{1.23456789, 1_234_567_890},
		{1e-9, 1},
		{4e-10, 0},
		{6e-10, 1},
		{5, 5 * core.Dollar},
		{9e9, 9_000_000_000 * core.Dollar},
		{-1, -core.Dollar},
		{-0.5, -500_000_000},
		{-1e-12, 0},
		{math.NaN(), 0},
		{math.Inf(1), 0},
		{math.Inf(-1), 0},
		{1e10, 0},
		{float64(core.MaxMoney) / 1e9, 0}, // rounds to 2^63 nano, one past MaxMoney
	}
	for _, tt := range tests {
		t.Run(strconv.FormatFloat(tt.in, 'g', -1, 64), func(t *testing.T) {
			if got := core.USD(tt.in); got != tt.want {
				t.Errorf("got %d nano, want %d nano", int64(got), int64(tt.want))
			}
		})
	}
}

const maxI = math.MaxInt64

func TestMulDiv(t *testing.T) {
	tests := []struct {
		name    string
		a, b, c int64
		want    int64
		wantOK  bool
	}{
		{"zero", 0, 5, 3, 0, true},
		{"one", 1, 1, 1, 1, true},
		{"exact", 9, 1, 3, 3, true},
		{"rounds up", 10, 10, 3, 34, true},
		{"tiny rounds up to one", 1, 1, 1_000_000, 1, true},
		{"token price", 1000, 15_000_000_000, 1_000_000, 15_000_000, true},
		{"product overflows, exact", 3_000_000_000_000, 15_000_000_000, 1_000_000, 45_000_000_000_000_000, true},
		{"product overflows, rounds up", 1<<40 + 1, 1 << 40, 1 << 41, 1<<39 + 1, true},
		{"product overflows, power of two", 1 << 40, 1 << 40, 1 << 30, 1 << 50, true},
		{"max squared over max", maxI, maxI, maxI, maxI, true},
		{"max times two over two", maxI, 2, 2, maxI, true},
		{"result just fits", maxI, maxI - 1, maxI, maxI - 1, true},
		{"result too large", maxI, 3, 2, 0, false},
		{"result is 2^63", 1 << 62, 1 << 62, 1 << 61, 0, false},
		{"quotient too wide", maxI, maxI, 1, 0, false},
		{"rounding up past 2^64", 31, 1_190_112_520_884_487_201, 2, 0, false},
		{"negative a", -1, 5, 3, 0, false},
		{"negative b", 5, -1, 3, 0, false},
		{"zero c", 5, 5, 0, 0, false},
		{"negative c", 5, 5, -1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := core.MulDiv(tt.a, tt.b, tt.c)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("MulDiv(%d, %d, %d): got %v, %v, want %v, %v", tt.a, tt.b, tt.c, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestMulDivFloor(t *testing.T) {
	tests := []struct {
		name    string
		a, b, c int64
		want    int64
	}{
		{"zero a", 0, 5, 3, 0},
		{"zero b", 5, 0, 3, 0},
		{"rounds down", 10, 10, 3, 33},
		{"below one", 1, 1, 2, 0},
		{"exact", 9, 1, 3, 3},
		{"tokens that fit", 900_000_000, 1_000_000, 15_000_000_000, 60_000},
		{"product overflows, rounds down", 1<<40 + 1, 1 << 40, 1 << 41, 1 << 39},
		{"max squared over max", maxI, maxI, maxI, maxI},
		{"result too large saturates", maxI, 3, 2, maxI},
		{"quotient too wide saturates", maxI, maxI, 1, maxI},
		{"2^64-1 saturates", 31, 1_190_112_520_884_487_201, 2, maxI},
		{"negative a", -1, 5, 3, 0},
		{"negative b", 5, -1, 3, 0},
		{"zero c", 5, 5, 0, 0},
		{"negative c", 5, 5, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := core.MulDivFloor(tt.a, tt.b, tt.c); got != tt.want {
				t.Errorf("MulDivFloor(%d, %d, %d): got %v, want %v", tt.a, tt.b, tt.c, got, tt.want)
			}
		})
	}
}

// TestMulDivAgainstBig compares both functions with arbitrary-precision arithmetic
// on operands of every width, most of whose products overflow 64 bits.
func TestMulDivAgainstBig(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	operand := func() int64 { return r.Int64N(maxI >> r.IntN(63)) }
	maxBig := big.NewInt(maxI)
	for range 20_000 {
		a, b, c := operand(), operand(), operand()+1
		prod := new(big.Int).Mul(big.NewInt(a), big.NewInt(b))
		q, m := new(big.Int).DivMod(prod, big.NewInt(c), new(big.Int))

		wantFloor := q
		if wantFloor.Cmp(maxBig) > 0 {
			wantFloor = maxBig
		}
		if got := core.MulDivFloor(a, b, c); got != wantFloor.Int64() {
			t.Fatalf("MulDivFloor(%d, %d, %d): got %v, want %v", a, b, c, got, wantFloor)
		}

		ceil := new(big.Int).Set(q)
		if m.Sign() != 0 {
			ceil.Add(ceil, big.NewInt(1))
		}
		wantOK := ceil.Cmp(maxBig) <= 0
		got, ok := core.MulDiv(a, b, c)
		if ok != wantOK || ok && got != ceil.Int64() {
			t.Fatalf("MulDiv(%d, %d, %d): got %v, %v, want %v, %v", a, b, c, got, ok, ceil, wantOK)
		}
	}
}

func TestOutputCost(t *testing.T) {
	tests := []struct {
		name string
		n    core.Tokens
		rate core.Money
		want core.Money
	}{
		{"none", 0, 15 * core.Dollar, 0},
		{"thousand at $15/M", 1000, 15 * core.Dollar, 15_000_000},
		{"one at $3/M", 1, 3 * core.Dollar, 3000},
		{"rounds up", 1, 1, 1},
		{"rounds up odd rate", 7, 3_000_000_007, 21_001},
		{"free", 128_000, 0, 0},
		{"overflow saturates", math.MaxInt64, core.Dollar, core.MaxMoney},
		{"negative tokens saturate", -1, core.Dollar, core.MaxMoney},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := core.OutputCost(tt.n, tt.rate); got != tt.want {
				t.Errorf("got %d nano, want %d nano", int64(got), int64(tt.want))
			}
		})
	}
}

func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{
		"1.5", "1.50", "$1.50", " 2 ", "0.000000001", "1e-3", "2.5E2", "1_000", "0", ".5",
		"5.", "+3", "9223372036.854775807", "9223372036.854775808", "", "-1", "$-1", "abc",
		"1.2.3", "NaN", "Inf", "0.0000000001", "1e-10", "1e10", "1e99", "0e-99", "1e+2",
		"123456789e-9", "$", ".", "e", "1e", "\x00", "9.223372036854775807e9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := core.ParseMoney(s)
		if err != nil {
			if !errors.Is(err, core.ErrMoneySyntax) && !errors.Is(err, core.ErrMoneyNegative) && !errors.Is(err, core.ErrMoneyRange) {
				t.Fatalf("ParseMoney(%q) error: got %v, want one wrapping a money sentinel", s, err)
			}
			if quoted := strconv.Quote(s); !strings.Contains(err.Error(), quoted) {
				t.Fatalf("ParseMoney(%q) error: got %q, want it to name %s", s, err, quoted)
			}
			return
		}
		if m < 0 {
			t.Fatalf("ParseMoney(%q): got %d nano, want a non-negative amount", s, int64(m))
		}
		for _, form := range []string{m.Format(), m.Decimal(), "$" + m.Decimal()} {
			got, err := core.ParseMoney(form)
			if err != nil || got != m {
				t.Fatalf("ParseMoney(%q) = %d; re-parse of %q: got %d, %v, want %d, nil", s, int64(m), form, int64(got), err, int64(m))
			}
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal(%d): %v", int64(m), err)
		}
		var back core.Money
		if err := json.Unmarshal(b, &back); err != nil || back != m {
			t.Fatalf("JSON round trip of %d via %s: got %d, %v, want %d, nil", int64(m), b, int64(back), err, int64(m))
		}
		if str := m.String(); !strings.HasPrefix(str, "$") {
			t.Fatalf("String(%d): got %q, want a $ prefix", int64(m), str)
		}
	})
}
