package httpapi

import "net/http"

// buildMux is the one place allowed to register routes.
func buildMux(rs []Route) *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range rs {
		mux.HandleFunc(r.Method+" "+r.Pattern, r.Handler)
	}
	register := func(p string, hh http.Handler) { mux.Handle(p, hh) }
	register("/", http.NotFoundHandler())
	http.Handle("/default", http.NotFoundHandler())
	return mux
}

type server struct{ mux *http.ServeMux }

// buildMux as a method is also the route builder.
func (s *server) buildMux() {
	s.mux.HandleFunc("GET /ok", h)
}

func otherSetup(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug", h)                   // want `\(\*http.ServeMux\).HandleFunc registers a route outside the route table`
	mux.Handle("GET /debug2", http.NotFoundHandler()) // want `\(\*http.ServeMux\).Handle registers a route outside the route table`
	http.HandleFunc("/x", h)                          // want `http.HandleFunc registers a route outside the route table`
}
