package enricher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/text"
)

var now = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

// lineSource produces an endless log stream and counts what was read.
type lineSource struct {
	line string
	read int64
	buf  []byte
}

func (s *lineSource) Read(p []byte) (int, error) {
	if len(s.buf) == 0 {
		s.buf = []byte(s.line)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	s.read += int64(n)
	return n, nil
}

func TestReadTailHugeStream(t *testing.T) {
	src := &lineSource{line: "2026-11-28T10:00:00Z INFO request served path=/healthz status=200\n"}
	lines, truncated, err := readTail(src, 4096, 16384)
	require.NoError(t, err)
	assert.True(t, truncated)
	assert.LessOrEqual(t, src.read, int64(16384+4096), "reading stops at the limit, whatever the stream's size")
	total := 0
	for _, l := range lines {
		total += len(l) + 1
	}
	assert.LessOrEqual(t, total, 4096)
	assert.Greater(t, total, 3000, "the newest lines fill the budget")
}

func TestReadTailLongLineAndSecrets(t *testing.T) {
	input := "start\n" + strings.Repeat("x", 5<<20) + "\nAuthorization: Bearer abcdef123456\n" +
		"-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nend"
	lines, truncated, err := readTail(strings.NewReader(input), 1<<20, 16<<20)
	require.NoError(t, err)
	assert.False(t, truncated)
	require.Len(t, lines, 5)
	assert.Equal(t, "start", lines[0])
	assert.Len(t, lines[1], maxLineBytes+len("…"))
	assert.Equal(t, "Authorization: "+Redacted, lines[2])
	assert.Equal(t, "[REDACTED PEM block]", lines[3])
	assert.Equal(t, "end", lines[4])
}

func TestRedactLine(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"authorization header":  {"Authorization: Bearer eyJhbGciOi.x.y", "Authorization: " + Redacted},
		"json authorization":    {`{"authorization":"Basic dXNlcjpwYXNz"}`, `{"authorization":"` + Redacted + `"}`},
		"bearer in text":        {"calling api with bearer sk-abcdef123456", "calling api with bearer " + Redacted},
		"password=":             {"connecting user=app password=hunter2 host=db", "connecting user=app password=" + Redacted + " host=db"},
		"DB_PASSWORD: quoted":   {`DB_PASSWORD: "hunter2"`, `DB_PASSWORD: "` + Redacted + `"`},
		"api key":               {"api_key=AbCdEf0123", "api_key=" + Redacted},
		"apiKey json":           {`"apiKey": "AbCdEf0123"`, `"apiKey": "` + Redacted + `"`},
		"client secret":         {"client_secret=xyz&grant=1", "client_secret=" + Redacted + "&grant=1"},
		"token":                 {"token: ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "token: " + Redacted},
		"jwt alone":             {"got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc", "got " + Redacted},
		"aws key":               {"using AKIAIOSFODNN7EXAMPLE", "using " + Redacted},
		"url userinfo":          {"dial postgres://app:hunter2@db:5432/app", "dial postgres://" + Redacted + "@db:5432/app"},
		"harmless line is kept": {"GET /healthz 200 12ms", "GET /healthz 200 12ms"},
		"error line is kept":    {"panic: runtime error: invalid memory address", "panic: runtime error: invalid memory address"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, RedactLine(tc.in))
		})
	}
}

func TestIssueBounded(t *testing.T) {
	big := strings.Repeat("😀 ", 3000)
	c := &Context{
		Event:      EventInfo{Type: "Warning", Reason: "BackOff", Message: big, InvolvedObject: "Pod/x", Namespace: "ns"},
		OwnerChain: []string{"Pod/x", "ReplicaSet/y", "Deployment/z"},
		Notes:      []string{big},
	}
	for range 50 {
		c.RelatedEvents = append(c.RelatedEvents, EventInfo{Type: "Warning", Reason: "BackOff", Message: big, InvolvedObject: "Pod/x"})
		c.Logs = append(c.Logs, ContainerLog{Pod: "x", Container: "c", Lines: []string{big, "error: " + big}})
	}
	issue := c.Issue(2000)
	assert.LessOrEqual(t, text.UTF16Len(issue), 2000)
	assert.True(t, strings.HasPrefix(issue, "Kubernetes Warning event BackOff on Pod/x in namespace ns: 😀"))
	assert.True(t, strings.HasSuffix(issue, "\n"+truncatedMarker), "cut on a line boundary, with a marker")
	for line := range strings.SplitSeq(issue, "\n") {
		assert.LessOrEqual(t, text.UTF16Len(line), maxHeadlineUnits)
	}
}

