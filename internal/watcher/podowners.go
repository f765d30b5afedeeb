package watcher

import (
	"bufio"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/policy"
)

// Pods' owners, remembered across restarts: an Event of a Pod deleted while
// the controller was down is delivered with the Pod's owner as the object of
// interest when the owner still exists and its current Pods still show the
// problem the deleted Pod showed; otherwise it is skipped (docs/policies.md,
// "Objects deleted while the controller was down"). The Event names no
// owner, so the owner is taken from what the controller saw, never guessed
// from names.
const (
	// maxPodOwners bounds the record (docs/design/state.md: ≤ 570 bytes an
	// entry at its longest); beyond it the least recently seen go.
	maxPodOwners = 600
	// podOwnerTTL is how long an entry outlives the last time its Pod was
	// seen with a problem: the events API keeps Events an hour by default.
	podOwnerTTL = time.Hour
	// podOwnerRefresh is how stale an entry's saved time may get before a
	// sighting of its Pod writes it again.
	podOwnerRefresh = 10 * time.Minute
	// Lengths beyond which an owner or a problem is not recorded.
	maxOwnerTypeLength = 100
	maxProblemLength   = 40
	maxProblems        = 3
)

// podOwner is what is remembered of one Pod.
type podOwner struct {
	APIVersion, Kind, Name string
	UID                    types.UID
	// Seen is when the Pod was last seen with a problem; saved is the Seen
	// the stored record holds.
	Seen, saved time.Time
	// Problems are the Pod's problems as podProblems names them, sorted.
	Problems []string
}

// podOwnerRecord is the watcher's record of Pods' owners.
type podOwnerRecord struct {
	mu    sync.Mutex
	pods  map[types.UID]*podOwner
	dirty bool
	rv    string
}

// benignWaiting are waiting reasons of a Pod on its way up.
var benignWaiting = []string{"ContainerCreating", "PodInitializing"}

// podProblems names what is wrong with a Pod's containers: "Restarts" when
// one restarted, and the reasons of waiting containers and of failed
// terminations. None: the Pod looks healthy.
func podProblems(p *policy.PodSummary) []string {
	var out []string
	add := func(s string) {
		if s != "" && len(s) <= maxProblemLength && !strings.ContainsAny(s, " ,") && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for i := range p.Containers {
		cs := &p.Containers[i]
		if cs.RestartCount > 0 {
			add("Restarts")
		}
		if !slices.Contains(benignWaiting, cs.WaitingReason) {
			add(cs.WaitingReason)
		}
		for _, t := range []*policy.Termination{cs.Terminated, cs.LastTerminated} {
			if t != nil && t.ExitCode != 0 {
				add(t.Reason)
			}
		}
	}
	slices.Sort(out)
	return out[:min(len(out), maxProblems)]
}

// ownerChain lists the controlling owners of m, nearest first, as far as
// the caches know them (a Pod's: ReplicaSet, then Deployment).
func (w *Watcher) ownerChain(ns string, m *metav1.ObjectMeta) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for range maxOwnerDepth {
		o := metav1.GetControllerOfNoCopy(m)
		if o == nil {
			break
		}
		out = append(out, *o)
		if m = w.objectMeta(o.APIVersion, o.Kind, ns, o.Name, o.UID); m == nil {
			break
		}
	}
	return out
}

func chainHas(chain []metav1.OwnerReference, uids ...types.UID) bool {
	return slices.ContainsFunc(chain, func(o metav1.OwnerReference) bool { return slices.Contains(uids, o.UID) })
}

// observePod remembers the owner of a Pod that shows a problem.
func (w *Watcher) observePod(obj any) {
	p, ok := obj.(*policy.PodSummary)
	if !ok || p.UID == "" {
		return
	}
	problems := podProblems(p)
	if len(problems) == 0 {
		return
	}
	chain := w.ownerChain(p.Namespace, &p.ObjectMeta)
	if len(chain) == 0 {
		return
	}
	o := chain[len(chain)-1] // the workload rather than its ReplicaSet
	if len(o.APIVersion)+len(o.Kind) > maxOwnerTypeLength {
		return
	}
	now := w.clock.Now()
	r := &w.podOwners
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pods == nil {
		r.pods = map[types.UID]*podOwner{}
	}
	e := r.pods[p.UID]
	if e != nil && e.UID == o.UID && slices.Equal(e.Problems, problems) {
		e.Seen = now
		r.dirty = r.dirty || now.Sub(e.saved) >= podOwnerRefresh
		return
	}
	r.pods[p.UID] = &podOwner{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID, Seen: now, Problems: problems}
	r.dirty = true
}

