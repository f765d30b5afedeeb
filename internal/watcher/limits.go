package watcher

import (
	"time"
)

// tokenBucket allows rate events per minute with a burst of rate.
type tokenBucket struct {
	Tokens float64   `json:"tokens"`
	Last   time.Time `json:"last"`
}

// take refills the bucket for the time since the last call and takes one
// token if there is one.
func (b *tokenBucket) take(now time.Time, perMinute int32) bool {
	b.refill(now, perMinute)
	if b.Tokens >= 1 {
		b.Tokens--
		return true
	}
	return false
}

// refund gives back a token taken for an event that was then dropped.
func (b *tokenBucket) refund(perMinute int32) {
	b.Tokens = min(b.Tokens+1, float64(perMinute))
}

func (b *tokenBucket) refill(now time.Time, perMinute int32) {
	capacity := float64(perMinute)
	if b.Last.IsZero() {
		b.Tokens, b.Last = capacity, now
		return
	}
	if now.After(b.Last) {
		b.Tokens += now.Sub(b.Last).Minutes() * capacity
		b.Last = now
	}
	b.Tokens = min(b.Tokens, capacity)
}

// cooldowns holds, per (object, reason), when the cooldown ends.
type cooldowns map[string]time.Time

func cooldownKey(object, reason string) string { return object + "#" + reason }

// active reports whether key is cooling down at now.
func (c cooldowns) active(key string, now time.Time) bool {
	until, ok := c[key]
	return ok && now.Before(until)
}

// start begins a cooldown of d for key.
func (c cooldowns) start(key string, now time.Time, d time.Duration) {
	if d > 0 {
		c[key] = now.Add(d)
	}
}

// prune removes expired cooldowns and, above max entries, the ones ending
// first.
func (c cooldowns) prune(now time.Time, maxEntries int) {
	for k, until := range c {
		if !now.Before(until) {
			delete(c, k)
		}
	}
	for len(c) > maxEntries {
		var oldest string
		var t time.Time
		for k, until := range c {
			if oldest == "" || until.Before(t) {
				oldest, t = k, until
			}
		}
		delete(c, oldest)
	}
}
