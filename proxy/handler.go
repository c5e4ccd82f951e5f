// Package proxy meters and enforces LLM API calls: one adapter per wire API
// (Anthropic Messages, OpenAI Chat Completions, OpenAI Responses) that reads and
// rewrites requests and taps responses and streams for usage; the Meter, an
// http.RoundTripper that reserves, clamps, settles and journals every call; and the
// Handler, the HTTP proxy with its budget, reset and health endpoints.
package proxy

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/journal"
)

// Handler is CostPlan's HTTP proxy: metered API routes forwarded to the configured
// upstreams through a Meter, the budget endpoints, /health and /mcp. Requests cannot
// choose where they go: the upstream is fixed per provider, whatever the Host
// header, an absolute request URI or X-Forwarded-* headers say.
type Handler struct {
	// Meter enforces the budget; required.
	Meter *Meter
	// Anthropic is the Anthropic API origin (the SDK adds /v1/messages).
	Anthropic *url.URL
	// OpenAI is the OpenAI API base ending in /v1 (the SDK adds /chat/completions).
	OpenAI *url.URL
	// AdminToken authorizes POST /v1/budget/reset; empty disables reset.
	AdminToken string
	// MCP serves /mcp; nil answers 404.
	MCP http.Handler
	// Windows reports the time-window caps for /v1/budget; nil for none.
	Windows func(ctx context.Context) ([]core.Window, error)
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger

	rp *httputil.ReverseProxy
}

// NewHandler returns a Handler forwarding to the given upstreams.
func NewHandler(m *Meter, anthropic, openai *url.URL) *Handler {
	h := &Handler{Meter: m, Anthropic: anthropic, OpenAI: openai}
	h.rp = &httputil.ReverseProxy{
		Rewrite:       h.rewrite,
		Transport:     m,
		FlushInterval: -1,
		ErrorHandler:  h.proxyError,
		ErrorLog:      log.New(logWriter{h}, "", 0),
	}
	return h
}

// logWriter passes the reverse proxy's own messages to the Handler's logger.
type logWriter struct{ h *Handler }

func (w logWriter) Write(p []byte) (int, error) {
	w.h.logger().Warn(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/health":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	case path == "/v1/budget" && r.Method == http.MethodGet:
		h.budget(w, r)
		return
	case path == "/v1/budget/reset":
		h.reset(w, r)
		return
	case path == "/mcp" || strings.HasPrefix(path, "/mcp/"):
		if h.MCP != nil {
			h.MCP.ServeHTTP(w, r)
			return
		}
	}
	rt := classify(r, path)
	if (rt.kind == routeFree || rt.kind == routeMetered) && isUpgrade(r) {
		rt.kind = routeUnknown // no tunnels: an upgraded connection could not be metered
	}
	if rt.kind != routeFree && rt.kind != routeMetered {
		resp, _ := h.Meter.RoundTrip(r.WithContext(withRoute(r.Context(), rt)))
		copyResponse(w, resp)
		return
	}
	h.rp.ServeHTTP(w, r.WithContext(withRoute(r.Context(), rt)))
	// The reverse proxy adds a stream's trailers to the values of the headers of the
	// same names sent at its start; keep the final value, or clients read the first.
	for _, k := range [...]string{HeaderCost, HeaderRemaining} {
		if v := w.Header().Values(k); len(v) > 1 {
			w.Header().Set(k, v[len(v)-1])
		}
	}
}

// rewrite points the outgoing request at the provider's upstream.
func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	rt, _ := routeFrom(pr.In.Context())
	up, path := h.Anthropic, pr.In.URL.Path
	if rt.provider == journal.ProviderOpenAI {
		up, path = h.OpenAI, strings.TrimPrefix(path, "/v1")
	}
	pr.Out.URL.Scheme = up.Scheme
	pr.Out.URL.Host = up.Host
	pr.Out.URL.Path = strings.TrimSuffix(up.Path, "/") + path
	pr.Out.URL.RawPath = ""
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	pr.Out.Host = ""
}

// proxyError answers a failure of the reverse proxy itself in the provider's shape.
func (h *Handler) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	rt, _ := routeFrom(r.Context())
	h.logger().Warn("upstream", "path", r.URL.Path, "err", err)
	resp := h.Meter.reply(r, errorShape(rt.provider), http.StatusBadGateway, "costplan_upstream_unreachable",
		"costplan: the upstream could not be reached: "+err.Error(), "")
	copyResponse(w, resp)
}

// copyResponse writes one of CostPlan's own small responses.
func copyResponse(w http.ResponseWriter, resp *http.Response) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
	resp.Body.Close()
}

// budgetJSON is the body of GET /v1/budget.
type budgetJSON struct {
	Session string `json:"session"`
	core.Snapshot
	Windows []windowJSON `json:"windows,omitempty"`
}

type windowJSON struct {
	Name      core.Limit `json:"name"`
	Cap       core.Money `json:"cap_usd"`
	Spent     core.Money `json:"spent_usd"`
	Remaining core.Money `json:"remaining_usd"`
	ResetsAt  string     `json:"resets_at"`
}

func (h *Handler) budget(w http.ResponseWriter, r *http.Request) {
	snap, err := h.Meter.Ledger.Snapshot(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "costplan: the budget cannot be read: " + err.Error()})
		return
	}
	out := budgetJSON{Session: h.Meter.Session, Snapshot: snap}
	if h.Windows != nil {
		ws, err := h.Windows(r.Context())
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "costplan: the window spend cannot be read: " + err.Error()})
			return
		}
		for _, win := range ws {
			out.Windows = append(out.Windows, windowJSON{Name: win.Name, Cap: win.Cap, Spent: win.Spent + snap.Reserved,
				Remaining: win.Left(snap.Reserved), ResetsAt: win.ResetsAt.Format("2006-01-02T15:04:05Z07:00")})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) reset(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "costplan: use POST /v1/budget/reset"})
		return
	}
	if h.AdminToken == "" {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "costplan: budget reset is disabled; start the proxy with --admin-token TOKEN (or COSTPLAN_ADMIN_TOKEN, or [proxy] admin_token) and send it as Authorization: Bearer TOKEN"})
		return
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.AdminToken)) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="costplan"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "costplan: budget reset needs the admin token as Authorization: Bearer TOKEN"})
		return
	}
	if err := h.Meter.Ledger.Reset(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": fmt.Sprintf("costplan: reset: %v", err)})
		return
	}
	h.budget(w, r)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
