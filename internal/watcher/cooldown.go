package watcher

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OwnerLookup returns the controller owner reference of a cached object of
// the given kind ("Pod", "ReplicaSet", "Job"), and whether the object was
// found in the cache.
type OwnerLookup func(kind, namespace, name string) (owner *metav1.OwnerReference, found bool)

var (
	// cronJobPod is <cronjob>-<scheduled unix minutes>-<5 random>.
	cronJobPod = regexp.MustCompile(`^(.+)-\d{8,10}-[a-z0-9]{5}$`)
	// cronJobJob is <cronjob>-<scheduled unix minutes>.
	cronJobJob = regexp.MustCompile(`^(.+)-\d{8,10}$`)
	// deploymentPod is <deployment>-<pod-template-hash>-<5 random>.
	deploymentPod = regexp.MustCompile(`^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$`)
)

// cooldownObject returns the key of the object an event is cooled down by:
// Pods are keyed by their top owner (ReplicaSet→Deployment, Job→CronJob),
// ReplicaSets by their Deployment and Jobs by their CronJob. Owners come from
// the cache (ownerReferences); when an object is not cached (already
// deleted) name heuristics are used. Other kinds are keyed by themselves.
func cooldownObject(ref corev1.ObjectReference, namespace string, owners OwnerLookup) string {
	kind, name := ref.Kind, ref.Name
	if ref.Namespace != "" {
		namespace = ref.Namespace
	}
	for range 3 { // Pod → ReplicaSet/Job → Deployment/CronJob
		next, nextName, ok := resolveOwner(kind, namespace, name, owners)
		if !ok {
			break
		}
		kind, name = next, nextName
	}
	return kind + "/" + namespace + "/" + name
}

func resolveOwner(kind, namespace, name string, owners OwnerLookup) (string, string, bool) {
	switch kind {
	case "Pod", "ReplicaSet", "Job":
	default:
		return "", "", false
	}
	if owners != nil {
		if o, found := owners(kind, namespace, name); found {
			if o != nil && (kind == "Pod" && (o.Kind == "ReplicaSet" || o.Kind == "Job") ||
				kind == "ReplicaSet" && o.Kind == "Deployment" ||
				kind == "Job" && o.Kind == "CronJob") {
				return o.Kind, o.Name, true
			}
			return "", "", false
		}
	}
	// Not cached: heuristics on generated names.
	switch kind {
	case "Pod":
		if m := cronJobPod.FindStringSubmatch(name); m != nil {
			return "CronJob", m[1], true
		}
		if m := deploymentPod.FindStringSubmatch(name); m != nil {
			return "Deployment", m[1], true
		}
	case "ReplicaSet":
		if i := strings.LastIndex(name, "-"); i > 0 {
			return "Deployment", name[:i], true
		}
	case "Job":
		if m := cronJobJob.FindStringSubmatch(name); m != nil {
			return "CronJob", m[1], true
		}
	}
	return "", "", false
}

// cooldowns holds, per (object, reason), when the cooldown ends, keyed by a
// hash of the key so every entry has the same small size in the checkpoint
// (docs/design/state.md).
type cooldowns map[string]time.Time

func cooldownKey(object, reason string) string { return object + "#" + reason }

// hashCooldownKey is the stored key: 128 bits of sha256, in hex.
func hashCooldownKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:16])
}

// active reports whether key is cooling down at now.
func (c cooldowns) active(key string, now time.Time) bool {
	until, ok := c[hashCooldownKey(key)]
	return ok && now.Before(until)
}

// start begins a cooldown of d for key.
func (c cooldowns) start(key string, now time.Time, d time.Duration) {
	if d > 0 {
		c[hashCooldownKey(key)] = now.Add(d)
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
