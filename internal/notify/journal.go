package notify

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/internal/policy"
)

// Record is the persisted intent of one message: enough to count its items
// as interrupted after a restart, nothing of its content (and no URL).
type Record struct {
	ID     string
	Policy types.NamespacedName
	Kind   policy.DestinationKind
	Items  int
}

// Journal persists message intents before they are sent, so that a restart
// neither resends a message that may have gone out nor forgets it: an
// intent left behind is counted as interrupted.
type Journal interface {
	Begin(ctx context.Context, r Record) error
	End(ctx context.Context, id string) error
	Pending(ctx context.Context) ([]Record, error)
}

// MemoryJournal keeps intents in memory (tests, and a process that shares
// one across restarts of a Notifier).
type MemoryJournal struct {
	mu   sync.Mutex
	recs map[string]Record
}

// Begin records r.
func (j *MemoryJournal) Begin(_ context.Context, r Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.recs == nil {
		j.recs = map[string]Record{}
	}
	j.recs[r.ID] = r
	return nil
}

// End removes the intent id.
func (j *MemoryJournal) End(_ context.Context, id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.recs, id)
	return nil
}

// Pending lists the intents.
func (j *MemoryJournal) Pending(context.Context) ([]Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Record, 0, len(j.recs))
	for _, r := range j.recs {
		out = append(out, r)
	}
	return out, nil
}
