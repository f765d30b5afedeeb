package mcp

import (
	"net/url"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// breakers holds one circuit breaker per endpoint (scheme://host).
// Closed: calls pass; threshold consecutive unreachable attempts open it.
// Open: calls are refused until cooldown has passed. Half-open: one probe
// passes; its success closes the breaker, its failure opens it again.
type breakers struct {
	mu         sync.Mutex
	clock      clock.PassiveClock
	threshold  int
	cooldown   time.Duration
	byEndpoint map[string]*breaker
}

type breaker struct {
	failures  int
	openUntil time.Time
	probing   bool
}

func newBreakers(c clock.PassiveClock, threshold int, cooldown time.Duration) *breakers {
	return &breakers{clock: c, threshold: threshold, cooldown: cooldown, byEndpoint: map[string]*breaker{}}
}

func breakerKey(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return rawURL
	}
	return u.Scheme + "://" + u.Host
}

// wait returns how long calls to key are refused, without taking the probe.
func (bs *breakers) wait(key string) time.Duration {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.byEndpoint[key]
	if b == nil {
		return 0
	}
	return bs.waitLocked(b)
}

func (bs *breakers) waitLocked(b *breaker) time.Duration {
	if b.openUntil.IsZero() {
		return 0
	}
	if d := b.openUntil.Sub(bs.clock.Now()); d > 0 {
		return d
	}
	if b.probing {
		// A probe is in flight: others wait a little and look again.
		return min(bs.cooldown, time.Second)
	}
	return 0
}

// acquire returns 0 when a call may be made now (taking the half-open probe
// if the breaker is half-open), else how long to wait.
func (bs *breakers) acquire(key string) time.Duration {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.byEndpoint[key]
	if b == nil {
		b = &breaker{}
		bs.byEndpoint[key] = b
	}
	if d := bs.waitLocked(b); d > 0 {
		return d
	}
	if !b.openUntil.IsZero() {
		b.probing = true
	}
	return 0
}

// done records an attempt's outcome: ok is false for an unreachable server.
func (bs *breakers) done(key string, ok bool) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.byEndpoint[key]
	if b == nil {
		return
	}
	if ok {
		if !b.openUntil.IsZero() {
			breakerState.Dec()
		}
		*b = breaker{}
		return
	}
	b.failures++
	wasOpen := !b.openUntil.IsZero()
	if b.probing || b.failures >= bs.threshold {
		b.openUntil = bs.clock.Now().Add(bs.cooldown)
		b.probing = false
		if !wasOpen {
			breakerState.Inc()
			breakerOpened.Inc()
		}
	}
}

// release gives back a half-open probe without recording an outcome.
func (bs *breakers) release(key string) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b := bs.byEndpoint[key]; b != nil {
		b.probing = false
	}
}