func FuzzIssue(f *testing.F) {
	f.Add("BackOff", "Back-off restarting failed container app in pod web", "panic: boom", 3)
	f.Add("FailedScheduling", strings.Repeat("0/3 nodes are available. ", 200), "", 0)
	f.Add("Failed", strings.Repeat("😀", 1500), strings.Repeat("\xff\xfe", 300), 40)
	f.Fuzz(func(t *testing.T, reason, message, logLine string, n int) {
		n = max(0, min(n, 200))
		c := &Context{Event: EventInfo{Type: "Warning", Reason: reason, Message: message, InvolvedObject: "Pod/" + reason}}
		for i := range n {
			c.RelatedEvents = append(c.RelatedEvents, EventInfo{Reason: reason, Message: message, InvolvedObject: fmt.Sprint(i)})
			c.Logs = append(c.Logs, ContainerLog{Pod: "p", Container: reason, Lines: []string{logLine, message}})
			c.Notes = append(c.Notes, message)
		}
		issue := c.Issue(2000)
		// What the server sees is the JSON-decoded string.
		b, err := json.Marshal(issue)
		require.NoError(t, err)
		var decoded string
		require.NoError(t, json.Unmarshal(b, &decoded))
		if units := text.UTF16Len(decoded); units > 2000 {
			t.Fatalf("issue has %d UTF-16 code units", units)
		}
		if issue == "" {
			t.Fatal("empty issue")
		}
	})
}

// fakeIndex is a EventSource over a slice.
type fakeIndex struct{ events []*corev1.Event }

func (f fakeIndex) EventsFor(_ context.Context, namespace, kind, name string) ([]*corev1.Event, error) {
	var out []*corev1.Event
	for _, e := range f.events {
		if e.InvolvedObject.Namespace == namespace && e.InvolvedObject.Kind == kind && e.InvolvedObject.Name == name {
			out = append(out, e)
		}
	}
	return out, nil
}

func event(name, kind, obj, reason, typ string, age time.Duration) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: "team-a", UID: types.UID("uid-" + name)},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: "team-a", Name: obj},
		Reason:         reason, Type: typ, Message: reason + " of " + obj, Count: 1,
		LastTimestamp: metav1.NewTime(now.Add(-age)),
	}
}

// fakeLogs serves logs from a map and records the options it was asked for.
type fakeLogs struct {
	mu      sync.Mutex
	streams map[string]func() io.Reader
	asked   []corev1.PodLogOptions
	block   bool
}

func (f *fakeLogs) Stream(ctx context.Context, _, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	f.mu.Lock()
	f.asked = append(f.asked, *opts)
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	key := fmt.Sprintf("%s/%s/%v", pod, opts.Container, opts.Previous)
	mk, ok := f.streams[key]
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start", opts.Container, pod))
	}
	return io.NopCloser(mk()), nil
}

type notServed struct{}

func (notServed) PodMetrics(context.Context, string, string) (*PodMetrics, error) {
	return nil, ErrMetricsNotServed
}

func workload() []runtime.Object {
	ctrl := true
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a", UID: "dep-uid",
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
			Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9c", Namespace: "team-a", UID: "rs-uid",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "dep-uid", Controller: &ctrl}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
	}
	var objs []runtime.Object
	objs = append(objs, dep, rs)
	for i, name := range []string{"web-7d4b9c-aaaaa", "web-7d4b9c-bbbbb", "web-7d4b9c-ccccc", "web-7d4b9c-ddddd"} {
		objs = append(objs, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a", Labels: map[string]string{"app": "web"},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d4b9c", UID: "rs-uid", Controller: &ctrl}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.local/web:1",
				Env: []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "hunter2"}, {Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}}}}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: int32(i),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}},
		})
	}
	return objs
}

