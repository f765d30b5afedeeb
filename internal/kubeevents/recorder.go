// Package kubeevents posts the controller's Kubernetes Events
// (events.k8s.io/v1) from a bounded queue.
//
// client-go's events broadcaster keeps every Event it posted for 6 to 12
// minutes, to detect series of the same Event, and starts two goroutines
// per Event. The controller posts one Event per Remediation record phase
// change, on an object of its own, so no two are a series: at 100 deliveries
// a second that cache held some 40,000 Events (tens of MiB) for nothing
// (issue 20, docs/benchmarks.md). This recorder keeps nothing once an Event
// is posted, and drops (and counts) Events when its queue is full, so a slow
// apiserver never holds a delivery.
package kubeevents

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	eventsclient "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/reference"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"dot-ai.io/controller/internal/kubeclient"
)

const (
	// QueueSize is how many Events may wait to be posted.
	QueueSize = 1000
	// Workers post Events in parallel: an Event create takes a few
	// milliseconds, so two keep up with several hundred a second.
	Workers     = 2
	postTimeout = 10 * time.Second
)

var metricEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "dotai_kubernetes_events_total",
	Help: "Kubernetes Events the controller recorded on its objects, by result: posted, failed (the API refused or timed out), dropped (the queue was full).",
}, []string{"result"})

func init() { ctrlmetrics.Registry.MustRegister(metricEvents) }

// Recorder implements client-go's events.EventRecorder. Start it (a
// manager Runnable) to post what it records.
type Recorder struct {
	client     eventsclient.EventsGetter
	scheme     *runtime.Scheme
	controller string
	instance   string
	queue      chan *eventsv1.Event
	clock      clock.PassiveClock
	log        logr.Logger
}

var _ events.EventRecorder = &Recorder{}

// New returns a recorder reporting as controller from this host.
func New(c eventsclient.EventsGetter, scheme *runtime.Scheme, controller string, log logr.Logger) *Recorder {
	host, _ := os.Hostname() // the Pod's name in a cluster; empty is valid
	return &Recorder{client: c, scheme: scheme, controller: controller, instance: host,
		queue: make(chan *eventsv1.Event, QueueSize), clock: clock.RealClock{}, log: log}
}

// Eventf queues an Event about regarding; it never blocks.
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		r.log.Error(err, "Cannot name the object of an Event", "reason", reason)
		return
	}
	var rel *corev1.ObjectReference
	if related != nil {
		rel, _ = reference.GetReference(r.scheme, related) // optional: without it the Event still says what happened
	}
	now := r.clock.Now()
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	ev := &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", ref.Name, now.UnixNano()), Namespace: ns},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             rel,
		Note:                fmt.Sprintf(note, args...),
		Type:                eventtype,
	}
	select {
	case r.queue <- ev:
	default:
		metricEvents.WithLabelValues("dropped").Inc()
	}
}

// Start posts queued Events until ctx ends.
func (r *Recorder) Start(ctx context.Context) error {
	done := make(chan struct{})
	for range Workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-r.queue:
					r.post(ctx, ev)
				}
			}
		}()
	}
	for range Workers {
		<-done
	}
	return nil
}

// NeedLeaderElection is false: any replica may record Events on what it did.
func (r *Recorder) NeedLeaderElection() bool { return false }

func (r *Recorder) post(ctx context.Context, ev *eventsv1.Event) {
	ctx, cancel := context.WithTimeout(ctx, postTimeout)
	defer cancel()
	if _, err := r.client.Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		metricEvents.WithLabelValues("failed").Inc()
		r.log.V(1).Info("Kubernetes Event not posted", "reason", ev.Reason, "regarding", ev.Regarding.Name, "error", err.Error())
		return
	}
	metricEvents.WithLabelValues("posted").Inc()
}

// ForManager returns a recorder with mgr's clients, added to mgr so it
// posts while mgr runs.
func ForManager(mgr manager.Manager, controller string) (*Recorder, error) {
	cfg := mgr.GetConfig()
	c, err := kubeclient.New(cfg, cfg.QPS, cfg.Burst) // protobuf, as for the controller's other built-in types
	if err != nil {
		return nil, fmt.Errorf("creating the events client: %w", err)
	}
	r := New(c.EventsV1(), mgr.GetScheme(), controller, mgr.GetLogger().WithName("events"))
	if err := mgr.Add(r); err != nil {
		return nil, err
	}
	return r, nil
}
