package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/costplan/costplan/core"
)

// maxBudgetBody bounds the GET /v1/budget answer ProxySource reads.
const maxBudgetBody = 1 << 20

// ProxySource reads the live budget of a session from its proxy with GET
// /v1/budget: the source of `costplan mcp` started inside `costplan exec`, where
// COSTPLAN_URL and COSTPLAN_SESSION name the proxy and the session.
type ProxySource struct {
	// URL is the proxy's origin, like http://127.0.0.1:41234; required.
	URL string
	// Session is the expected session id; when set, a proxy serving another
	// session is an error.
	Session string
	// Client sends the request; nil means a client with a 10-second timeout.
	Client *http.Client
}

var _ Source = (*ProxySource)(nil)

// budgetBody is the body of GET /v1/budget.
type budgetBody struct {
	Session string `json:"session"`
	core.Snapshot
	Windows []Window `json:"windows"`
	Error   string   `json:"error"`
}

// Status asks the proxy for the budget.
func (p *ProxySource) Status(ctx context.Context) (Status, error) {
	if p.URL == "" {
		return Status{}, errors.New("no proxy URL")
	}
	url := strings.TrimSuffix(p.URL, "/") + "/v1/budget"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Status{}, fmt.Errorf("budget request %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json")
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("ask the session's proxy for the budget: %w", err)
	}
	defer resp.Body.Close()
	var b budgetBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBudgetBody)).Decode(&b); err != nil {
		return Status{}, fmt.Errorf("GET %s: status %d: %w", url, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, b.Error)
	}
	if p.Session != "" && b.Session != p.Session {
		return Status{}, fmt.Errorf("the proxy at %s serves session %q, not %q", p.URL, b.Session, p.Session)
	}
	st := Status{Source: SourceSession, Session: b.Session, Snapshot: b.Snapshot, Windows: b.Windows,
		Note: "the live budget of this costplan session, read from its proxy"}
	st.finish()
	return st, nil
}
