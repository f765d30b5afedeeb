package watcher

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/healthz"
)

// Watch activity of the Event watch, for dotai_event_watch_activity_timestamp_seconds
// and the leader's liveness check: no store sees bookmarks, so the
// ListerWatcher (eventListWatch) records every watch event. A healthy watch
// re-opens at least every 10 minutes (bookmarks for Events come only where
// the API server caches them); one that neither opens, delivers an Event
// nor a bookmark for longer is stalled (config.DefaultEventWatchStallTimeout).
const (
	activityOpened   = "opened"
	activityEvent    = "event"
	activityBookmark = "bookmark"
)

// watchActivity remembers the latest activity of one watcher's Event watch
// (the metric is shared by the process; the liveness check must not read
// another watcher's).
type watchActivity struct {
	now  func() time.Time
	last atomic.Int64 // Unix nanoseconds of the latest opening, Event or bookmark
}

func (a *watchActivity) observe(kind string) {
	t := a.now()
	a.last.Store(t.UnixNano())
	metricWatchActivity.WithLabelValues(kind).Set(float64(t.UnixNano()) / 1e9)
}

// WatchLivenessCheck is the liveness check of the Event watch: it fails while
// this watcher leads, has finished its start-up and its Event watch has
// neither opened, delivered an Event nor a bookmark for longer than stall,
// so the kubelet restarts a stuck leader and a standby takes over. A standby
// (the watcher never started), a leader still starting up (its initial list
// may take long on a big cluster) and a leader shutting down always pass.
// The clock starts at the first check that sees the watcher ready, so a
// watch that never opened after the start-up is stalled too. stall 0
// disables the check.
func (w *Watcher) WatchLivenessCheck(stall time.Duration) healthz.Checker {
	var since atomic.Int64 // Unix nanoseconds when a check first saw the watcher ready
	var reported atomic.Bool
	return func(*http.Request) error {
		if stall <= 0 || !w.Ready() || w.stopping.Load() {
			return nil
		}
		now := w.activity.now()
		since.CompareAndSwap(0, now.UnixNano())
		last := max(w.activity.last.Load(), since.Load())
		idle := now.Sub(time.Unix(0, last))
		if idle <= stall {
			if reported.Swap(false) {
				w.log.Info("Event watch resumed")
			}
			return nil
		}
		if !reported.Swap(true) {
			w.log.Info("Event watch stalled: failing liveness so that a standby takes over", "idle", idle.Round(time.Second), "stallTimeout", stall)
		}
		return fmt.Errorf("event watch stalled: no opening, Event or bookmark for %s (bound %s)", idle.Round(time.Second), stall)
	}
}