func TestEnrichWorkload(t *testing.T) {
	kube := fake.NewClientset(workload()...)
	logs := &fakeLogs{streams: map[string]func() io.Reader{}}
	for _, p := range []string{"web-7d4b9c-aaaaa", "web-7d4b9c-bbbbb", "web-7d4b9c-ccccc", "web-7d4b9c-ddddd"} {
		logs.streams[p+"/app/false"] = func() io.Reader { return &lineSource{line: "error: connection refused password=hunter2\n"} }
		logs.streams[p+"/app/true"] = func() io.Reader { return &lineSource{line: "panic: boom\n"} }
	}
	idx := fakeIndex{events: []*corev1.Event{
		event("dep-scaled", "Deployment", "web", "ScalingReplicaSet", "Normal", 3*time.Minute),
		event("rs-created", "ReplicaSet", "web-7d4b9c", "SuccessfulCreate", "Normal", 2*time.Minute),
		event("pod-backoff", "Pod", "web-7d4b9c-ddddd", "BackOff", "Warning", time.Minute),
		event("old", "Pod", "web-7d4b9c-ddddd", "Pulled", "Normal", time.Hour),
		event("other-pod", "Pod", "unrelated", "BackOff", "Warning", time.Minute),
	}}
	e := New(Options{Kube: kube, Events: idx, Logs: logs, Metrics: notServed{}, Clock: clocktesting.NewFakePassiveClock(now)})
	p := &v1alpha1.RemediationPolicy{Spec: v1alpha1.RemediationPolicySpec{ContextGathering: &v1alpha1.ContextGathering{
		MaxLogBytes: new(int64(4096)), LogLines: new(int32(50)), IncludeMetrics: new(true)}}}
	ev := event("dep-event", "Deployment", "web", "ProgressDeadlineExceeded", "Warning", 0)
	c := e.Enrich(context.Background(), ev, gathering(p))

	assert.Equal(t, []string{"Deployment/web"}, c.OwnerChain)
	require.NotNil(t, c.Resource)
	md := c.Resource["metadata"].(map[string]any)
	assert.NotContains(t, md, "managedFields")
	assert.NotContains(t, md, "annotations")
	// The 3 unhealthiest of the workload's 4 Pods.
	var pods []string
	for _, cs := range c.ContainerStatuses {
		pods = append(pods, cs.Pod)
	}
	assert.Equal(t, []string{"web-7d4b9c-ddddd", "web-7d4b9c-ccccc", "web-7d4b9c-bbbbb"}, pods)
	// Related: the Deployment's own event, its ReplicaSet and Pod children;
	// not the old one, not the unrelated Pod, not the event itself; newest first.
	var reasons []string
	for _, r := range c.RelatedEvents {
		reasons = append(reasons, r.Reason)
	}
	assert.Equal(t, []string{"BackOff", "SuccessfulCreate", "ScalingReplicaSet"}, reasons)
	// Logs: current and previous (all 3 restarted) = 6 streams within
	// maxLogBytes over all of them, secrets redacted, no partial last line.
	assert.Len(t, c.Logs, 6)
	total := 0
	for _, l := range c.Logs {
		assert.True(t, l.Truncated)
		for _, line := range l.Lines {
			total += len(line) + 1
			assert.NotContains(t, line, "hunter2")
			assert.Contains(t, []string{"error: connection refused password=" + Redacted, "panic: boom"}, line)
		}
	}
	assert.LessOrEqual(t, total, 4096)
	for _, o := range logs.asked {
		assert.EqualValues(t, 50, *o.TailLines)
		assert.NotNil(t, o.LimitBytes)
	}
	assert.Contains(t, c.Notes, "metrics: "+ErrMetricsNotServed.Error())
	assert.LessOrEqual(t, text.UTF16Len(c.Issue(2000)), 2000)
}

func TestEnrichPodOwnerChainAndStripping(t *testing.T) {
	kube := fake.NewClientset(workload()...)
	e := New(Options{Kube: kube, Logs: &fakeLogs{}, Clock: clocktesting.NewFakePassiveClock(now)})
	ev := event("e", "Pod", "web-7d4b9c-aaaaa", "BackOff", "Warning", 0)
	c := e.Enrich(context.Background(), ev, gathering(nil))
	assert.Equal(t, []string{"Pod/web-7d4b9c-aaaaa", "ReplicaSet/web-7d4b9c", "Deployment/web"}, c.OwnerChain)
	require.NotNil(t, c.PodSpec)
	assert.Nil(t, c.Resource)
	require.Len(t, c.Owners, 2)
	b, _ := json.Marshal(c)
	assert.NotContains(t, string(b), "hunter2", "env values are stripped")
	assert.Contains(t, string(b), "FROM_SECRET")
	assert.Contains(t, c.Notes, "related events: no event source")
	assert.Contains(t, strings.Join(c.Notes, "\n"), "waiting to start", "a log error is a note")
}

