// Package watcher is the event pipeline: it watches core/v1 Events, selects
// the occurrences each RemediationPolicy asks for, deduplicates, rate-limits
// and cools them down, hands them to a delivery.Deliverer through a bounded
// worker pool, checkpoints what it handled in per-policy ConfigMaps so a
// SIGKILL loses nothing, and reports counters, conditions and metrics.
// docs/architecture-watcher.md describes the design.
package watcher

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrlcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/celevent"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/webhook"
)

// ValidateFunc validates a policy the way the admission webhook does
// (webhook.Validate); old is nil.
type ValidateFunc func(s *config.Settings, old, new *v1alpha1.RemediationPolicy) (field.ErrorList, admission.Warnings)

// Clock is the time source (a fake one in tests).
type Clock interface {
	clock.WithTicker
	clock.WithDelayedExecution
}

// Options tune the watcher; the zero value of each field means its default.
type Options struct {
	// Clock defaults to the real clock.
	Clock Clock
	// Validate runs the webhook's validation on every policy generation;
	// invalid policies get Ready=False/InvalidSpec and are not acted on.
	// Default: webhook.Validate.
	Validate ValidateFunc
	// CompileCEL compiles selector expressions; default celevent.Compile.
	CompileCEL CompileCELFunc
	// CheckpointInterval is how often dirty checkpoints are written (1s).
	CheckpointInterval time.Duration
	// CheckpointBatch writes a policy's checkpoint early once this many
	// outcomes are unsaved (256).
	CheckpointBatch int
	// StatusInterval is how often policy status is written (2s).
	StatusInterval time.Duration
	// EventFieldSelector is one fixed server-side field selector for the
	// Event informer (decision 9: never derived from policies). Empty: all.
	EventFieldSelector string
}

// Option sets an Option field.
type Option func(*Options)

// WithClock sets the clock.
func WithClock(c Clock) Option { return func(o *Options) { o.Clock = c } }

// WithValidate sets the policy validation (webhook.Validate).
func WithValidate(f ValidateFunc) Option { return func(o *Options) { o.Validate = f } }

// WithCEL sets the CEL compiler.
func WithCEL(f CompileCELFunc) Option { return func(o *Options) { o.CompileCEL = f } }

// WithCheckpointInterval sets how often checkpoints are written.
func WithCheckpointInterval(d time.Duration) Option {
	return func(o *Options) { o.CheckpointInterval = d }
}

// WithStatusInterval sets how often status is written.
func WithStatusInterval(d time.Duration) Option { return func(o *Options) { o.StatusInterval = d } }

// WithEventFieldSelector sets the Event informer's fixed field selector.
func WithEventFieldSelector(sel string) Option {
	return func(o *Options) { o.EventFieldSelector = sel }
}

const (
	// maxMessageBytes bounds a cached event's message.
	maxMessageBytes = 2048
	// eventEmitInterval rate-limits Kubernetes Events on a policy per reason.
	eventEmitInterval = 10 * time.Second
)

// Watcher is the event pipeline. It is a leader-only manager.Runnable.
type Watcher struct {
	s        *config.Settings
	d        delivery.Deliverer
	o        Options
	clock    Clock
	client   client.Client
	cache    ctrlcache.Cache
	mapper   meta.RESTMapper
	meta     metadata.Interface
	recorder events.EventRecorder
	store    checkpointStore
	log      logr.Logger

	kubeFactory informers.SharedInformerFactory // Events only
	podFactory  informers.SharedInformerFactory
	metaFactory metadatainformer.SharedInformerFactory
	events      toolscache.SharedIndexInformer
	eventIndex  *eventIndex // kept by the Event handlers: by involved object and UID
	pods        toolscache.SharedIndexInformer
	replicaSets toolscache.SharedIndexInformer
	jobs        toolscache.SharedIndexInformer
	namespaces  toolscache.SharedIndexInformer

	mu       sync.RWMutex
	policies map[types.UID]*policyState

	queue chan *item
	// admitted counts occurrences queued, in flight or held for an
	// unreachable endpoint; it is bounded by queue size + concurrency, so an
	// outage cannot pile up memory: beyond it new events are dropped and
	// counted.
	admitted atomic.Int64
	kick     chan struct{}
	stopping atomic.Bool
	done     chan struct{}
	ready    atomic.Bool

	goneMu   sync.Mutex
	goneMemo map[string]bool // start-up only; nil afterwards

	// afterEvent, when set (tests), runs after each Event was processed.
	afterEvent func(*corev1.Event)
}

