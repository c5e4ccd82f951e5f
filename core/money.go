// Package core is CostPlan's vocabulary: money, tokens, usage, the budget ledger and
// the sentinel errors that the rest of the program branches on. It imports only the
// standard library and nothing that touches the network or starts processes.
package core

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Money is an amount of US dollars counted in nano-dollars (1e-9 USD). The zero value
// is $0. Arithmetic on Money is plain integer arithmetic; floats appear only when
// printing through Float.
type Money int64

// Common amounts.
const (
	Nanodollar  Money = 1
	Microdollar Money = 1_000
	Cent        Money = 10_000_000
	Dollar      Money = 1_000_000_000

	// MaxMoney is the largest amount Money can hold (about $9.2 billion).
	MaxMoney Money = math.MaxInt64
)

// ErrMoneySyntax, ErrMoneyNegative and ErrMoneyRange are returned by ParseMoney.
var (
	ErrMoneySyntax   = errors.New("not a dollar amount")
	ErrMoneyNegative = errors.New("negative amount")
	ErrMoneyRange    = errors.New("amount out of range")
)

// USD converts a float number of dollars to Money, rounding to the nearest nano-dollar.
// It is meant for literals in code and tests (costplan.USD(0.5)). A negative amount
// stays negative, so that a cap set from it is refused by validation rather than
// read as "none"; NaN, infinities and amounts beyond MaxMoney give 0.
func USD(dollars float64) Money {
	v := math.Round(dollars * 1e9)
	if math.IsNaN(v) || v <= -(1<<63) || v >= 1<<63 {
		return 0
	}
	return Money(v)
}

// ParseMoney parses a non-negative dollar amount such as "1.5", "1.50", "$1.50",
// "0.000000001" or "2e-3". At most nine decimals are accepted (the nano-dollar); more
// precision, a sign, NaN, infinity and amounts above MaxMoney are errors.
func ParseMoney(s string) (Money, error) {
	orig := s
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "$")
	s = strings.ReplaceAll(s, "_", "")
	if s == "" {
		return 0, fmt.Errorf("%q: %w (write dollars like 1.50 or $1.50)", orig, ErrMoneySyntax)
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("%q: %w (budgets and prices are zero or more)", orig, ErrMoneyNegative)
	}
	s = strings.TrimPrefix(s, "+")
	if strings.ContainsAny(s, "eE") {
		return parseMoneyExp(orig, s)
	}
	return parseDecimal(orig, s)
}

// parseDecimal parses s, digits with an optional decimal point; errors name orig.
func parseDecimal(orig, s string) (Money, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("%q: %w (write dollars like 1.50 or $1.50)", orig, ErrMoneySyntax)
	}
	frac = strings.TrimRight(frac, "0")
	if len(frac) > 9 {
		return 0, fmt.Errorf("%q: %w: more than nine decimals (the smallest unit is $0.000000001)", orig, ErrMoneySyntax)
	}
	var w uint64
	if whole != "" {
		var err error
		if w, err = strconv.ParseUint(whole, 10, 64); err != nil {
			return 0, fmt.Errorf("%q: %w", orig, ErrMoneyRange)
		}
	}
	var f uint64
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
	}
	hi, lo := bits.Mul64(w, 1e9)
	lo, carry := bits.Add64(lo, f, 0)
	if hi != 0 || carry != 0 || lo > math.MaxInt64 {
		return 0, fmt.Errorf("%q: %w (at most $%s)", orig, ErrMoneyRange, MaxMoney.Format())
	}
	return Money(lo), nil
}