func TestEnrichJobOwnerChain(t *testing.T) {
	ctrl := true
	cron := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "team-a", UID: "cj"}}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "nightly-2911", Namespace: "team-a", UID: "job",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: "nightly", UID: "cj", Controller: &ctrl}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nightly-2911-abcde", Namespace: "team-a",
		Labels:          map[string]string{"batch.kubernetes.io/job-name": "nightly-2911"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "nightly-2911", UID: "job", Controller: &ctrl}}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main"}}}}
	e := New(Options{Kube: fake.NewClientset(cron, job, pod), Logs: &fakeLogs{}, Clock: clocktesting.NewFakePassiveClock(now)})

	c := e.Enrich(context.Background(), event("e", "Pod", pod.Name, "BackOff", "Warning", 0), gathering(nil))
	assert.Equal(t, []string{"Pod/nightly-2911-abcde", "Job/nightly-2911", "CronJob/nightly"}, c.OwnerChain)

	// An event about the Job gathers its Pods through the job-name label.
	c = e.Enrich(context.Background(), event("e", "Job", job.Name, "BackoffLimitExceeded", "Warning", 0), gathering(nil))
	assert.Equal(t, []string{"Job/nightly-2911", "CronJob/nightly"}, c.OwnerChain)
	require.Len(t, c.ContainerStatuses, 0)
	require.Len(t, c.Logs, 0)
	assert.Contains(t, strings.Join(c.Notes, "\n"), "logs of nightly-2911-abcde/main")
}

func TestEnrichBestEffort(t *testing.T) {
	t.Run("object gone", func(t *testing.T) {
		e := New(Options{Kube: fake.NewClientset(), Events: fakeIndex{}, Clock: clocktesting.NewFakePassiveClock(now)})
		c := e.Enrich(context.Background(), event("e", "Pod", "gone", "BackOff", "Warning", 0), gathering(nil))
		assert.Contains(t, c.Notes, "Pod/gone not read: not found")
		assert.Equal(t, "BackOff", c.Event.Reason)
	})
	t.Run("slow kubelet", func(t *testing.T) {
		e := New(Options{Kube: fake.NewClientset(workload()...), Logs: &fakeLogs{block: true}, PartTimeout: 50 * time.Millisecond, Clock: clocktesting.NewFakePassiveClock(now)})
		start := time.Now()
		c := e.Enrich(context.Background(), event("e", "Pod", "web-7d4b9c-ddddd", "BackOff", "Warning", 0), gathering(nil))
		assert.Less(t, time.Since(start), 2*time.Second)
		assert.NotEmpty(t, c.Notes)
		assert.NotEmpty(t, c.ContainerStatuses, "other parts survive")
	})
	t.Run("nothing at all", func(t *testing.T) {
		c := New(Options{}).Enrich(context.Background(), nil, gathering(nil))
		assert.Equal(t, []string{"no event"}, c.Notes)
		c = New(Options{}).Enrich(context.Background(), event("e", "Pod", "p", "BackOff", "Warning", 0), gathering(nil))
		assert.NotEmpty(t, c.Issue(2000))
	})
	t.Run("forbidden", func(t *testing.T) {
		assert.Equal(t, "forbidden", short(apierrors.NewForbidden(corev1.Resource("pods"), "p", errors.New("no"))))
	})
}

// gathering is the contextGathering the watcher resolves for p (nil: a
// policy that sets none) under the chart's defaults.
func gathering(p *v1alpha1.RemediationPolicy) policy.ContextGathering {
	if p == nil {
		p = &v1alpha1.RemediationPolicy{}
	}
	s := config.Default()
	return policy.Resolve(p, policy.NoSelector, &s).Context
}

// Related events are filtered and ordered by their most recent occurrence
// (eventtime.Of), whichever recorder wrote them, and report it as
// lastTimestamp.
func TestRelatedEventsUseTheMostRecentOccurrence(t *testing.T) {
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	styled := func(name string, set func(*corev1.Event)) *corev1.Event {
		ev := event(name, "Pod", "web", "BackOff", "Warning", 0)
		ev.LastTimestamp = metav1.Time{}
		set(ev)
		return ev
	}
	idx := fakeIndex{events: []*corev1.Event{
		styled("v1-first", func(ev *corev1.Event) { ev.EventTime = metav1.NewMicroTime(ago(2 * time.Minute)) }),
		styled("v1-repeated", func(ev *corev1.Event) {
			ev.EventTime = metav1.NewMicroTime(ago(2 * time.Hour))
			ev.Series = &corev1.EventSeries{Count: 4, LastObservedTime: metav1.NewMicroTime(ago(time.Minute))}
		}),
		styled("v1-stale", func(ev *corev1.Event) { ev.EventTime = metav1.NewMicroTime(ago(2 * time.Hour)) }),
		styled("mixed", func(ev *corev1.Event) {
			ev.LastTimestamp = metav1.NewTime(ago(30 * time.Second))
			ev.Series = &corev1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(ago(3 * time.Hour))}
		}),
	}}
	e := New(Options{Events: idx, Clock: clocktesting.NewFakePassiveClock(now)})
	self := event("self", "Pod", "web", "BackOff", "Warning", 0)
	got, notes := e.related(t.Context(), self, []objRef{{Kind: "Pod", Namespace: "team-a", Name: "web"}}, time.Hour)
	assert.Empty(t, notes)

	want := []struct {
		name string
		last time.Time
	}{{"mixed", ago(30 * time.Second)}, {"v1-repeated", ago(time.Minute)}, {"v1-first", ago(2 * time.Minute)}}
	require.Len(t, got, len(want))
	for i, w := range want {
		assert.Equal(t, w.name, got[i].Name)
		require.NotNil(t, got[i].LastTimestamp)
		assert.True(t, w.last.Equal(*got[i].LastTimestamp), "%s: %v", w.name, got[i].LastTimestamp)
	}
}

