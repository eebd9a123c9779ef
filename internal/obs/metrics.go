package obs

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are labelled by route template, method, status, kind and outcome — never by tenant
// or user, which would both explode cardinality and publish who the tenants are.
type Metrics struct {
	Registry       *prometheus.Registry
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	scopes         *prometheus.HistogramVec
	securityEvents *prometheus.CounterVec
	jobs           *prometheus.CounterVec
}

// NewMetrics registers tenantd's metrics on a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantd_http_requests_total",
			Help: "HTTP requests by route template, method and status."}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantd_http_request_duration_seconds",
			Help: "HTTP request latency by route template and method.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)},
			[]string{"route", "method"}),
		scopes: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantd_store_scope_duration_seconds",
			Help: "Time spent in tenant scopes (read: per pipelined query; write: per transaction).", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)},
			[]string{"kind"}),
		securityEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantd_security_events_total",
			Help: "Security events by kind (invalid signatures, tenant mismatches, forbidden actions, cross-tenant probes, platform actions)."}, []string{"kind"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantd_jobs_total",
			Help: "Background job outcomes by job kind."}, []string{"kind", "outcome"}),
	}
	m.Registry.MustRegister(m.requests, m.latency, m.scopes, m.securityEvents, m.jobs,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Request records one served request.
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, method).Observe(d.Seconds())
}

// Scope records time spent in a tenant scope.
func (m *Metrics) Scope(kind string, d time.Duration) {
	if m == nil {
		return
	}
	m.scopes.WithLabelValues(kind).Observe(d.Seconds())
}

// SecurityEvent counts one security event.
func (m *Metrics) SecurityEvent(kind string) {
	if m == nil {
		return
	}
	m.securityEvents.WithLabelValues(kind).Inc()
}

// Job counts one background job outcome.
func (m *Metrics) Job(kind, outcome string) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(kind, outcome).Inc()
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