// New builds the watcher. It creates (but does not start) its informers, so
// EventsFor can be handed to the enricher before the manager starts. d may be
// nil if SetDeliverer is called before the manager starts.
func New(mgr manager.Manager, s *config.Settings, d delivery.Deliverer, opts ...Option) (*Watcher, error) {
	o := Options{}
	for _, f := range opts {
		f(&o)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Validate == nil {
		o.Validate = webhook.Validate
	}
	if o.CompileCEL == nil {
		o.CompileCEL = func(expr string) (EventMatcher, error) { return celevent.Compile(expr) }
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Second
	}
	if o.CheckpointBatch <= 0 {
		o.CheckpointBatch = 256
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = 2 * time.Second
	}
	kube, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	mc, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("creating metadata client: %w", err)
	}
	registerMetrics()
	w := &Watcher{
		s: s, d: d, o: o, clock: o.Clock,
		client:     mgr.GetClient(),
		cache:      mgr.GetCache(),
		mapper:     mgr.GetRESTMapper(),
		meta:       mc,
		recorder:   mgr.GetEventRecorder("dot-ai-controller"),
		store:      checkpointStore{namespace: s.Namespace, reader: mgr.GetAPIReader(), writer: mgr.GetClient()},
		log:        mgr.GetLogger().WithName("watcher"),
		policies:   map[types.UID]*policyState{},
		queue:      make(chan *item, s.QueueSize),
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		goneMemo:   map[string]bool{},
		eventIndex: newEventIndex(),
	}
	evFactory := informers.NewSharedInformerFactoryWithOptions(kube, 0,
		informers.WithTransform(transform),
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			if o.EventFieldSelector != "" {
				lo.FieldSelector = o.EventFieldSelector
			}
		}))
	w.events = evFactory.Core().V1().Events().Informer()
	w.kubeFactory = evFactory
	podFactory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTransform(transform))
	w.pods = podFactory.Core().V1().Pods().Informer()
	w.metaFactory = metadatainformer.NewSharedInformerFactoryWithOptions(mc, 0, metadatainformer.WithTransform(transform))
	w.replicaSets = w.metaFactory.ForResource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}).Informer()
	w.jobs = w.metaFactory.ForResource(schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}).Informer()
	w.namespaces = w.metaFactory.ForResource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Informer()
	w.podFactory = podFactory
	return w, nil
}

func involvedKey(ns, kind, name string) string { return ns + "/" + kind + "/" + name }

// SetDeliverer sets the Deliverer when it could not be passed to New (the
// enricher inside it needs the watcher's EventsFor first). Call it before the
// manager starts.
func (w *Watcher) SetDeliverer(d delivery.Deliverer) { w.d = d }

// SetupWithManager adds the watcher to mgr as a leader-only runnable.
func (w *Watcher) SetupWithManager(mgr manager.Manager) error {
	return mgr.Add(w)
}

// NeedLeaderElection: only the leader selects, delivers and writes status
// and checkpoints.
func (w *Watcher) NeedLeaderElection() bool { return true }

// EventsFor implements delivery.EventIndex from the informer cache.
func (w *Watcher) EventsFor(namespace, kind, name string) []*corev1.Event {
	records := w.eventIndex.forObject(involvedKey(namespace, kind, name))
	out := make([]*corev1.Event, 0, len(records))
	for _, r := range records {
		out = append(out, r.event())
	}
	return out
}

var _ delivery.EventIndex = (*Watcher)(nil)

// Ready reports whether the watcher finished its start-up: policies and
// checkpoints loaded, caches synced, and the Events of the initial list
// processed.
func (w *Watcher) Ready() bool { return w.ready.Load() }

// transform keeps only what the pipeline and enrichment need in the caches.
func transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Event:
		return newEventRecord(o), nil
	case *corev1.Pod:
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name: o.Name, Namespace: o.Namespace, UID: o.UID, ResourceVersion: o.ResourceVersion,
			OwnerReferences: o.OwnerReferences,
		}}
		p.Status.ContainerStatuses = reduceStatuses(o.Status.ContainerStatuses)
		p.Status.InitContainerStatuses = reduceStatuses(o.Status.InitContainerStatuses)
		return p, nil
	case *metav1.PartialObjectMetadata:
		o.ManagedFields = nil
		o.Annotations = nil
		if o.Kind != "Namespace" && o.APIVersion != "v1" {
			o.Labels = nil
		}
		return o, nil
	}
	return obj, nil
}

func reduceStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, cs := range in {
		out[i].Name = cs.Name
		if w := cs.State.Waiting; w != nil {
			out[i].State.Waiting = &corev1.ContainerStateWaiting{Reason: w.Reason}
		}
		if t := cs.State.Terminated; t != nil {
			out[i].State.Terminated = &corev1.ContainerStateTerminated{Reason: t.Reason, ExitCode: t.ExitCode}
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			out[i].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{Reason: t.Reason, ExitCode: t.ExitCode}
		}
	}
	return out
}

func (w *Watcher) podLookup(namespace, name string) *corev1.Pod {
	obj, ok, err := w.pods.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	p, _ := obj.(*corev1.Pod)
	return p
}

func (w *Watcher) nsLabels(name string) (map[string]string, bool) {
	obj, ok, err := w.namespaces.GetStore().GetByKey(name)
	if err != nil || !ok {
		return nil, false
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return nil, false
	}
	return m.Labels, true
}

func (w *Watcher) ownerLookup(kind, namespace, name string) (*metav1.OwnerReference, bool) {
	key := namespace + "/" + name
	switch kind {
	case "Pod":
		if p := w.podLookup(namespace, name); p != nil {
			return metav1.GetControllerOfNoCopy(p), true
		}
	case "ReplicaSet", "Job":
		inf := w.replicaSets
		if kind == "Job" {
			inf = w.jobs
		}
		if obj, ok, err := inf.GetStore().GetByKey(key); err == nil && ok {
			if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
				return metav1.GetControllerOfNoCopy(m), true
			}
		}
	}
	return nil, false
}

// objectGone reports whether the event's involved object no longer exists
// (checked for events found at start-up only). Pods come from the cache;
// other kinds are read through the metadata API. Errors count as present.
func (w *Watcher) objectGone(ctx context.Context, ev *corev1.Event) bool {
	ref := ev.InvolvedObject
	ns := ref.Namespace
	if ns == "" {
		ns = ev.Namespace
	}
	if ref.Kind == "Pod" {
		p := w.podLookup(ns, ref.Name)
		return p == nil || (ref.UID != "" && p.UID != ref.UID)
	}
	// Other kinds cost an API call; remember answers during start-up (many
	// events name the same object).
	key := involvedKey(ns, ref.Kind, ref.Name) + "/" + string(ref.UID)
	w.goneMu.Lock()
	gone, ok := w.goneMemo[key]
	w.goneMu.Unlock()
	if ok {
		return gone
	}
	gone = w.objectGoneAPI(ctx, ref, ns)
	w.goneMu.Lock()
	if w.goneMemo != nil {
		w.goneMemo[key] = gone
	}
	w.goneMu.Unlock()
	return gone
}

func (w *Watcher) objectGoneAPI(ctx context.Context, ref corev1.ObjectReference, ns string) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || ref.Kind == "" || ref.Name == "" {
		return false
	}
	m, err := w.mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: ref.Kind}, gv.Version)
	if err != nil {
		return false
	}
	var obj *metav1.PartialObjectMetadata
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		obj, err = w.meta.Resource(m.Resource).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	} else {
		obj, err = w.meta.Resource(m.Resource).Get(ctx, ref.Name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return true
	}
	return err == nil && ref.UID != "" && obj.UID != ref.UID
}

func (w *Watcher) eventExists(uid types.UID) bool {
	return w.eventIndex.has(uid)
}

