package enricher

import (
	"context"
	"sync"
	"time"
)

// sharedReads lets the events of one object within a short window share one
// read of it (its full spec, an owner, a workload's Pods, a container's
// log): the first caller reads, callers arriving meanwhile wait for that
// read, and later ones reuse its answer until it is older than ttl. A storm
// of events about one Pod then costs one read per window instead of one per
// event. Answers are shared: callers must not modify them.
type sharedReads struct {
	ttl time.Duration
	max int // entries kept; expired ones are dropped first, then all
	now func() time.Time

	mu    sync.Mutex
	m     map[string]*sharedRead
	swept time.Time // expired answers are dropped once per window
}

type sharedRead struct {
	done chan struct{}
	at   time.Time // when the read finished
	val  any
	err  error
}

func newSharedReads(ttl time.Duration, now func() time.Time) *sharedReads {
	return &sharedReads{ttl: ttl, max: 1024, now: now, m: map[string]*sharedRead{}}
}

// do returns the answer of read for key, shared as described above. An
// error is shared only with the callers that waited for it, not kept.
func (s *sharedReads) do(ctx context.Context, key string, read func(context.Context) (any, error)) (any, error) {
	if s == nil || s.ttl <= 0 {
		return read(ctx)
	}
	s.mu.Lock()
	if r, ok := s.m[key]; ok {
		select {
		case <-r.done:
			if s.now().Sub(r.at) <= s.ttl {
				s.mu.Unlock()
				return r.val, r.err
			}
		default:
			s.mu.Unlock()
			select {
			case <-r.done:
				return r.val, r.err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	if now := s.now(); len(s.m) >= s.max || now.Sub(s.swept) > s.ttl {
		s.swept = now
		s.pruneLocked()
	}
	r := &sharedRead{done: make(chan struct{})}
	s.m[key] = r
	s.mu.Unlock()

	r.val, r.err = read(ctx)
	s.mu.Lock()
	r.at = s.now()
	if r.err != nil && s.m[key] == r {
		delete(s.m, key)
	}
	s.mu.Unlock()
	close(r.done)
	return r.val, r.err
}

// pruneLocked drops finished, expired entries, and everything finished if
// that is not enough: answers (whole objects, event lists, logs) are kept
// no longer than about two windows.
func (s *sharedReads) pruneLocked() {
	now := s.now()
	for k, r := range s.m {
		select {
		case <-r.done:
			if now.Sub(r.at) > s.ttl {
				delete(s.m, k)
			}
		default:
		}
	}
	if len(s.m) < s.max {
		return
	}
	for k, r := range s.m {
		select {
		case <-r.done:
			delete(s.m, k)
		default:
		}
	}
}
