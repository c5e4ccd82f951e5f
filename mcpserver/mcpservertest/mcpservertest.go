// Package mcpservertest drives CostPlan's MCP server from a test through an mcp-go
// client, over any transport: it initializes the client, calls tools and checks the
// tool list. Each step fails the test on a protocol error and is bounded by
// StepTimeout.
package mcpservertest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// StepTimeout bounds the initialization and each tool call.
const StepTimeout = 30 * time.Second

// tools are the server's tools, in the order tools/list gives them.
const tools = "get_budget get_pricing predict_cost recent_spend"

// Start starts c, initializes it and returns the negotiated protocol version. c is
// closed when the test ends; a stdio server lives as long as c.
func Start(t testing.TB, c *client.Client) string {
	t.Helper()
	// The stdio transport ties the server process to Start's context.
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), StepTimeout)
	defer cancel()
	var init mcp.InitializeRequest
	init.Params.ClientInfo = mcp.Implementation{Name: "costplan-test", Version: "0"}
	res, err := c.Initialize(ctx, init)
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	return res.ProtocolVersion
}

// Call calls the tool name with args and returns the text of its result and
// whether it is a tool error.
func Call(t testing.TB, c *client.Client, name string, args map[string]any) (text string, isError bool) {
	t.Helper()
	var req mcp.CallToolRequest
	req.Params.Name, req.Params.Arguments = name, args
	ctx, cancel := context.WithTimeout(context.Background(), StepTimeout)
	defer cancel()
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var b strings.Builder
	for _, content := range res.Content {
		if tc, ok := content.(mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), res.IsError
}

// CallJSON calls a tool that must succeed and decodes its JSON result into v.
func CallJSON(t testing.TB, c *client.Client, name string, args map[string]any, v any) {
	t.Helper()
	text, isErr := Call(t, c, name, args)
	if isErr {
		t.Fatalf("%s: tool error: %s", name, text)
	}
	if err := json.Unmarshal([]byte(text), v); err != nil {
		t.Fatalf("%s: %v in %s", name, err, text)
	}
}

// CheckTools checks the tool list: exactly the four tools, each annotated as read-only,
// idempotent and closed-world, with a title and a description an agent can act on.
func CheckTools(t testing.TB, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StepTimeout)
	defer cancel()
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		a := tool.Annotations
		for hint, got := range map[string]*bool{"readOnlyHint": a.ReadOnlyHint, "destructiveHint": a.DestructiveHint,
			"idempotentHint": a.IdempotentHint, "openWorldHint": a.OpenWorldHint} {
			want := hint == "readOnlyHint" || hint == "idempotentHint"
			if got == nil || *got != want {
				t.Errorf("%s: %s = %v, want %v", tool.Name, hint, got, want)
			}
		}
		if a.Title == "" || len(tool.Description) < 200 {
			t.Errorf("%s: title %q, description of %d bytes", tool.Name, a.Title, len(tool.Description))
		}
	}
	if got := strings.Join(names, " "); got != tools {
		t.Errorf("tools: got %s, want %s", got, tools)
	}
}
