package core

// millionTokens converts per-million prices to per-token arithmetic.
const millionTokens = 1_000_000

// OutputCost returns the cost of n output tokens at rate per million, rounded up.
func OutputCost(n Tokens, rate Money) Money {
	v, ok := MulDiv(int64(n), int64(rate), millionTokens)
	if !ok {
		return MaxMoney
	}
	return Money(v)
}

// limitLeft is one cap a grant must fit under.
type limitLeft struct {
	limit    Limit
	cap      Money
	spent    Money
	reserved Money
	left     Money
	window   *Window
}

// GrantBounds are the figures of a reservation that do not depend on the money left.
type GrantBounds struct {
	// Want is the output the call asks for, capped by the model's limit; zero means
	// as much as the money left pays for.
	Want Tokens
	// Floor is the smallest grant worth sending: MinOutput, or Want when smaller,
	// and at least one token.
	Floor Tokens
	// Needed is the least the call can cost: its input bound plus Floor tokens.
	Needed Money
}

// Bounds returns the figures of req's grant that do not depend on the budget.
func (req ReserveRequest) Bounds() GrantBounds {
	want := req.Requested
	if want <= 0 || (req.ModelMax > 0 && want > req.ModelMax) {
		want = req.ModelMax
	}
	if want < 0 {
		want = 0
	}
	floor := req.MinOutput
	if want > 0 {
		floor = min(want, req.MinOutput)
	}
	if floor < 1 {
		floor = 1
	}
	return GrantBounds{Want: want, Floor: floor, Needed: req.Input + OutputCost(floor, req.OutputRate)}
}

// DecideGrant computes the output grant for req when avail money is left under the
// binding limit, as every Store must: the granted tokens, the amount to hold, and the
// least the call can cost (for refusal messages). ok is false when the grant is a
// refusal; tokens and amount are zero then.
func DecideGrant(req ReserveRequest, avail Money) (tokens Tokens, amount, needed Money, ok bool) {
	b := req.Bounds()
	want, floor, needed := b.Want, b.Floor, b.Needed
	afford := avail - req.Input
	if afford < 0 {
		return 0, 0, needed, false
	}
	fit := want
	if req.OutputRate > 0 {
		fit = Tokens(MulDivFloor(int64(afford), millionTokens, int64(req.OutputRate)))
	}
	if want <= 0 {
		want = fit
	}
	tokens = min(want, fit)
	if tokens < floor {
		return 0, 0, needed, false
	}
	return tokens, req.Input + OutputCost(tokens, req.OutputRate), needed, true
}

// bindingLimit returns the limit with the least money left among the session, the
// per-call cap and the windows.
func bindingLimit(caps Caps, spent, reserved Money, windows []Window) limitLeft {
	b := limitLeft{limit: LimitSession, cap: caps.Session, spent: spent, reserved: reserved,
		left: max(caps.Session-spent-reserved, 0)}
	if caps.PerCall > 0 && caps.PerCall < b.left {
		b = limitLeft{limit: LimitPerCall, cap: caps.PerCall, left: caps.PerCall}
	}
	for i := range windows {
		w := &windows[i]
		if left := w.Left(reserved); left < b.left {
			b = limitLeft{limit: w.Name, cap: w.Cap, spent: w.Spent, reserved: reserved, left: left, window: w}
		}
	}
	return b
}
