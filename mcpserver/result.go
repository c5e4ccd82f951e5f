package mcpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// readOnly returns the annotations every tool carries: it only reads, repeating a
// call changes nothing, and it talks to nothing outside CostPlan. mcp.NewTool's
// defaults say the opposite, so each hint is set explicitly.
func readOnly(title string) []mcp.ToolOption {
	return []mcp.ToolOption{
		mcp.WithTitleAnnotation(title),
		mcp.WithReadOnlyHintAnnotation(true),
		mcp.WithDestructiveHintAnnotation(false),
		mcp.WithIdempotentHintAnnotation(true),
		mcp.WithOpenWorldHintAnnotation(false),
	}
}

// jsonResult returns v as the JSON text of a tool result.
func jsonResult(v any) *mcp.CallToolResult {
	b, err := json.Marshal(v)
	if err != nil {
		return toolError("encode the result: %v", err)
	}
	return mcp.NewToolResultText(string(b))
}

// toolError returns a tool error (IsError set), which the agent reads as an
// answer, not a protocol failure.
func toolError(format string, args ...any) *mcp.CallToolResult {
	return mcp.NewToolResultError("costplan: " + fmt.Sprintf(format, args...))
}

// bind decodes a tool call's arguments into v, refusing unknown names.
func bind(req mcp.CallToolRequest, v any) error {
	var raw []byte
	switch a := req.GetRawArguments().(type) {
	case json.RawMessage:
		raw = a
	case nil:
	default:
		var err error
		if raw, err = json.Marshal(a); err != nil {
			return err
		}
	}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("%s: want %s, got a JSON %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return fmt.Errorf("unknown argument %s", name)
		}
		return fmt.Errorf("invalid arguments: %w", err)
	}
	return nil
}

// jsonKind names a Go kind in JSON terms.
func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32":
		return "an integer"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "bool":
		return "true or false"
	}
	return k
}
