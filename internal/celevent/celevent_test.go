package celevent

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func backOffEvent() *corev1.Event {
	first := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name:      "web-7d4b9c-abcde.1873a",
			Namespace: "shop",
			UID:       "ev-uid",
		},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", Name: "web-7d4b9c-abcde", Namespace: "shop", UID: "pod-uid",
			APIVersion: "v1", FieldPath: "spec.containers{web}",
		},
		Reason:         "BackOff",
		Message:        "Back-off restarting failed container web in pod web-7d4b9c-abcde_shop(pod-uid)",
		Type:           corev1.EventTypeWarning,
		Count:          7,
		Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
		FirstTimestamp: metav1.NewTime(first),
		LastTimestamp:  metav1.NewTime(first.Add(5 * time.Minute)),
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		wantErr string
	}{
		{"syntax error", `event.reason ==`, "compilation failed"},
		{"unknown top-level field", `event.reasons == "BackOff"`, "undefined field 'reasons'"},
		{"unknown nested field", `event.involvedObject.kindd == "Pod"`, "undefined field 'kindd'"},
		{"unknown variable", `pod.reason == "BackOff"`, "undeclared reference to 'pod'"},
		// object carries metadata only: what the watcher's caches keep.
		{"object spec", `object.spec.replicas > 1`, "undefined field 'spec'"},
		{"object status", `object.status.phase == "Running"`, "undefined field 'status'"},
		{"object managed fields", `size(object.metadata.managedFields) > 0`, "undefined field 'managedFields'"},
		{"object creation time", `object.metadata.creationTimestamp > timestamp("2026-01-01T00:00:00Z")`, "undefined field 'creationTimestamp'"},
		{"label value type", `object.metadata.labels['team'] == 1`, "compilation failed"},
		// The Event cache keeps neither, so they are not declared.
		{"event labels", `'team' in event.metadata.labels`, "undefined field 'labels'"},
		{"event annotations", `event.metadata.annotations['note'] == 'x'`, "undefined field 'annotations'"},
		{"string result", `event.reason`, "must return bool, it returns string"},
		{"int result", `event.count + 1`, "must return bool, it returns int"},
		{"type mismatch", `event.count == "7"`, "compilation failed"},
		{"empty", ``, "compilation failed"},
		{"too long", `event.reason == "` + strings.Repeat("a", MaxExpressionLength) + `"`, "the limit is 4096"},
		{
			"estimated cost too high",
			`event.message.split(" ").all(a, event.message.split(" ").all(b, b.matches(a)))`,
			"estimated cost",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.expr)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestMatches(t *testing.T) {
	ev := backOffEvent()
	series := backOffEvent()
	series.Series = &corev1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC))}
	empty := &corev1.Event{}

	tests := []struct {
		name string
		expr string
		ev   *corev1.Event
		want bool
	}{
		{"reason", `event.reason == "BackOff"`, ev, true},
		{"reason mismatch", `event.reason == "Failed"`, ev, false},
		{"type and kind", `event.type == "Warning" && event.involvedObject.kind == "Pod"`, ev, true},
		{"message regex", `event.message.matches("^Back-off restarting failed container")`, ev, true},
		{"count", `event.count > 5`, ev, true},
		{"count low", `event.count > 10`, ev, false},
		{"metadata", `event.metadata.name.startsWith("web-") && event.metadata.namespace == "shop" && event.metadata.uid == "ev-uid"`, ev, true},
		{"key in a map literal", `event.reason in {'BackOff': 'restart', 'Failed': 'image'}`, ev, true},
		{"key absent from a map literal", `event.type in {'Normal': true}`, ev, false},
		{"involved object", `event.involvedObject.name == "web-7d4b9c-abcde" && event.involvedObject.namespace == "shop" && event.involvedObject.uid == "pod-uid" && event.involvedObject.apiVersion == "v1" && event.involvedObject.fieldPath.contains("web")`, ev, true},
		{"source", `event.source.component == "kubelet" && event.source.host == "node-1"`, ev, true},
		{"timestamps", `event.lastTimestamp - event.firstTimestamp == duration("5m")`, ev, true},
		{"timestamp compare", `event.lastTimestamp > timestamp("2026-01-01T00:00:00Z")`, ev, true},
		{"unset eventTime is zero time", `event.eventTime == timestamp("0001-01-01T00:00:00Z")`, ev, true},
		{"series absent", `event.series.count == 0`, ev, true},
		{"series present", `event.series.count == 3 && event.series.lastObservedTime == timestamp("2026-11-28T11:00:00Z")`, series, true},
		{"empty event strings", `event.reason == "" && event.reportingComponent == "" && event.reportingInstance == "" && event.action == "" && event.count == 0`, empty, true},
		{"empty event metadata", `event.metadata.name == "" && event.metadata.namespace == "" && event.metadata.uid == ""`, empty, true},
		{"list macro", `["BackOff", "Failed"].exists(r, r == event.reason)`, ev, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.expr)
			require.NoError(t, err)
			got, err := p.Matches(t.Context(), tc.ev, nil)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.expr, p.String())
		})
	}
}

