package watcher

import (
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"dot-ai.io/controller/api/v1alpha1"
)

// tokenBucket allows rate events per minute with a burst of rate.
type tokenBucket struct {
	Tokens float64
	Last   time.Time
}

// state is the bucket in its stored form (thousandths of a token, rounded
// down: a restart never adds tokens).
func (b tokenBucket) state() v1alpha1.TokenBucketState {
	s := v1alpha1.TokenBucketState{MilliTokens: int64(math.Floor(b.Tokens * 1000))}
	if !b.Last.IsZero() {
		s.Last = new(metav1.NewMicroTime(b.Last.UTC()))
	}
	return s
}

func bucketFromState(s v1alpha1.TokenBucketState) tokenBucket {
	b := tokenBucket{Tokens: float64(s.MilliTokens) / 1000}
	if s.Last != nil {
		b.Last = s.Last.Time
	}
	return b
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
