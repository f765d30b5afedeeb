package enricher

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"dot-ai.io/controller/api/v1alpha1"
)

// A terminated container's log is final: a later read with the same limits
// is answered from memory, without asking the kubelet. And a real kubelet
// keeps one dead container per container: once a crash-looping container
// crashed again, the attempt before is gone. An enrichment with other limits
// that comes later than that crash (an event held through an MCP outage,
// another policy's event) gets the lines an earlier enrichment read from the
// terminated attempt, with a note saying when; never beyond logMemoryTTL.
func TestEnrichRemembersTerminatedContainerLogs(t *testing.T) {
	const podName = "api-0"
	crashed := func(current, last string, restarts int32) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: podName, Namespace: "team-a"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: restarts,
				State:                corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: current, ExitCode: 1, Reason: "Error"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: last, ExitCode: 1, Reason: "Error"}}}}},
		}
	}
	gone := func(id string) func() io.Reader {
		return func() io.Reader { return strings.NewReader("unable to retrieve container logs for " + id) }
	}
	lines := func(s string) func() io.Reader { return func() io.Reader { return strings.NewReader(s) } }
	steps := []struct {
		name         string
		pod          *corev1.Pod
		current      func() io.Reader
		previous     func() io.Reader
		after        time.Duration // since the first step
		logLines     int32         // the policy's log lines (0: the default)
		wantPrevious []string
		wantNote     string
		wantReads    int // of the previous container's log, from the kubelet
	}{
		{
			name: "in the back-off after attempt 2: its lines are current, attempt 1's are gone",
			pod:  crashed("containerd://c2", "containerd://c1", 1), current: lines("attempt 2\npanic: boom\n"), previous: gone("containerd://c1"),
			wantNote: "logs of api-0/app (previous): unavailable (the kubelet no longer has them)", wantReads: 1,
		},
		{
			name: "after attempt 3 crashed: attempt 2's lines from memory, the kubelet not asked",
			pod:  crashed("containerd://c3", "containerd://c2", 2), current: lines("attempt 3\n"), previous: gone("containerd://c2"),
			after: time.Minute, wantPrevious: []string{"attempt 2", "panic: boom"},
		},
		{
			name: "other limits: the kubelet is asked, has lost them, and the lines read before come with a note",
			pod:  crashed("containerd://c3", "containerd://c2", 2), current: lines("attempt 3\n"), previous: gone("containerd://c2"),
			after: time.Minute, logLines: 7, wantPrevious: []string{"attempt 2", "panic: boom"}, wantReads: 1,
			wantNote: "logs of api-0/app (previous): read at 2026-11-28T10:00:00Z by an earlier enrichment (the kubelet no longer has them)",
		},
		{
			name: "past the memory's time bound",
			pod:  crashed("containerd://c3", "containerd://c2", 2), current: lines("attempt 3\n"), previous: gone("containerd://c2"),
			after:    logMemoryTTL + time.Second,
			wantNote: "logs of api-0/app (previous): unavailable (the kubelet no longer has them)", wantReads: 1,
		},
	}
	clk := clocktesting.NewFakePassiveClock(now)
	kube := fake.NewClientset(steps[0].pod)
	logs := &fakeLogs{}
	e := New(Options{Kube: kube, Logs: logs, Metrics: notServed{}, Clock: clk})
	g := gathering(&v1alpha1.RemediationPolicy{})
	g.IncludePreviousLogs = true
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			_, err := kube.CoreV1().Pods("team-a").Update(context.Background(), st.pod, metav1.UpdateOptions{})
			require.NoError(t, err)
			logs.streams = map[string]func() io.Reader{podName + "/app/false": st.current, podName + "/app/true": st.previous}
			logs.asked = nil
			clk.SetTime(now.Add(st.after))
			g := g
			if st.logLines != 0 {
				g.LogLines = st.logLines
			}
			c := e.Enrich(context.Background(), event("backoff", "Pod", podName, "BackOff", "Warning", 0), g)
			reads := 0
			for _, o := range logs.asked {
				if o.Previous {
					reads++
				}
			}
			assert.Equal(t, st.wantReads, reads, "reads of the previous container's log")
			var previous []string
			for _, l := range c.Logs {
				if l.Previous {
					previous = append(previous, l.Lines...)
				}
			}
			assert.Equal(t, st.wantPrevious, previous)
			if st.wantNote != "" {
				assert.Contains(t, c.Notes, st.wantNote)
			} else {
				for _, n := range c.Notes {
					assert.NotContains(t, n, "(previous)")
				}
			}
		})
	}
}