// Start runs the pipeline until ctx ends, then drains in-flight deliveries
// for up to Settings.DrainTimeout and writes the last checkpoints and status.
func (w *Watcher) Start(ctx context.Context) error {
	log := w.log
	if w.d == nil {
		return fmt.Errorf("event watcher has no Deliverer: pass one to New or call SetDeliverer")
	}
	// 1. Policies and their checkpoints, before any event is looked at.
	inf, err := w.cache.GetInformer(ctx, &v1alpha1.RemediationPolicy{})
	if err != nil {
		return fmt.Errorf("getting RemediationPolicy informer: %w", err)
	}
	if !w.cache.WaitForCacheSync(ctx) {
		return fmt.Errorf("waiting for the RemediationPolicy cache: %w", ctx.Err())
	}
	var list v1alpha1.RemediationPolicyList
	if err := w.client.List(ctx, &list); err != nil {
		return fmt.Errorf("listing RemediationPolicies: %w", err)
	}
	for i := range list.Items {
		w.upsertPolicy(ctx, &list.Items[i])
	}
	live := map[types.UID]bool{}
	for _, p := range list.Items {
		live[p.UID] = true
	}
	if err := w.store.garbage(ctx, func(uid types.UID) bool { return live[uid] }); err != nil {
		log.Error(err, "Failed to delete stale checkpoint ConfigMaps")
	}
	reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.onPolicy(ctx, obj) },
		UpdateFunc: func(_, obj any) { w.onPolicy(ctx, obj) },
		DeleteFunc: func(obj any) { w.onPolicyDelete(ctx, obj) },
	})
	if err != nil {
		return fmt.Errorf("adding RemediationPolicy handler: %w", err)
	}
	defer func() { _ = inf.RemoveEventHandler(reg) }()

	// 2. Caches the selection needs (pods, owners, namespaces).
	auxStop := make(chan struct{})
	defer close(auxStop)
	w.podFactory.Start(auxStop)
	w.metaFactory.Start(auxStop)
	if !toolscache.WaitForCacheSync(ctx.Done(), w.pods.HasSynced, w.replicaSets.HasSynced, w.jobs.HasSynced, w.namespaces.HasSynced) {
		return fmt.Errorf("waiting for Pod, ReplicaSet, Job and Namespace caches: %w", ctx.Err())
	}

	// 3. Workers, then the event intake.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopTaking := make(chan struct{})
	var workers sync.WaitGroup
	for range w.s.Concurrency {
		workers.Go(func() { w.worker(workCtx, stopTaking) })
	}
	loopCtx, cancelLoops := context.WithCancel(context.WithoutCancel(ctx))
	var loops sync.WaitGroup
	loops.Go(func() { w.checkpointLoop(loopCtx) })
	loops.Go(func() { w.statusLoop(loopCtx) })

	evReg, err := w.events.AddEventHandler(toolscache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if r, ok := obj.(*eventRecord); ok {
				w.eventIndex.add(r)
				w.onEvent(ctx, r, initial)
			}
		},
		UpdateFunc: func(old, obj any) {
			o, okOld := old.(*eventRecord)
			if r, ok := obj.(*eventRecord); ok && okOld {
				w.eventIndex.update(o, r)
				w.onEvent(ctx, r, false)
			}
		},
		DeleteFunc: w.onEventDelete,
	})
	if err != nil {
		cancelLoops()
		return fmt.Errorf("adding Event handler: %w", err)
	}
	evStop := make(chan struct{})
	w.kubeFactory.Start(evStop)
	if !toolscache.WaitForCacheSync(ctx.Done(), w.events.HasSynced, evReg.HasSynced) {
		log.Info("Stopped before the Event cache synced")
	} else {
		w.goneMu.Lock()
		w.goneMemo = nil
		w.goneMu.Unlock()
		w.ready.Store(true)
		log.Info("Started event watcher", "policies", len(list.Items), "concurrency", w.s.Concurrency, "queueSize", w.s.QueueSize)
	}

	<-ctx.Done()
	// Shutdown: stop intake, let in-flight deliveries finish within the
	// drain period; queued occurrences stay unhandled and are delivered by
	// the next leader (they are not in the checkpoint).
	w.stopping.Store(true)
	close(evStop)
	close(stopTaking)
	close(w.done)
	drained := make(chan struct{})
	go func() { workers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-w.clock.After(w.s.DrainTimeout):
		log.Info("Drain period ended with deliveries in flight; they will be redelivered", "drainTimeout", w.s.DrainTimeout)
		cancelWork()
		<-drained
	}
	cancelLoops()
	loops.Wait()
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	w.flushCheckpoints(final, true)
	w.flushAllStatus(final)
	log.Info("Stopped event watcher")
	return nil
}

