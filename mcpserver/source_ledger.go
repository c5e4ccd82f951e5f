package mcpserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/costplan/costplan/core"
)

// LedgerSource reads a live ledger in this process: the one behind /mcp on the
// proxy and on the proxy of costplan exec. It only takes snapshots.
type LedgerSource struct {
	// Ledger is the session's budget; required.
	Ledger *core.Ledger
	// Session is the session id reported with the budget.
	Session string
	// Windows reports the time-window caps; nil means none.
	Windows func(ctx context.Context) ([]core.Window, error)
}

var _ Source = (*LedgerSource)(nil)

// Status returns the ledger's snapshot with the windows.
func (l *LedgerSource) Status(ctx context.Context) (Status, error) {
	if l.Ledger == nil {
		return Status{}, errors.New("no ledger")
	}
	snap, err := l.Ledger.Snapshot(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("read the budget: %w", err)
	}
	st := Status{Source: SourceSession, Session: l.Session, Snapshot: snap,
		Note: "the live budget of this costplan session"}
	if l.Windows != nil {
		ws, err := l.Windows(ctx)
		if err != nil {
			return Status{}, fmt.Errorf("read the time-window spend: %w", err)
		}
		st.Windows = windowsOf(ws, snap.Reserved)
	}
	st.finish()
	return st, nil
}
