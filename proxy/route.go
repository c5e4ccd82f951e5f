package proxy

import (
	"context"
	"net/http"
	"strings"

	"github.com/costplan/costplan/journal"
)

// routeKind says what CostPlan does with a request.
type routeKind uint8

const (
	// routeUnknown is refused with 404: nothing billable passes unmetered.
	routeUnknown routeKind = iota
	// routeMetered is a billable call, metered and enforced.
	routeMetered
	// routeFree passes through unmetered (token counting, model lists, probes).
	routeFree
	// routeWebSocket is a WebSocket upgrade of the Responses API, refused with 426 so
	// that clients fall back to metered HTTP at once.
	routeWebSocket
)

// route is the classification of one request.
type route struct {
	kind     routeKind
	provider string
	adapter  adapter
}

type routeKey struct{}

// withRoute stores a route in ctx for the Meter.
func withRoute(ctx context.Context, rt route) context.Context {
	return context.WithValue(ctx, routeKey{}, rt)
}

func routeFrom(ctx context.Context) (route, bool) {
	rt, ok := ctx.Value(routeKey{}).(route)
	return rt, ok
}

// openaiOnlyPaths are OpenAI API families that are not metered yet.
var openaiOnlyPaths = []string{"/embeddings", "/images", "/audio", "/files", "/batches", "/realtime", "/moderations",
	"/fine_tuning", "/uploads", "/vector_stores", "/assistants", "/threads", "/completions", "/containers",
	"/conversations", "/evals", "/videos", "/chatkit"}

// classify decides what to do with a request by method and path. path is the API
// path starting with /v1 (the proxy's own path, or the tail of an SDK's URL).
func classify(r *http.Request, path string) route {
	path = strings.TrimSuffix(path, "/")
	anthropic := route{provider: journal.ProviderAnthropic}
	openai := route{provider: journal.ProviderOpenAI}
	switch {
	case path == "/v1/messages" && r.Method == http.MethodPost:
		anthropic.kind, anthropic.adapter = routeMetered, anthropicMessages{}
		return anthropic
	case path == "/v1/messages/count_tokens" && r.Method == http.MethodPost,
		path == "/api/hello" && (r.Method == http.MethodHead || r.Method == http.MethodGet):
		anthropic.kind = routeFree
		return anthropic
	case path == "/v1/chat/completions" && r.Method == http.MethodPost:
		openai.kind, openai.adapter = routeMetered, openaiChat{}
		return openai
	case path == "/v1/responses" && r.Method == http.MethodPost:
		openai.kind, openai.adapter = routeMetered, openaiResponses{}
		return openai
	case path == "/v1/responses" && r.Method == http.MethodGet && isUpgrade(r):
		openai.kind = routeWebSocket
		return openai
	case strings.HasPrefix(path, "/v1/responses/") && r.Method == http.MethodGet && strings.Count(path, "/") == 3:
		openai.kind = routeFree // retrieving a stored response costs nothing
		return openai
	case (path == "/v1/models" || strings.HasPrefix(path, "/v1/models/")) && r.Method == http.MethodGet:
		rt := openai
		if isAnthropicClient(r) {
			rt = anthropic
		}
		rt.kind = routeFree
		return rt
	}
	rt := anthropic
	if isOpenAIPath(path) || !isAnthropicClient(r) && r.Header.Get("Authorization") != "" {
		rt = openai
	}
	return rt
}

func isOpenAIPath(path string) bool {
	rest, ok := strings.CutPrefix(path, "/v1")
	if !ok {
		return false
	}
	for _, p := range openaiOnlyPaths {
		if rest == p || strings.HasPrefix(rest, p+"/") {
			return true
		}
	}
	return strings.HasPrefix(rest, "/chat/") || strings.HasPrefix(rest, "/responses")
}

// isAnthropicClient recognizes Anthropic SDKs by their headers.
func isAnthropicClient(r *http.Request) bool {
	return r.Header.Get("Anthropic-Version") != "" || r.Header.Get("X-Api-Key") != ""
}

// isUpgrade reports a request asking to switch protocols.
func isUpgrade(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return true
	}
	for _, v := range r.Header.Values("Connection") {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

// apiPath returns the /v1/... tail of an SDK request URL, for the transport.
func apiPath(p string) string {
	for _, tail := range []string{"/v1/messages/count_tokens", "/v1/messages", "/v1/chat/completions", "/v1/responses", "/v1/models"} {
		if i := strings.LastIndex(p, tail); i >= 0 {
			return p[i:]
		}
	}
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		return "/v1/chat/completions"
	case strings.HasSuffix(p, "/responses"):
		return "/v1/responses"
	case strings.HasSuffix(p, "/models"):
		return "/v1/models"
	}
	if i := strings.Index(p, "/v1/"); i >= 0 {
		return p[i:]
	}
	return p
}
