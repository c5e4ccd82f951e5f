package core_test

import (
	"math/rand/v2"
	"testing"

	"github.com/costplan/costplan/core"
)

func TestBounds(t *testing.T) {
	tests := []struct {
		name string
		req  core.ReserveRequest
		want core.GrantBounds
	}{
		{"request", core.ReserveRequest{Input: 5, OutputRate: rate15, Requested: 2000, ModelMax: 8192, MinOutput: 1024},
			core.GrantBounds{Want: 2000, Floor: 1024, Needed: 5 + 1024*15_000}},
		{"request above the model", core.ReserveRequest{Requested: 9000, ModelMax: 8192, MinOutput: 1024},
			core.GrantBounds{Want: 8192, Floor: 1024}},
		{"no request", core.ReserveRequest{ModelMax: 8192, MinOutput: 1024},
			core.GrantBounds{Want: 8192, Floor: 1024}},
		{"neither: the budget decides", core.ReserveRequest{OutputRate: rate15, MinOutput: 1024},
			core.GrantBounds{Want: 0, Floor: 1024, Needed: 1024 * 15_000}},
		{"negative model max", core.ReserveRequest{ModelMax: -3, MinOutput: 10},
			core.GrantBounds{Want: 0, Floor: 10}},
		{"request below MinOutput", core.ReserveRequest{OutputRate: rate15, Requested: 500, MinOutput: 1024},
			core.GrantBounds{Want: 500, Floor: 500, Needed: 7_500_000}},
		{"zero MinOutput", core.ReserveRequest{OutputRate: 3, Requested: 100},
			core.GrantBounds{Want: 100, Floor: 1, Needed: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.req.Bounds(); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDecideGrant checks the exported grant computation against the in-memory
// store, and its defining properties: the grant fits, is at least the floor, and is
// the largest that fits up to what the call wants.
func TestDecideGrant(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rates := []core.Money{0, 1, 3, 999_999, 15 * core.Dollar, 3_000_000_007, 600 * core.Dollar}
	for i := range 5000 {
		req := core.ReserveRequest{
			Input:      core.Money(r.Int64N(int64(core.Dollar))),
			OutputRate: rates[r.IntN(len(rates))],
			Requested:  core.Tokens(r.Int64N(200_000) - 1000),
			ModelMax:   core.Tokens(r.Int64N(130_000)),
			MinOutput:  core.Tokens(r.Int64N(2048)),
		}
		avail := core.Money(r.Int64N(int64(5 * core.Dollar)))
		tokens, amount, needed, ok := core.DecideGrant(req, avail)
		b := req.Bounds()
		if needed != b.Needed {
			t.Fatalf("%d: %+v avail %d: needed %d, want the bound %d", i, req, avail, needed, b.Needed)
		}
		wantOK := avail >= b.Needed && (req.OutputRate > 0 || b.Want > 0)
		if ok != wantOK {
			t.Fatalf("%d: %+v avail %d: ok %v, want %v", i, req, avail, ok, wantOK)
		}
		if !ok {
			if tokens != 0 || amount != 0 {
				t.Fatalf("%d: refusal with tokens %d amount %d, want zeros", i, tokens, amount)
			}
		} else {
			if amount > avail || tokens < b.Floor || b.Want > 0 && tokens > b.Want {
				t.Fatalf("%d: %+v avail %d: got %d tokens for %d, want between %d and %d within the money",
					i, req, avail, tokens, amount, b.Floor, b.Want)
			}
			if amount != req.Input+core.OutputCost(tokens, req.OutputRate) {
				t.Fatalf("%d: amount %d is not input plus the output cost", i, amount)
			}
			if tokens != b.Want && req.Input+core.OutputCost(tokens+1, req.OutputRate) <= avail {
				t.Fatalf("%d: %+v avail %d: %d tokens, but %d fit", i, req, avail, tokens, tokens+1)
			}
		}
		if avail <= 0 {
			continue
		}
		l := newLedger(t, core.Caps{Session: avail})
		g, err := l.Reserve(t.Context(), req)
		if (err == nil) != ok || ok && (g.Tokens != tokens || g.Amount != amount) {
			t.Fatalf("%d: %+v avail %d: ledger %+v, %v; DecideGrant %d, %d, %v", i, req, avail, g, err, tokens, amount, ok)
		}
	}
}

func TestWindowLeft(t *testing.T) {
	w := core.Window{Name: core.LimitDaily, Cap: core.Dollar, Spent: 600_000_000}
	for _, tt := range []struct {
		reserved, want core.Money
	}{{0, 400_000_000}, {300_000_000, 100_000_000}, {400_000_000, 0}, {900_000_000, 0}} {
		if got := w.Left(tt.reserved); got != tt.want {
			t.Errorf("Left(%s): got %s, want %s", tt.reserved, got, tt.want)
		}
	}
}