// TestGetReadsExactlyTheGatheredResources: every kind get reads is in
// GatheredResources (which the chart's ClusterRole grants), and a kind
// outside it is noted as not gathered without any API call.
func TestGetReadsExactlyTheGatheredResources(t *testing.T) {
	kube := fake.NewClientset()
	e := New(Options{Kube: kube, Logs: &fakeLogs{}, Clock: clocktesting.NewFakePassiveClock(now)})
	read := map[string][]string{}
	for _, kind := range []string{"Pod", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"} {
		kube.ClearActions()
		_, err := e.get(t.Context(), objRef{Kind: kind, Namespace: "team-a", Name: "x"})
		require.Error(t, err, "nothing exists in the fake cluster")
		require.Len(t, kube.Actions(), 1, kind)
		a := kube.Actions()[0]
		assert.Equal(t, "get", a.GetVerb(), kind)
		read[a.GetResource().Group] = append(read[a.GetResource().Group], a.GetResource().Resource)
	}
	assert.Equal(t, GatheredResources, read)
	for _, kind := range []string{"Service", "Node", "PersistentVolumeClaim", "Secret", "ConfigMap"} {
		kube.ClearActions()
		_, err := e.get(t.Context(), objRef{Kind: kind, Namespace: "team-a", Name: "x"})
		require.ErrorContains(t, err, "is not gathered", kind)
		assert.Empty(t, kube.Actions(), "%s: no API call", kind)
	}
}

// A kubelet answers HTTP 200 with an error text when it cannot read a log
// (a crash loop's previous container during the back-off): a note, never
// log lines.
func TestEnrichKubeletLogAnswerIsNoLogs(t *testing.T) {
	const pod = "web-7d4b9c-ddddd"
	tests := []struct {
		name      string
		previous  string
		wantLines []string // the previous stream's lines; nil: none
		wantNote  string
	}{
		{name: "previous container gone", previous: "unable to retrieve container logs for containerd://0123abcd",
			wantNote: "logs of " + pod + "/app (previous): unavailable (the kubelet no longer has them)"},
		{name: "log file gone", previous: `failed to try resolving symlinks in path "/var/log/pods/x/app/1.log": lstat /var/log/pods/x/app/1.log: no such file or directory`,
			wantNote: "logs of " + pod + "/app (previous): unavailable (the kubelet no longer has them)"},
		{name: "the container said it among other lines", previous: "starting\nunable to retrieve container logs for containerd://0123abcd\n",
			wantLines: []string{"starting", "unable to retrieve container logs for containerd://0123abcd"}},
		{name: "real previous lines", previous: "panic: boom\n", wantLines: []string{"panic: boom"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &fakeLogs{streams: map[string]func() io.Reader{
				pod + "/app/false": func() io.Reader { return strings.NewReader("current line\n") },
				pod + "/app/true":  func() io.Reader { return strings.NewReader(tc.previous) },
			}}
			e := New(Options{Kube: fake.NewClientset(workload()...), Logs: logs, Metrics: notServed{}, Clock: clocktesting.NewFakePassiveClock(now)})
			p := &v1alpha1.RemediationPolicy{}
			c := e.Enrich(context.Background(), event("backoff", "Pod", pod, "BackOff", "Warning", 0), gathering(p))
			var previous []string
			for _, l := range c.Logs {
				if l.Previous {
					previous = append(previous, l.Lines...)
				} else {
					assert.Equal(t, []string{"current line"}, l.Lines)
				}
			}
			assert.Equal(t, tc.wantLines, previous)
			if tc.wantNote != "" {
				assert.Contains(t, c.Notes, tc.wantNote)
			}
			for _, n := range c.Notes {
				assert.NotContains(t, n, "empty", "the kubelet's answer is not an empty log")
			}
		})
	}
}