func (w *Watcher) onPolicy(ctx context.Context, obj any) {
	if p, ok := obj.(*v1alpha1.RemediationPolicy); ok {
		w.upsertPolicy(ctx, p)
	}
}

func (w *Watcher) onPolicyDelete(ctx context.Context, obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*v1alpha1.RemediationPolicy)
	if !ok {
		return
	}
	w.mu.Lock()
	ps := w.policies[p.UID]
	delete(w.policies, p.UID)
	w.mu.Unlock()
	if ps != nil {
		ps.mu.Lock()
		ps.deleted = true
		ps.mu.Unlock()
	}
	if err := w.store.delete(ctx, p.UID); err != nil {
		w.log.Error(err, "Failed to delete checkpoint ConfigMap", "policy", client.ObjectKeyFromObject(p))
	}
	w.log.Info("Removed RemediationPolicy", "policy", client.ObjectKeyFromObject(p))
}

func (w *Watcher) upsertPolicy(ctx context.Context, p *v1alpha1.RemediationPolicy) {
	w.mu.Lock()
	ps := w.policies[p.UID]
	if ps == nil {
		ps = &policyState{uid: p.UID, key: client.ObjectKeyFromObject(p), pending: map[types.UID]int32{}, lastEmit: map[string]time.Time{}}
		w.policies[p.UID] = ps
	}
	w.mu.Unlock()

	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.deleted {
		return
	}
	now := w.clock.Now()
	suspended := p.Spec.Suspend != nil && *p.Spec.Suspend
	if ps.cp == nil {
		cp, rv, err := w.store.load(ctx, p.UID)
		if err != nil {
			w.log.Error(err, "Failed to load checkpoint; retrying", "policy", ps.key)
			w.clock.AfterFunc(5*time.Second, func() {
				if !w.stopping.Load() {
					w.upsertPolicy(ctx, p)
				}
			})
			return
		}
		if cp == nil {
			cp = newCheckpoint(p.CreationTimestamp.Time)
			cp.Suspended = suspended
			ps.dirty++
		}
		ps.cp, ps.rv = cp, rv
	}
	if ps.policy != nil && ps.policy.Generation == p.Generation {
		ps.policy = p.DeepCopy()
		return
	}
	if ps.cp.Suspended && !suspended {
		// Resumed: events of the suspended period are not delivered later.
		// Event times have one-second resolution, so the resume's second
		// still counts as active.
		ps.cp.Since = now.Truncate(time.Second)
		ps.dirty++
	}
	if ps.cp.Suspended != suspended {
		ps.cp.Suspended = suspended
		ps.dirty++
	}
	ps.suspended = suspended
	var errs field.ErrorList
	if w.o.Validate != nil {
		errs, _ = w.o.Validate(w.s, nil, p)
	}
	compiled, cerrs := compilePolicy(w.s, p, w.o.CompileCEL)
	if len(errs) == 0 { // the webhook's validation already reports regex, CEL and scope errors
		errs = cerrs
	}
	if len(errs) > 0 {
		ps.compiled, ps.invalid = nil, errs.ToAggregate().Error()
		w.log.Info("RemediationPolicy is invalid; not acting on it", "policy", ps.key, "errors", ps.invalid)
	} else {
		ps.compiled, ps.invalid = compiled, ""
	}
	ps.policy = p.DeepCopy()
	ps.statusDirty = true
	w.log.V(1).Info("Loaded RemediationPolicy", "policy", ps.key, "generation", p.Generation, "suspended", suspended)
}

func (w *Watcher) snapshot() []*policyState {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]*policyState, 0, len(w.policies))
	for _, ps := range w.policies {
		out = append(out, ps)
	}
	return out
}

// onEvent runs for every Event add and update (serially: one informer
// handler).
func (w *Watcher) onEvent(ctx context.Context, r *eventRecord, initial bool) {
	if w.stopping.Load() {
		return
	}
	metricSeen.Inc()
	if strings.HasPrefix(r.involvedAPIVersion, v1alpha1.GroupVersion.Group+"/") {
		return // the controller's own events about policies
	}
	ev := r.event()
	now := w.clock.Now()
	var goneKnown, gone bool
	isGone := func() bool {
		if !goneKnown {
			gone, goneKnown = w.objectGone(ctx, ev), true
		}
		return gone
	}
	for _, ps := range w.snapshot() {
		w.process(ctx, ps, ev, initial, now, isGone)
	}
	if w.afterEvent != nil {
		w.afterEvent(ev)
	}
}