func TestMatchesObject(t *testing.T) {
	yes := true
	pod := &metav1.ObjectMeta{
		Name: "web-7d4b9c-abcde", Namespace: "shop", UID: "pod-uid",
		Labels:      map[string]string{"team": "payments", "app.kubernetes.io/name": "web"},
		Annotations: map[string]string{"example.com/tier": "gold"},
		OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d4b9c", UID: "rs-uid", Controller: &yes},
			{APIVersion: "v1", Kind: "ConfigMap", Name: "other", UID: "cm-uid"},
		},
	}
	tests := []struct {
		name    string
		expr    string
		obj     *metav1.ObjectMeta
		want    bool
		wantErr string
	}{
		{name: "label", expr: `object.metadata.labels['team'] == 'payments'`, obj: pod, want: true},
		{name: "label differs", expr: `object.metadata.labels['team'] == 'search'`, obj: pod, want: false},
		{name: "qualified label key", expr: `object.metadata.labels['app.kubernetes.io/name'] == 'web'`, obj: pod, want: true},
		{name: "label presence", expr: `'team' in object.metadata.labels`, obj: pod, want: true},
		{name: "label absent", expr: `'owner' in object.metadata.labels`, obj: pod, want: false},
		{name: "optional label with default", expr: `object.metadata.labels[?'owner'].orValue('none') == 'none'`, obj: pod, want: true},
		{name: "annotation", expr: `object.metadata.annotations['example.com/tier'] == 'gold'`, obj: pod, want: true},
		{name: "identity", expr: `object.metadata.name == event.involvedObject.name && object.metadata.namespace == 'shop' && object.metadata.uid == 'pod-uid'`, obj: pod, want: true},
		{name: "controller owner", expr: `object.metadata.ownerReferences.exists(r, r.controller && r.kind == 'ReplicaSet' && r.name.startsWith('web-') && r.apiVersion == 'apps/v1' && r.uid == 'rs-uid')`, obj: pod, want: true},
		{name: "non-controller owner", expr: `object.metadata.ownerReferences.exists(r, r.kind == 'ConfigMap' && !r.controller)`, obj: pod, want: true},
		{name: "unknown object is empty", expr: `object.metadata.name == '' && size(object.metadata.labels) == 0 && size(object.metadata.annotations) == 0 && size(object.metadata.ownerReferences) == 0`, obj: nil, want: true},
		{name: "missing label key is an error", expr: `object.metadata.labels['team'] == 'payments'`, obj: nil, wantErr: "no such key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.expr)
			require.NoError(t, err)
			got, err := p.Matches(t.Context(), backOffEvent(), tc.obj)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestMatchesErrors(t *testing.T) {
	// An event far larger than the declared bounds (a 2 MB message, not
	// 4096 bytes) makes the runtime cost exceed MaxRuntimeCost even though
	// the estimate was within limits.
	huge := backOffEvent()
	huge.Message = strings.Repeat("v", 2_000_000)
	// Enough words for the comprehension to reach an interrupt check.
	wordy := backOffEvent()
	wordy.Message = strings.Repeat("v ", 1000)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		expr    string
		ctx     context.Context
		ev      *corev1.Event
		wantErr string
	}{
		{"runtime cost exceeded", `[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].all(i, !event.message.contains("x"))`, context.Background(), huge, "cost limit exceeded"},
		{"missing map key", `{'Failed': 'image'}[event.reason] == 'image'`, context.Background(), backOffEvent(), "no such key"},
		{"nil event", `event.reason == "BackOff"`, context.Background(), nil, "nil event"},
		{"cancelled context", `event.message.split(" ").all(w, w.startsWith("v"))`, cancelled, wordy, "evaluating expression"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.expr)
			require.NoError(t, err)
			got, err := p.Matches(tc.ctx, tc.ev, nil)
			require.Error(t, err)
			assert.False(t, got)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestNilProgram(t *testing.T) {
	var p *Program
	_, err := p.Matches(t.Context(), backOffEvent(), nil)
	require.Error(t, err)
}

func TestMatchesConcurrent(t *testing.T) {
	p, err := Compile(`event.reason == "BackOff" && event.count > 5`)
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			ev := backOffEvent()
			ev.Count = int32(i)
			got, err := p.Matches(context.Background(), ev, nil)
			if err != nil {
				errs <- err
				return
			}
			if got != (i > 5) {
				errs <- assert.AnError
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkMatches(b *testing.B) {
	p, err := Compile(`event.reason == "BackOff" && event.message.matches("failed container") && event.involvedObject.kind == "Pod"`)
	require.NoError(b, err)
	ev := backOffEvent()
	for b.Loop() {
		if _, err := p.Matches(context.Background(), ev, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCompileAcceptsTypicalExpressions(t *testing.T) {
	for _, expr := range []string{
		`event.message.matches("a.*b")`,
		`["foo", "bar"].exists(k, event.message.matches(k) && event.involvedObject.name.contains(k))`,
		`event.involvedObject.fieldPath.split(".").all(p, p.startsWith("a"))`,
		`event.message.split(" ").exists(w, w == "x")`,
		`object.metadata.labels.exists(k, k.startsWith("team") && object.metadata.labels[k].matches("^pay"))`,
		`object.metadata.annotations.all(k, object.metadata.annotations[k].size() < 100)`,
		`object.metadata.ownerReferences.exists(r, r.controller && r.name.matches("^web-"))`,
	} {
		t.Run(expr, func(t *testing.T) {
			p, err := Compile(expr)
			require.NoError(t, err)
			assert.LessOrEqual(t, p.MaxCost, uint64(MaxEstimatedCost))
		})
	}
}

func TestCompileCachesResults(t *testing.T) {
	tests := []struct {
		name    string
		expr    string
		wantErr bool
	}{
		{"valid expression", `event.reason == "BackOff" && event.count > 3`, false},
		{"invalid expression", `event.reasons == "BackOff"`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first, firstErr := Compile(tc.expr)
			second, secondErr := Compile(tc.expr)
			if tc.wantErr {
				require.Error(t, firstErr)
				assert.Same(t, firstErr, secondErr, "the cached error is returned")
				return
			}
			require.NoError(t, firstErr)
			require.NoError(t, secondErr)
			assert.Same(t, first, second, "the cached program is returned")
			assert.Equal(t, tc.expr, second.String())
		})
	}
}

func TestCompileCacheIsBounded(t *testing.T) {
	for i := range compileCacheSize + 10 {
		_, err := Compile(fmt.Sprintf("event.count > %d", i))
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, compiled.Len(), compileCacheSize)
}
