// Package ratelimit is an in-memory token-bucket limiter keyed by string (an IP, an email, a
// tenant), used to keep one noisy caller from starving others.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows Burst events at once and refills at Rate events per second, per key.
type Limiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	buckets map[string]*bucket
	now     func() time.Time
	sweep   time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

// New returns a limiter allowing burst events and then perMinute events a minute per key.
func New(perMinute, burst int) *Limiter {
	return &Limiter{rate: float64(perMinute) / 60, burst: float64(burst), buckets: map[string]*bucket{}, now: time.Now}
}

// Allow takes one token for key. When none is left it returns false and how long until one is.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	return l.AllowN(key, 1, 0)
}

// AllowN is Allow with a per-call rate override (perMinute > 0), for limits configured per key.
func (l *Limiter) AllowN(key string, n float64, perMinute int) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	rate, burst := l.rate, l.burst
	if perMinute > 0 {
		rate = float64(perMinute) / 60
		burst = max(burst, float64(perMinute)/6)
	}
	if now.Sub(l.sweep) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.last).Seconds()*rate > burst {
				delete(l.buckets, k)
			}
		}
		l.sweep = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens >= n {
		b.tokens -= n
		return true, 0
	}
	wait := time.Duration((n - b.tokens) / rate * float64(time.Second))
	return false, max(wait, time.Second)
}

// Exhausted reports, without taking anything, whether key has no token left at perMinute, and
// how long until it has one. Checking before work and taking after it means that requests
// which fail verification (a forged credential naming someone else's tenant, say) never use up
// that tenant's budget.
func (l *Limiter) Exhausted(key string, perMinute int) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		return false, 0
	}
	rate := float64(perMinute) / 60
	burst := max(l.burst, float64(perMinute)/6)
	tokens := min(burst, b.tokens+l.now().Sub(b.last).Seconds()*rate)
	if tokens >= 1 {
		return false, 0
	}
	return true, max(time.Duration((1-tokens)/rate*float64(time.Second)), time.Second)
}