// parseMoneyExp handles exponent notation by shifting the decimal point.
func parseMoneyExp(orig, s string) (Money, error) {
	mant, exp, _ := strings.Cut(strings.ToLower(s), "e")
	e, err := strconv.Atoi(exp)
	if err != nil || e < -30 || e > 30 {
		return 0, fmt.Errorf("%q: %w", orig, ErrMoneySyntax)
	}
	whole, frac, _ := strings.Cut(mant, ".")
	if whole == "" && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, fmt.Errorf("%q: %w (write dollars like 1.50 or $1.50)", orig, ErrMoneySyntax)
	}
	digits := whole + frac
	point := len(whole) + e
	switch {
	case point <= 0:
		digits = strings.Repeat("0", -point+1) + digits
		point = 1
	case point > len(digits):
		digits += strings.Repeat("0", point-len(digits))
	}
	return parseDecimal(orig, digits[:point]+"."+digits[point:])
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Format returns the exact amount in dollars with nine decimals, without a currency
// sign: "0.012345678". It is the storage form; ParseMoney reads it back exactly.
func (m Money) Format() string {
	sign := ""
	u := uint64(m)
	if m < 0 {
		sign = "-"
		u = uint64(-(m + 1)) + 1
	}
	return fmt.Sprintf("%s%d.%09d", sign, u/1e9, u%1e9)
}

// Decimal returns the exact amount in dollars with trailing zeros trimmed ("1.5",
// "0.012345678", "0"). It is the form used in JSON and HTTP headers.
func (m Money) Decimal() string {
	s := m.Format()
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// String returns the amount for display, rounded half up to the micro-dollar and
// trimmed to at least two decimals: "$5.00", "$0.012346", "$1.50". A non-zero amount
// below half a micro-dollar prints all nine decimals rather than "$0.00".
func (m Money) String() string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = uint64(-(m + 1)) + 1
	}
	sign := ""
	if neg {
		sign = "-"
	}
	if u != 0 && u < 500 {
		return sign + "$" + strings.TrimRight(fmt.Sprintf("0.%09d", u), "0")
	}
	micros := (u + 500) / 1000
	s := fmt.Sprintf("%d.%06d", micros/1e6, micros%1e6)
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 3 {
		s = s[:len(s)-1]
	}
	return sign + "$" + s
}

// Float returns the amount in dollars as a float64, for printing and ratios only.
func (m Money) Float() float64 { return float64(m) / 1e9 }

// MarshalJSON writes the amount as a JSON number of dollars with up to nine decimals.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.Decimal()), nil }

// UnmarshalJSON reads a JSON number or string of dollars exactly.
func (m *Money) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" {
		return nil
	}
	v, err := parseSigned(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// parseSigned is ParseMoney that also accepts a leading minus, for stored amounts
// such as differences.
func parseSigned(s string) (Money, error) {
	if strings.HasPrefix(s, "-") {
		v, err := ParseMoney(s[1:])
		return -v, err
	}
	return ParseMoney(s)
}

// MarshalText writes the exact decimal amount (used by TOML encoders and flags).
func (m Money) MarshalText() ([]byte, error) { return []byte(m.Decimal()), nil }

// UnmarshalText parses a dollar amount with ParseMoney (used by flags and env values).
func (m *Money) UnmarshalText(b []byte) error {
	v, err := ParseMoney(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// UnmarshalTOML accepts a TOML integer, float or string of dollars. Floats are read
// through their shortest decimal form, so 0.1 is exactly $0.10.
func (m *Money) UnmarshalTOML(v any) error {
	var s string
	switch x := v.(type) {
	case int64:
		s = strconv.FormatInt(x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%v: %w", x, ErrMoneySyntax)
		}
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		s = x
	default:
		return fmt.Errorf("%v (%T): %w (write dollars like 1.50 or \"$1.50\")", v, v, ErrMoneySyntax)
	}
	val, err := ParseMoney(s)
	if err != nil {
		return err
	}
	*m = val
	return nil
}

// MulDiv returns ceil(a*b/c) for non-negative a, b and positive c without intermediate
// overflow, and ok=false when the result does not fit in an int64.
func MulDiv(a, b, c int64) (v int64, ok bool) {
	if a < 0 || b < 0 || c <= 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, uint64(c))
	if r != 0 {
		if q == math.MaxUint64 {
			return 0, false
		}
		q++
	}
	if q > math.MaxInt64 {
		return 0, false
	}
	return int64(q), true
}

// MulDivFloor returns floor(a*b/c) for non-negative a, b and positive c without
// intermediate overflow, saturating at math.MaxInt64.
func MulDivFloor(a, b, c int64) int64 {
	if a <= 0 || b <= 0 || c <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}
