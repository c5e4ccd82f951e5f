package proxy

import (
	"context"

	"github.com/costplan/costplan/core"
)

// CallReport describes one metered call, for programs that send calls through a
// Meter and want the figures without parsing headers (the Go SDK). The Meter fills
// it in when a request's context carries it (see WithCallReport): the first fields
// before the call leaves, the rest when it settles. Read it only after the response
// body is closed or fully read.
type CallReport struct {
	// Model is the name the request asked for; PriceModel the table entry that
	// priced it; Note explains a family fallback.
	Model, PriceModel, Note string
	// InputEstimate is the input size the reservation was computed for.
	InputEstimate core.Tokens
	// Reserved is the money held before the call left; Granted the output limit.
	Reserved core.Money
	Granted  core.Tokens
	// Usage and Cost are what the call consumed and cost; Estimated is true when
	// part of the usage was estimated (a broken stream).
	Usage     core.Usage
	Cost      core.Money
	Estimated bool
	// Violation is the cost above the reservation, when there was one.
	Violation core.Money
	// Remaining is the session's remaining budget after the call.
	Remaining core.Money
	// Settled is true once the call settled.
	Settled bool
	// Refusal is set when the budget refused the call before it left.
	Refusal *core.BudgetError
}

type reportKey struct{}

// WithCallReport returns a context that makes the Meter fill in r for the request
// sent with it.
func WithCallReport(ctx context.Context, r *CallReport) context.Context {
	return context.WithValue(ctx, reportKey{}, r)
}

// CallReportFrom returns the CallReport carried by ctx, or nil.
func CallReportFrom(ctx context.Context) *CallReport { return reportFrom(ctx) }

func reportFrom(ctx context.Context) *CallReport {
	r, _ := ctx.Value(reportKey{}).(*CallReport)
	return r
}
