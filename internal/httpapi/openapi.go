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
		for status, desc := range rt.successResponses() {
			answer := map[string]any{"description": desc}
			if status != http.StatusNoContent && status != http.StatusNotModified {
				answer["content"] = rt.successContent()
			}
			responses[strconv.Itoa(status)] = answer
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

// successResponses is what the route answers when it succeeds: what it declares, else what
// its method implies. A read or an update answers 200 with the resource, a POST that creates
// answers 201 with what it created, another POST 200 with its outcome, and a DELETE 204 with
// no body. The test harness checks every success answer a test receives against the
// document, so a route that answers otherwise has to declare it.
func (rt Route) successResponses() map[int]string {
	if len(rt.Responses) > 0 {
		return rt.Responses
	}
	switch {
	case rt.Method == http.MethodDelete:
		return map[int]string{http.StatusNoContent: "Done; no body"}
	case rt.Method == http.MethodPost && rt.Creates:
		return map[int]string{http.StatusCreated: "Created: the new resource"}
	case rt.Method == http.MethodPost:
		return map[int]string{http.StatusOK: "Done: the outcome"}
	case rt.Method == http.MethodGet:
		return map[int]string{http.StatusOK: "The resource or list"}
	default:
		return map[int]string{http.StatusOK: "Updated: the resource as it is now"}
	}
}

// successContent describes the body of the route's success answers: a JSON object unless the
// route declares another media type.
func (rt Route) successContent() map[string]any {
	if rt.MediaType != "" {
		return map[string]any{rt.MediaType: map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}
	}
	return map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
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
