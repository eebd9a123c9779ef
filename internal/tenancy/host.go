package tenancy

import (
	"net"
	"regexp"
	"strings"
)

// SlugPattern is the shape of a tenant slug (and of other per-tenant slugs).
var SlugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// Host is what a request's Host header says about the tenant. At the apex it names no tenant;
// otherwise it names one by slug (<slug>.BASE_DOMAIN) or by primary domain. Whether that tenant
// exists is for the database to say; there is never a fallback tenant.
type Host struct {
	Apex   bool
	Slug   string // <slug>.BASE_DOMAIN
	Domain string // any other non-apex host: a candidate primary domain
}

// ParseHost interprets hostport (a Host header) against baseDomain. X-Forwarded-Host and
// similar headers are never consulted: they are client-controlled.
func ParseHost(hostport, baseDomain string) Host {
	host := strings.ToLower(strings.TrimSpace(hostport))
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	base := strings.TrimSuffix(strings.ToLower(baseDomain), ".")
	if host == "" || host == base || host == "localhost" || net.ParseIP(host) != nil {
		return Host{Apex: true}
	}
	if label, ok := strings.CutSuffix(host, "."+base); ok && base != "" && SlugPattern.MatchString(label) {
		return Host{Slug: label}
	}
	return Host{Domain: host}
}