func TestLogMemoryBounds(t *testing.T) {
	big := func(n int) []string { return []string{strings.Repeat("x", n-1)} } // n bytes with the newline
	tests := []struct {
		name     string
		puts     map[string]int // id: bytes, put in id order
		order    []string
		wantKept []string
		wantGone []string
	}{
		{name: "within the bound", order: []string{"a", "b"}, puts: map[string]int{"a": 1 << 20, "b": 1 << 20}, wantKept: []string{"a", "b"}},
		{name: "the oldest evicted", order: []string{"a", "b", "c"}, puts: map[string]int{"a": 2 << 20, "b": 1 << 20, "c": 2 << 20},
			wantKept: []string{"b", "c"}, wantGone: []string{"a"}},
		{name: "larger than the bound alone: not kept", order: []string{"a", "huge"}, puts: map[string]int{"a": 1 << 20, "huge": logMemoryBytes + 1},
			wantKept: []string{"a"}, wantGone: []string{"huge"}},
		{name: "no container ID: not kept", order: []string{""}, puts: map[string]int{"": 10}, wantGone: []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newLogMemory()
			for _, id := range tc.order {
				m.put(id, big(tc.puts[id]), false, logLimits{}, now)
			}
			for _, id := range tc.wantKept {
				_, ok := m.get(id, now)
				assert.True(t, ok, "%s kept", id)
			}
			for _, id := range tc.wantGone {
				_, ok := m.get(id, now)
				assert.False(t, ok, "%s not kept", id)
			}
			assert.LessOrEqual(t, m.size, logMemoryBytes)
		})
	}
}

// In a crash loop's back-off the container is not running: the kubelet
// serves its last terminated attempt both as its current and its previous
// log, so that attempt is read once, as the previous log, with a note; and
// without previous logs it is read as the current log.
func TestBackOffReadsTheLastAttemptOnce(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "api-0", Namespace: "team-a"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: 4,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "containerd://c4", ExitCode: 1}}}}},
	}
	tests := map[string]struct {
		previous     bool
		wantPrevious []bool // of the logs read, in order
		wantNote     bool
	}{
		"with previous logs":    {previous: true, wantPrevious: []bool{true}, wantNote: true},
		"without previous logs": {previous: false, wantPrevious: []bool{false}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			attempt := func() io.Reader { return strings.NewReader("attempt 4\npanic: boom\n") }
			logs := &fakeLogs{streams: map[string]func() io.Reader{"api-0/app/false": attempt, "api-0/app/true": attempt}}
			e := New(Options{Kube: fake.NewClientset(pod), Logs: logs, Metrics: notServed{}, Clock: clocktesting.NewFakePassiveClock(now)})
			g := gathering(&v1alpha1.RemediationPolicy{})
			g.IncludePreviousLogs = tt.previous
			c := e.Enrich(context.Background(), event("backoff", "Pod", "api-0", "BackOff", "Warning", 0), g)
			var asked, got []bool
			for _, o := range logs.asked {
				asked = append(asked, o.Previous)
			}
			for _, l := range c.Logs {
				got = append(got, l.Previous)
				assert.Equal(t, []string{"attempt 4", "panic: boom"}, l.Lines)
			}
			assert.Equal(t, tt.wantPrevious, asked, "streams read")
			assert.Equal(t, tt.wantPrevious, got, "logs in the request")
			note := "logs of api-0/app: not running; its last attempt is the previous log"
			if tt.wantNote {
				assert.Contains(t, c.Notes, note)
			} else {
				assert.NotContains(t, c.Notes, note)
			}
		})
	}
}