// ownerFallback returns ev with the deleted Pod's owner as its involved
// object, when the record knows the Pod, the owner still exists and one of
// its current Pods shows a problem the deleted one showed; nil otherwise.
func (w *Watcher) ownerFallback(ev *corev1.Event) *corev1.Event {
	ref := ev.InvolvedObject
	if ref.Kind != "Pod" || ref.UID == "" {
		return nil
	}
	w.podOwners.mu.Lock()
	e := w.podOwners.pods[ref.UID]
	var o podOwner
	if e != nil {
		o = *e
	}
	w.podOwners.mu.Unlock()
	ns := involvedNamespace(ev)
	if e == nil {
		return nil
	}
	m := w.objectMeta(o.APIVersion, o.Kind, ns, o.Name, o.UID)
	if m == nil {
		return nil // the owner is gone (or of a kind not cached)
	}
	// The object of interest is the owner's own top owner, should the
	// record hold a ReplicaSet whose Deployment was not cached yet.
	top := metav1.OwnerReference{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Name, UID: o.UID}
	if up := w.ownerChain(ns, m); len(up) > 0 {
		top = up[len(up)-1]
	}
	pods, err := w.pods.GetIndexer().ByIndex(toolscache.NamespaceIndex, ns)
	if err != nil {
		return nil
	}
	for _, obj := range pods {
		p, ok := obj.(*policy.PodSummary)
		if !ok || p.UID == ref.UID || !chainHas(w.ownerChain(ns, &p.ObjectMeta), o.UID, top.UID) {
			continue
		}
		if slices.ContainsFunc(podProblems(p), func(s string) bool { return slices.Contains(o.Problems, s) }) {
			out := ev.DeepCopy()
			out.InvolvedObject = corev1.ObjectReference{APIVersion: top.APIVersion, Kind: top.Kind, Namespace: ns, Name: top.Name, UID: top.UID}
			out.Message = fmt.Sprintf("%s (Pod %s was deleted; %s %s's current Pod %s shows the same problem: %s)",
				ev.Message, ref.Name, top.Kind, top.Name, p.Name, strings.Join(o.Problems, ", "))
			return out
		}
	}
	return nil
}

// loadPodOwners reads the record before any Pod or Event is looked at.
func (w *Watcher) loadPodOwners(ctx context.Context) error {
	s, rv, err := w.store.LoadPodOwners(ctx)
	if err != nil {
		return err
	}
	r := &w.podOwners
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rv = rv
	if s != nil {
		r.pods = decodePodOwners(s.Pods)
	}
	return nil
}

// flushPodOwners writes the record when it changed, dropping entries older
// than podOwnerTTL and, above maxPodOwners, the least recently seen.
func (w *Watcher) flushPodOwners(ctx context.Context) {
	r := &w.podOwners
	r.mu.Lock()
	if !r.dirty {
		r.mu.Unlock()
		return
	}
	prunePodOwners(r.pods, w.clock.Now())
	data, rv := encodePodOwners(r.pods), r.rv
	for _, e := range r.pods {
		e.saved = e.Seen
	}
	r.dirty = false
	r.mu.Unlock()
	newRV, err := w.store.SavePodOwners(ctx, &v1alpha1.PodOwnersState{Pods: data}, rv)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.dirty = true
		if ctx.Err() == nil {
			w.log.Error(err, "Failed to write the record of Pods' owners")
		}
		return
	}
	r.rv = newRV
}

func prunePodOwners(pods map[types.UID]*podOwner, now time.Time) {
	for uid, e := range pods {
		if now.Sub(e.Seen) > podOwnerTTL {
			delete(pods, uid)
		}
	}
	if len(pods) <= maxPodOwners {
		return
	}
	uids := make([]types.UID, 0, len(pods))
	for uid := range pods {
		uids = append(uids, uid)
	}
	slices.SortFunc(uids, func(a, b types.UID) int { return pods[a].Seen.Compare(pods[b].Seen) })
	for _, uid := range uids[:len(uids)-maxPodOwners] {
		delete(pods, uid)
	}
}

func encodePodOwners(pods map[types.UID]*podOwner) string {
	uids := make([]string, 0, len(pods))
	for uid := range pods {
		uids = append(uids, string(uid))
	}
	slices.Sort(uids)
	var b strings.Builder
	for _, uid := range uids {
		e := pods[types.UID(uid)]
		fmt.Fprintf(&b, "%s %s %s %s %s %d %s\n", uid, e.APIVersion, e.Kind, e.Name, e.UID, e.Seen.Unix(), strings.Join(e.Problems, ","))
	}
	return b.String()
}

// decodePodOwners reads the stored record; lines it cannot parse are
// skipped (their Pods' Events are skipped as before).
func decodePodOwners(data string) map[types.UID]*podOwner {
	out := map[types.UID]*podOwner{}
	sc := bufio.NewScanner(strings.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 7 {
			continue
		}
		ts, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			continue
		}
		seen := time.Unix(ts, 0)
		out[types.UID(f[0])] = &podOwner{APIVersion: f[1], Kind: f[2], Name: f[3], UID: types.UID(f[4]), Seen: seen, saved: seen,
			Problems: strings.Split(f[6], ",")}
	}
	return out
}
