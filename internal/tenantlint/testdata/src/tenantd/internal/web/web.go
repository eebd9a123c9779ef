// Package web registers routes outside the route table.
package web

import (
	"net/http"
)

func h(w http.ResponseWriter, r *http.Request) {}

type embedded struct{ *http.ServeMux }

// buildMux outside httpapi is not the route builder.
func buildMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/a", h) // want `\(\*http.ServeMux\).HandleFunc registers a route outside the route table`
	return mux
}

func setup() {
	http.HandleFunc("/a", h)                  // want `http.HandleFunc registers a route`
	http.Handle("/b", http.NotFoundHandler()) // want `http.Handle registers a route`
	mux := http.NewServeMux()
	register := mux.HandleFunc // want `\(\*http.ServeMux\).HandleFunc registers a route`
	register("/c", h)
	(*http.ServeMux).Handle(mux, "/d", http.NotFoundHandler()) // want `\(\*http.ServeMux\).Handle registers a route`
	e := embedded{mux}
	e.Handle("/e", http.NotFoundHandler()) // want `\(\*http.ServeMux\).Handle registers a route`

	// Serving, and other uses of the mux, are fine.
	_ = http.ListenAndServe(":0", mux)
	srv := &http.Server{Handler: mux}
	_ = srv
	_, _ = mux.Handler(&http.Request{})
	var hh http.Handler = http.HandlerFunc(h)
	hh.ServeHTTP(nil, nil)
}
