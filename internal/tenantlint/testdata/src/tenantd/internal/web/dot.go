package web

import . "net/http"

func dotSetup() {
	HandleFunc("/dot", h) // want `http.HandleFunc registers a route`
}
