package notify

import (
	"context"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/state"
)

// Record is the persisted intent of one message: enough to count its items
// as interrupted after a restart, nothing of its content (and no URL).
type Record struct {
	ID        string
	Policy    types.NamespacedName
	PolicyUID types.UID
	Kind      policy.DestinationKind
	Items     int
	// FirstSeq and LastSeq bound the Seqs of the items (0: not accounted).
	FirstSeq, LastSeq uint64
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

// StateJournal keeps intents as ControllerState objects (the notification
// part; docs/design/state.md), so they survive a SIGKILL.
type StateJournal struct {
	Store *state.Store
	// Now stamps createdAt.
	Now func() metav1.Time
}

// Begin writes r's intent.
func (j *StateJournal) Begin(ctx context.Context, r Record) error {
	ref := v1alpha1.StatePolicyReference{Namespace: r.Policy.Namespace, Name: r.Policy.Name, UID: string(r.PolicyUID)}
	now := metav1.Now()
	if j.Now != nil {
		now = j.Now()
	}
	return j.Store.CreateNotification(ctx, ref, &v1alpha1.NotificationIntentState{
		MessageID: r.ID, Kind: string(r.Kind), Items: int32(min(r.Items, maxRecordItems)), CreatedAt: &now,
		FirstSeq: int64(r.FirstSeq), LastSeq: int64(r.LastSeq), //nolint:gosec // sequence numbers stay far below 2^63
	})
}

// maxRecordItems is the schema's bound of a record's items.
const maxRecordItems = 1000000

// End removes the intent id.
func (j *StateJournal) End(ctx context.Context, id string) error {
	return j.Store.DeleteNotification(ctx, id)
}

// Pending lists the intents in the state.
func (j *StateJournal) Pending(ctx context.Context) ([]Record, error) {
	objs, err := j.Store.Notifications(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Record, 0, len(objs))
	for _, o := range objs {
		n := o.Spec.Notification
		out = append(out, Record{
			ID:        n.MessageID,
			Policy:    types.NamespacedName{Namespace: o.Spec.Policy.Namespace, Name: o.Spec.Policy.Name},
			PolicyUID: types.UID(o.Spec.Policy.UID),
			Kind:      policy.DestinationKind(n.Kind),
			Items:     int(n.Items),
			FirstSeq:  uint64(max(n.FirstSeq, 0)),
			LastSeq:   uint64(max(n.LastSeq, 0)),
		})
	}
	return out, nil
}