// onEventDelete unindexes a deleted Event, so checkpoints stop keeping its
// entry and enrichment stops showing it.
func (w *Watcher) onEventDelete(obj any) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if r, ok := obj.(*eventRecord); ok {
		w.eventIndex.remove(r)
	}
}

func (w *Watcher) process(ctx context.Context, ps *policyState, ev *corev1.Event, initial bool, now time.Time, isGone func() bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.deleted || ps.cp == nil || ps.compiled == nil || ps.suspended {
		return
	}
	idx, err := ps.compiled.match(ctx, ev, w.podLookup, w.nsLabels)
	if err != nil {
		w.log.V(1).Info("CEL expression failed on an event", "policy", ps.key, "error", err.Error())
	}
	if idx < 0 {
		return
	}
	t := eventTime(ev)
	if t.Before(ps.cp.Since) {
		metricSkipped.WithLabelValues("before_policy").Inc()
		return
	}
	count := occurrenceCount(ev)
	if ps.cp.isHandled(ev.UID, count, t) || ps.pending[ev.UID] >= count {
		metricDeduplicated.Inc()
		return
	}
	metricSelected.Inc()
	if initial && isGone() {
		metricSkipped.WithLabelValues("object_gone").Inc()
		w.recordLocked(ps, ev, count, t, now, outcomeSkipped, nil, "involved object no longer exists")
		return
	}
	key := cooldownKey(cooldownObject(ev.InvolvedObject, ev.Namespace, w.ownerLookup), ev.Reason)
	if ps.cp.Cooldowns.active(key, now) {
		metricCooledDown.Inc()
		w.recordLocked(ps, ev, count, t, now, outcomeCooledDown, nil, "cooldown of "+key)
		return
	}
	epm := ps.eventsPerMinute(w.s)
	if !ps.cp.Bucket.take(now, epm) {
		metricRateLimited.Inc()
		ps.dirty++
		w.recordLocked(ps, ev, count, t, now, outcomeRateLimited, nil, fmt.Sprintf("over %d events per minute", epm))
		return
	}
	req := ps.request(w.s, ev, idx, count, now)
	it := &item{ps: ps, req: req, uid: ev.UID, count: count, t: t}
	if w.admit() {
		select {
		case w.queue <- it:
			metricQueueDepth.Inc()
			ps.pending[ev.UID] = count
			ps.cp.Cooldowns.start(key, now, ps.cooldown(w.s))
			ps.dirty++
			return
		default: // full of held events offered again
			w.admitted.Add(-1)
		}
	}
	ps.cp.Bucket.refund(epm)
	ps.lastDrop = now
	metricDropped.Inc()
	w.recordLocked(ps, ev, count, t, now, outcomeDropped, nil, "delivery queue full")
}

// admit reserves room for one more occurrence, queued, in flight or held.
func (w *Watcher) admit() bool {
	if w.admitted.Add(1) > int64(cap(w.queue)+w.s.Concurrency) {
		w.admitted.Add(-1)
		return false
	}
	return true
}

// item is one queued occurrence.
type item struct {
	ps    *policyState
	req   delivery.Request
	uid   types.UID
	count int32
	t     time.Time
}

func (w *Watcher) worker(ctx context.Context, stopTaking <-chan struct{}) {
	for {
		select {
		case <-stopTaking:
			return
		case it := <-w.queue:
			metricQueueDepth.Dec()
			select {
			case <-stopTaking:
				return // not delivered, not checkpointed: the next leader delivers it
			default:
			}
			w.deliver(ctx, it)
		}
	}
}

