package watcher

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Checkpoint ConfigMaps: one per policy in the controller's namespace.
const (
	checkpointPrefix  = "dot-ai-checkpoint-"
	labelManagedBy    = "app.kubernetes.io/managed-by"
	managedByValue    = "dot-ai-controller"
	labelComponent    = "app.kubernetes.io/component"
	componentValue    = "checkpoint"
	labelPolicyUID    = "dot-ai.io/policy-uid"
	annotationPolicy  = "dot-ai.io/policy"
	maxHandledEntries = 8000 // ≈ 55 bytes each: ≈ 440 KB, well below the 1 MiB object limit
	maxCooldowns      = 2000
)

// handledEntry records the highest occurrence count of one event that reached
// an outcome, and the event's time (for pruning).
type handledEntry struct {
	Count int32
	Time  time.Time
}

// checkpoint is what survives a restart for one policy.
type checkpoint struct {
	// Since: events whose last occurrence is before Since are not this
	// policy's (created or resumed later).
	Since time.Time
	// Watermark: handled entries up to this event time were pruned; such
	// events count as handled.
	Watermark time.Time
	// Suspended is the policy's suspend flag as last seen, so a resume
	// while the controller was down still moves Since.
	Suspended bool
	Handled   map[types.UID]handledEntry
	Cooldowns cooldowns
	Bucket    tokenBucket
}

func newCheckpoint(since time.Time) *checkpoint {
	return &checkpoint{Since: since, Handled: map[types.UID]handledEntry{}, Cooldowns: cooldowns{}}
}

// isHandled reports whether occurrence count of event uid (last occurring at
// t) already reached an outcome.
func (c *checkpoint) isHandled(uid types.UID, count int32, t time.Time) bool {
	if e, ok := c.Handled[uid]; ok {
		return e.Count >= count
	}
	return !c.Watermark.IsZero() && !t.After(c.Watermark)
}

func (c *checkpoint) markHandled(uid types.UID, count int32, t time.Time) {
	e := c.Handled[uid]
	if count > e.Count {
		e.Count = count
	}
	if t.After(e.Time) {
		e.Time = t
	}
	c.Handled[uid] = e
}

// prune drops entries of events that no longer exist (exists == nil keeps
// them) and, above maxHandledEntries, the oldest ones, raising Watermark.
func (c *checkpoint) prune(now time.Time, exists func(types.UID) bool) {
	if exists != nil {
		for uid := range c.Handled {
			if !exists(uid) {
				delete(c.Handled, uid)
			}
		}
	}
	if len(c.Handled) > maxHandledEntries {
		type kv struct {
			uid types.UID
			t   time.Time
		}
		all := make([]kv, 0, len(c.Handled))
		for uid, e := range c.Handled {
			all = append(all, kv{uid, e.Time})
		}
		slices.SortFunc(all, func(a, b kv) int { return a.t.Compare(b.t) })
		for _, e := range all[:len(all)-maxHandledEntries] {
			if e.t.After(c.Watermark) {
				c.Watermark = e.t
			}
			delete(c.Handled, e.uid)
		}
	}
	c.Cooldowns.prune(now, maxCooldowns)
}

