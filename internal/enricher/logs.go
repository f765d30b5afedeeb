package enricher

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"dot-ai.io/controller/internal/policy"
)

// LogSource opens a container log stream.
type LogSource interface {
	Stream(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

// KubeLogs reads logs through the apiserver (pods/log).
type KubeLogs struct{ Client kubernetes.Interface }

// Stream implements LogSource.
func (k KubeLogs) Stream(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return k.Client.CoreV1().Pods(namespace).GetLogs(pod, opts).Stream(ctx)
}

// maxLineBytes caps one log line; longer lines are cut with a marker.
const maxLineBytes = 1024

// readTail reads at most readLimit bytes of r as lines, redacts them and
// keeps the newest lines that fit in keepBytes. Memory stays bounded by
// keepBytes plus one buffer whatever r produces. truncated reports that
// lines or bytes were left out.
func readTail(r io.Reader, keepBytes int, readLimit int64) (lines []string, truncated bool, err error) {
	lr := &io.LimitedReader{R: r, N: readLimit}
	br := bufio.NewReaderSize(lr, 4096)
	var red redactor
	size := 0
	for {
		raw, rerr := br.ReadSlice('\n')
		line := string(raw)
		if errors.Is(rerr, bufio.ErrBufferFull) {
			// A long line: keep its start, skip the rest.
			for errors.Is(rerr, bufio.ErrBufferFull) {
				_, rerr = br.ReadSlice('\n')
			}
			line = line[:maxLineBytes]
			line = strings.ToValidUTF8(line, "") + "…"
		} else if len(line) > maxLineBytes {
			line = strings.ToValidUTF8(line[:maxLineBytes], "") + "…"
		}
		line = strings.TrimRight(line, "\r\n")
		if line != "" || len(raw) > 0 {
			if out, keep := red.line(strings.ToValidUTF8(line, "\uFFFD")); keep && (out != "" || rerr == nil) {
				lines = append(lines, out)
				size += len(out) + 1
				for size > keepBytes && len(lines) > 0 {
					size -= len(lines[0]) + 1
					lines[0] = ""
					lines = lines[1:]
					truncated = true
				}
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				if lr.N <= 0 {
					// Stopped at the read limit: the last line is partial.
					truncated = true
					if len(raw) > 0 && len(lines) > 0 {
						lines = lines[:len(lines)-1]
					}
				}
				return compact(lines), truncated, nil
			}
			return compact(lines), true, rerr
		}
	}
}

// compact copies lines so the dropped head's backing array is released.
func compact(lines []string) []string {
	if len(lines) == 0 {
		return nil
	}
	return append(make([]string, 0, len(lines)), lines...)
}

// kubeletLogErrors start the text a kubelet writes into a log response it
// already answered with HTTP 200 when it cannot read the log, e.g. a crash
// loop's previous container during the back-off (observed with kubelet
// v1.37: "unable to retrieve container logs for containerd://…").
var kubeletLogErrors = []string{
	"unable to retrieve container logs for ",
	"failed to try resolving symlinks in path ",
}

// kubeletLogError reports whether lines are such a kubelet answer rather
// than the container's output.
func kubeletLogError(lines []string) bool {
	if len(lines) != 1 {
		return false
	}
	for _, p := range kubeletLogErrors {
		if strings.HasPrefix(lines[0], p) {
			return true
		}
	}
	return false
}

// logs reads the Pods' container logs within the total budget.
func (e *Enricher) logs(ctx context.Context, pods []*corev1.Pod, g policy.ContextGathering) ([]ContainerLog, []string) {
	type stream struct {
		pod       *corev1.Pod
		container string
		previous  bool
		// terminated is the ID of the container the stream reads when
		// that container has terminated (its log is final), else "".
		terminated string
	}
	var streams []stream
	var notes []string
	for _, p := range pods {
		restarts := map[string]int32{}
		statuses := map[string]*corev1.ContainerStatus{}
		for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
			restarts[cs.Name] = cs.RestartCount
			statuses[cs.Name] = &cs
		}
		var names []string
		for _, c := range p.Spec.InitContainers {
			if restarts[c.Name] > 0 || failedInit(p, c.Name) {
				names = append(names, c.Name)
			}
		}
		for _, c := range p.Spec.Containers {
			names = append(names, c.Name)
		}
		for _, n := range names {
			current := stream{p, n, false, terminatedID(statuses[n], false)}
			if g.IncludePreviousLogs && restarts[n] > 0 {
				previous := stream{p, n, true, terminatedID(statuses[n], true)}
				if current.terminated != "" && current.terminated == previous.terminated {
					// Not running again yet (the crash loop's back-off): the
					// kubelet would serve the previous container twice.
					notes = append(notes, fmt.Sprintf("logs of %s/%s: not running; its last attempt is the previous log", p.Name, n))
					streams = append(streams, previous)
					continue
				}
				streams = append(streams, current, previous)
				continue
			}
			streams = append(streams, current)
		}
	}
	if len(streams) > e.opts.MaxLogStreams {
		notes = append(notes, fmt.Sprintf("logs: %d of %d container log streams read", e.opts.MaxLogStreams, len(streams)))
		streams = streams[:e.opts.MaxLogStreams]
	}
	if len(streams) == 0 {
		return nil, notes
	}
	per := max(int(g.MaxLogBytes)/len(streams), 256)
	results := make([]logResult, len(streams))
	var wg sync.WaitGroup
	limits := logLimits{tail: int64(g.LogLines), keep: per}
	now := e.opts.Clock.Now()
	for i, s := range streams {
		// A terminated container's log is final: read once with these limits.
		if r, ok := e.memory.get(s.terminated, now); ok && r.limits == limits {
			results[i] = logResult{lines: slices.Clone(r.lines), truncated: r.truncated, remembered: true}
			continue
		}
		wg.Go(func() {
			readLimit, tail := int64(per)*4, limits.tail
			opts := &corev1.PodLogOptions{Container: s.container, TailLines: &tail, LimitBytes: &readLimit, Previous: s.previous}
			key := fmt.Sprintf("log/%s/%s/%s/%t/%d/%d", s.pod.Namespace, s.pod.Name, s.container, s.previous, tail, per)
			v, err := e.reads.do(ctx, key, func(ctx context.Context) (any, error) {
				return e.readLog(ctx, s.pod, opts, per, readLimit), nil
			})
			if err != nil {
				results[i] = logResult{err: err}
				return
			}
			results[i] = v.(logResult)
		})
	}
	wg.Wait()
	var out []ContainerLog
	for i, s := range streams {
		r := results[i]
		which := s.pod.Name + "/" + s.container
		if s.previous {
			which += " (previous)"
		}
		switch {
		case r.err != nil:
			if len(r.lines) == 0 {
				if !e.remembered(s.pod, s.container, s.previous, s.terminated, which, &out, &notes) {
					notes = append(notes, "logs of "+which+": "+short(r.err))
				}
				continue
			}
			notes = append(notes, "logs of "+which+": "+short(r.err))
		case len(r.lines) == 0:
			notes = append(notes, "logs of "+which+": empty")
			continue
		}
		if kubeletLogError(r.lines) {
			if !e.remembered(s.pod, s.container, s.previous, s.terminated, which, &out, &notes) {
				notes = append(notes, "logs of "+which+": unavailable (the kubelet no longer has them)")
			}
			continue
		}
		if r.err == nil && !r.remembered {
			e.memory.put(s.terminated, r.lines, r.truncated, limits, now)
		}
		out = append(out, ContainerLog{Pod: s.pod.Name, Container: s.container, Previous: s.previous, Lines: r.lines, Truncated: r.truncated})
	}
	return out, notes
}

// logResult is one log stream as read: shared between the events of one
// container within the share window, so read-only.
type logResult struct {
	lines     []string
	truncated bool
	err       error
	// remembered: taken from the memory of terminated containers' logs.
	remembered bool
}

// readLog reads one container log stream.
func (e *Enricher) readLog(ctx context.Context, pod *corev1.Pod, opts *corev1.PodLogOptions, keep int, readLimit int64) logResult {
	rc, err := e.opts.Logs.Stream(ctx, pod.Namespace, pod.Name, opts)
	if err != nil {
		return logResult{err: err}
	}
	defer func() { _ = rc.Close() }()
	lines, truncated, err := readTail(rc, keep, readLimit)
	return logResult{lines: lines, truncated: truncated, err: err}
}

// remembered adds the lines an earlier enrichment read from the terminated
// container id, which the kubelet no longer serves, with a note saying when
// they were read. It reports whether it had them.
func (e *Enricher) remembered(p *corev1.Pod, container string, previous bool, id, which string, out *[]ContainerLog, notes *[]string) bool {
	r, ok := e.memory.get(id, e.opts.Clock.Now())
	if !ok {
		return false
	}
	*out = append(*out, ContainerLog{Pod: p.Name, Container: container, Previous: previous, Lines: slices.Clone(r.lines), Truncated: r.truncated})
	*notes = append(*notes, "logs of "+which+": read at "+r.at.UTC().Format(time.RFC3339)+" by an earlier enrichment (the kubelet no longer has them)")
	return true
}

func failedInit(p *corev1.Pod, name string) bool {
	for _, cs := range p.Status.InitContainerStatuses {
		if cs.Name == name {
			return cs.State.Waiting != nil || (cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0)
		}
	}
	return false
}
