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