func (c *checkpoint) encode() map[string]string {
	var h strings.Builder
	uids := make([]string, 0, len(c.Handled))
	for uid := range c.Handled {
		uids = append(uids, string(uid))
	}
	slices.Sort(uids)
	for _, uid := range uids {
		e := c.Handled[types.UID(uid)]
		fmt.Fprintf(&h, "%s %d %d\n", uid, e.Count, e.Time.Unix())
	}
	var cd strings.Builder
	keys := make([]string, 0, len(c.Cooldowns))
	for k := range c.Cooldowns {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&cd, "%d %s\n", c.Cooldowns[k].UnixMilli(), k)
	}
	b, _ := json.Marshal(c.Bucket)
	return map[string]string{
		"since":     c.Since.UTC().Format(time.RFC3339Nano),
		"watermark": formatTime(c.Watermark),
		"handled":   h.String(),
		"cooldowns": cd.String(),
		"bucket":    string(b),
		"suspended": strconv.FormatBool(c.Suspended),
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func decodeCheckpoint(data map[string]string) (*checkpoint, error) {
	c := newCheckpoint(time.Time{})
	var err error
	if v := data["since"]; v != "" {
		if c.Since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return nil, fmt.Errorf("since: %w", err)
		}
	}
	if v := data["watermark"]; v != "" {
		if c.Watermark, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return nil, fmt.Errorf("watermark: %w", err)
		}
	}
	c.Suspended = data["suspended"] == "true"
	sc := bufio.NewScanner(strings.NewReader(data["handled"]))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		n, err1 := strconv.ParseInt(f[1], 10, 32)
		ts, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		c.Handled[types.UID(f[0])] = handledEntry{Count: int32(n), Time: time.Unix(ts, 0)}
	}
	sc = bufio.NewScanner(strings.NewReader(data["cooldowns"]))
	for sc.Scan() {
		ms, key, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(ms, 10, 64)
		if err != nil {
			continue
		}
		c.Cooldowns[key] = time.UnixMilli(v)
	}
	if v := data["bucket"]; v != "" {
		if err := json.Unmarshal([]byte(v), &c.Bucket); err != nil {
			return nil, fmt.Errorf("bucket: %w", err)
		}
	}
	return c, nil
}

// checkpointStore reads and writes checkpoint ConfigMaps. Reads go to the API
// server directly (reader), so no ConfigMap cache is started.
type checkpointStore struct {
	namespace string
	reader    client.Reader
	writer    client.Client
}

func checkpointName(uid types.UID) string { return checkpointPrefix + string(uid) }

// load returns the policy's checkpoint and the ConfigMap's resourceVersion;
// nil when there is none.
func (s *checkpointStore) load(ctx context.Context, uid types.UID) (*checkpoint, string, error) {
	var cm corev1.ConfigMap
	err := s.reader.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: checkpointName(uid)}, &cm)
	if apierrors.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	c, err := decodeCheckpoint(cm.Data)
	if err != nil {
		return nil, "", fmt.Errorf("decoding ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return c, cm.ResourceVersion, nil
}

// save writes data for the policy, creating the ConfigMap if needed. The
// leader is the only writer, so a conflict is resolved by overwriting.
func (s *checkpointStore) save(ctx context.Context, uid types.UID, policy string, data map[string]string, rv string) (string, error) {
	return s.saveAttempt(ctx, uid, policy, data, rv, 0)
}

func (s *checkpointStore) saveAttempt(ctx context.Context, uid types.UID, policy string, data map[string]string, rv string, attempt int) (string, error) {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       s.namespace,
			Name:            checkpointName(uid),
			ResourceVersion: rv,
			Labels:          map[string]string{labelManagedBy: managedByValue, labelComponent: componentValue, labelPolicyUID: string(uid)},
			Annotations:     map[string]string{annotationPolicy: policy},
		},
		Data: data,
	}
	if rv == "" {
		err := s.writer.Create(ctx, cm)
		if err == nil {
			return cm.ResourceVersion, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return "", err
		}
		var cur corev1.ConfigMap
		if err := s.reader.Get(ctx, client.ObjectKeyFromObject(cm), &cur); err != nil {
			return "", err
		}
		cm.ResourceVersion = cur.ResourceVersion
	}
	err := s.writer.Update(ctx, cm)
	if (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) && attempt < 3 {
		return s.saveAttempt(ctx, uid, policy, data, "", attempt+1)
	}
	if err != nil {
		return "", err
	}
	return cm.ResourceVersion, nil
}

func (s *checkpointStore) delete(ctx context.Context, uid types.UID) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: s.namespace, Name: checkpointName(uid)}}
	return client.IgnoreNotFound(s.writer.Delete(ctx, cm))
}

// garbage deletes checkpoints whose policy no longer exists.
func (s *checkpointStore) garbage(ctx context.Context, live func(types.UID) bool) error {
	var list corev1.ConfigMapList
	if err := s.reader.List(ctx, &list, client.InNamespace(s.namespace), client.MatchingLabels{labelManagedBy: managedByValue, labelComponent: componentValue}); err != nil {
		return err
	}
	for i := range list.Items {
		uid := types.UID(list.Items[i].Labels[labelPolicyUID])
		if uid != "" && !live(uid) {
			if err := s.delete(ctx, uid); err != nil {
				return err
			}
		}
	}
	return nil
}
