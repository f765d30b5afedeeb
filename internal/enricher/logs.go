package enricher

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
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
