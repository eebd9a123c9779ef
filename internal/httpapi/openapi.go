package httpapi

import (
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"tenantd/internal/store"
)

var pathParam = regexp.MustCompile(`\{([a-zA-Z_]+)\}`)

// OpenAPI builds the OpenAPI 3 document from the route table, so that it lists exactly the
// routes the mux serves, each marked public, tenant (with its permission) or platform.
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]map[string]any{}
	for _, rt := range s.routes {
		item := paths[rt.Pattern]
		if item == nil {
			item = map[string]any{}
			paths[rt.Pattern] = item
		}
		responses := map[string]any{
			"default": map[string]any{"description": "Problem document", "content": map[string]any{
				"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}},
		}
		for status, desc := range rt.Responses {
			responses[strconv.Itoa(status)] = map[string]any{"description": desc,
				"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}
		}
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": operationID(rt),
			"x-kind":      rt.Kind.String(),
			"responses":   responses,
		}
		switch rt.Kind {
		case KindTenant:
			op["x-permission"] = string(rt.Permission)
			op["security"] = []any{map[string]any{"session": []any{}, "tenantSignature": []any{}}, map[string]any{"apiToken": []any{}}}
		case KindPlatform:
			op["security"] = []any{map[string]any{"operatorToken": []any{}}}
		default:
			op["security"] = []any{}
			if rt.HostTenant {
				op["x-tenant-from"] = "host"
			}
		}
		if rt.Creates {
			op["x-idempotent"] = true
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Pattern, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if rt.RespondAsync {
			params = append(params, map[string]any{"name": "Prefer", "in": "header", "required": false,
				"description": "respond-async (RFC 7240): answer 202 at once and leave the work to a background job",
				"schema":      map[string]any{"type": "string", "example": "respond-async"}})
		}
		if params != nil {
			op["parameters"] = params
		}
		item[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": "tenantd", "version": "1"},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"session":         map[string]any{"type": "apiKey", "in": "cookie", "name": sessionCookie},
				"tenantSignature": map[string]any{"type": "apiKey", "in": "cookie", "name": sigCookie},
				"apiToken":        map[string]any{"type": "http", "scheme": "bearer"},
				"operatorToken":   map[string]any{"type": "http", "scheme": "bearer"},
			},
			"schemas": map[string]any{"Problem": map[string]any{"type": "object", "required": []string{"type", "title", "status", "detail", "code", "request_id"},
				"properties": map[string]any{
					"type": map[string]any{"type": "string"}, "title": map[string]any{"type": "string"}, "status": map[string]any{"type": "integer"},
					"detail": map[string]any{"type": "string"}, "code": map[string]any{"type": "string"}, "request_id": map[string]any{"type": "string"},
				}}},
		},
	}
}

func operationID(rt Route) string {
	p := pathParam.ReplaceAllString(rt.Pattern, "by_$1")
	p = strings.NewReplacer("/api/", "", "/", "_", "-", "_", ".", "_").Replace(strings.TrimPrefix(p, "/"))
	return strings.ToLower(rt.Method) + "_" + strings.Trim(p, "_")
}

func (s *Server) openapi(w http.ResponseWriter, r *http.Request, _ *store.Scope) error {
	return writeJSON(w, http.StatusOK, s.OpenAPI())
}

// RouteKeys lists "METHOD PATTERN" of every route, sorted.
func (s *Server) RouteKeys() []string {
	out := make([]string, 0, len(s.routes))
	for _, rt := range s.routes {
		out = append(out, rt.Method+" "+rt.Pattern)
	}
	sort.Strings(out)
	return out
}

// Pattern returns the route-table pattern the mux dispatches r to ("" for none), so that tests
// and the coverage report can check that the document and the mux agree.
func (s *Server) Pattern(r *http.Request) string {
	_, p := s.mux.Handler(r)
	if p == "/" {
		return ""
	}
	return p
}