func (w *Watcher) deliver(ctx context.Context, it *item) {
	ps := it.ps
	ps.mu.Lock()
	deleted := ps.deleted
	ps.mu.Unlock()
	if deleted {
		w.admitted.Add(-1)
		return
	}
	metricLatency.Observe(w.clock.Since(it.req.SeenAt).Seconds())
	metricInFlight.Inc()
	res := w.d.Deliver(ctx, it.req)
	metricInFlight.Dec()
	if ctx.Err() != nil {
		w.admitted.Add(-1)
		return // cut off by the drain timeout: redelivered after restart
	}
	if res.RequeueAfter > 0 {
		if res.ConditionReason != "" {
			ps.mu.Lock()
			if ps.condReason != res.ConditionReason || ps.condMessage != res.ConditionMessage {
				ps.condReason, ps.condMessage = res.ConditionReason, res.ConditionMessage
				ps.statusDirty = true
			}
			ps.mu.Unlock()
		}
		// Held, not dropped: the admitted slot stays taken until an outcome.
		metricHeld.Inc()
		w.clock.AfterFunc(res.RequeueAfter, func() {
			metricHeld.Dec()
			if w.stopping.Load() {
				return
			}
			select {
			case w.queue <- it:
				metricQueueDepth.Inc()
			case <-w.done:
			}
		})
		return
	}
	w.admitted.Add(-1)
	now := w.clock.Now()
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.pending[it.uid] == it.count {
		delete(ps.pending, it.uid)
	}
	if ps.deleted {
		return
	}
	out := res.Outcome
	var outcome string
	switch out.Result {
	case v1alpha1.OutcomeAnalysisCompleted:
		outcome = outcomeAnalysis
	case v1alpha1.OutcomeRemediationSucceeded:
		outcome = outcomeSucceeded
	case v1alpha1.OutcomeRemediationFailed:
		outcome = outcomeFailed
	default:
		outcome = outcomeDelivFailed
		out.Result = v1alpha1.OutcomeDeliveryFailed
	}
	if out.Time.IsZero() {
		out.Time = metav1.NewTime(now)
	}
	ev := it.req.Event
	if out.Event == "" {
		out.Event = ev.Namespace + "/" + ev.Name
	}
	if out.Reason == "" {
		out.Reason = ev.Reason
	}
	if out.InvolvedObject == "" {
		out.InvolvedObject = ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name
	}
	metricDeliveries.WithLabelValues(outcome).Inc()
	ps.condReason, ps.condMessage = res.ConditionReason, res.ConditionMessage
	w.recordLocked(ps, ev, it.count, it.t, now, outcome, &out, out.Message)
}

// recordLocked counts one occurrence's outcome and marks it handled.
func (w *Watcher) recordLocked(ps *policyState, ev *corev1.Event, count int32, t, now time.Time, outcome string, out *v1alpha1.RemediationOutcome, msg string) {
	ps.cp.markHandled(ev.UID, count, t)
	ps.dirty++
	ps.delta.add(outcome)
	metricOutcomes.WithLabelValues(outcome).Inc()
	ps.lastProcessed = now
	ps.statusDirty = true
	if out != nil {
		ps.recent = append([]v1alpha1.RemediationOutcome{*out}, ps.recent...)
		if len(ps.recent) > v1alpha1.MaxRecentOutcomes {
			ps.recent = ps.recent[:v1alpha1.MaxRecentOutcomes]
		}
	}
	if ps.dirty >= w.o.CheckpointBatch {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	// One Kubernetes Event per policy and outcome per eventEmitInterval.
	if last, ok := ps.lastEmit[outcome]; ok && now.Sub(last) < eventEmitInterval {
		return
	}
	ps.lastEmit[outcome] = now
	if ps.policy == nil {
		return
	}
	typ := corev1.EventTypeNormal
	switch outcome {
	case outcomeFailed, outcomeDelivFailed, outcomeDropped:
		typ = corev1.EventTypeWarning
	}
	note := fmt.Sprintf("Event %s/%s (%s %s/%s): %s", ev.Namespace, ev.Name, ev.Reason, ev.InvolvedObject.Kind, ev.InvolvedObject.Name, outcome)
	if msg != "" {
		note += ": " + msg
	}
	if len(note) > 1000 {
		note = note[:1000]
	}
	w.recorder.Eventf(ps.policy, nil, typ, eventReason(outcome), "Process", "%s", note)
}

func eventReason(outcome string) string {
	switch outcome {
	case outcomeAnalysis:
		return "AnalysisCompleted"
	case outcomeSucceeded:
		return "RemediationSucceeded"
	case outcomeFailed:
		return "RemediationFailed"
	case outcomeDelivFailed:
		return "DeliveryFailed"
	case outcomeRateLimited:
		return "RateLimited"
	case outcomeCooledDown:
		return "CooledDown"
	case outcomeDropped:
		return "Dropped"
	default:
		return "Skipped"
	}
}
