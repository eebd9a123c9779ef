// Package headers reads and writes identity headers.
package headers

import (
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
)

const tenantHeader = "X-Tenant-Sig"

func reads(r *http.Request, mh textproto.MIMEHeader) {
	_ = r.Header.Get("X-Tenant-Id")              // want `reading request header "X-Tenant-Id": tenant and user identity must come from the verified tenant context`
	_ = r.Header.Get("x-tenant-slug")            // want `reading request header "x-tenant-slug"`
	_ = r.Header.Get("X-TENANT")                 // want `reading request header "X-TENANT"`
	_ = r.Header.Values("X-User-ID")             // want `reading request header "X-User-ID"`
	_ = r.Header.Get(tenantHeader)               // want `reading request header "X-Tenant-Sig"`
	_ = r.Header.Get("X-" + "Tenant-Id")         // want `reading request header "X-Tenant-Id"`
	_ = (r.Header).Get("X-User-Id")              // want `reading request header "X-User-Id"`
	_ = http.Header.Get(r.Header, "X-Tenant-Id") // want `reading request header "X-Tenant-Id"`
	_ = mh.Get("X-Tenant-Id")                    // want `reading request header "X-Tenant-Id"`
	_ = mh.Values("X-User-Id")                   // want `reading request header "X-User-Id"`
	_ = mh["X-Tenant-Id"]                        // want `reading request header "X-Tenant-Id"`
	h := r.Header
	_ = h["X-Tenant-Id"]    // want `reading request header "X-Tenant-Id"`
	_, ok := h["X-User-Id"] // want `reading request header "X-User-Id"`
	_ = ok
	if v := r.Header[textproto.CanonicalMIMEHeaderKey("x")]; v != nil {
	}
	resp := &http.Response{Request: r}
	_ = resp.Request.Header.Get("X-Tenant-Id") // want `reading request header "X-Tenant-Id"`
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func allowed(w http.ResponseWriter, r *http.Request, resp *http.Response, name string) {
	// Writing, deleting and stripping are not reads.
	r.Header.Del("X-Tenant-Id")
	r.Header.Set("X-Tenant-Id", "t")
	r.Header.Add("X-User-Id", "u")
	r.Header["X-Tenant-Id"] = nil
	delete(r.Header, "X-User-Id")
	for k := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-tenant-") {
			r.Header.Del(k)
		}
	}

	// Other headers, and names that are not constant.
	_ = r.Header.Get("X-Request-Id")
	_ = r.Header.Get("X-Tenantd-Version")
	_ = r.Header.Get("X-User-Ids")
	_ = r.Header.Get(name)

	// Response headers legitimately carry X-User-Id.
	w.Header().Set("X-User-Id", "u")
	_ = w.Header().Get("X-User-Id")
	_ = w.Header()["X-User-Id"]
	_ = resp.Header.Get("X-User-Id")
	_ = resp.Trailer.Get("X-User-Id")
	rec := httptest.NewRecorder()
	_ = rec.Header().Get("X-User-Id")
	_ = rec.Result().Header.Get("X-User-Id")
	sw := &statusWriter{ResponseWriter: w}
	_ = sw.Header().Values("X-User-Id")
}
