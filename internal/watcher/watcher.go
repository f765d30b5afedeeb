// Package watcher is the event pipeline: it watches core/v1 Events, selects
// the occurrences each RemediationPolicy asks for, deduplicates, rate-limits
// and cools them down, hands them to a delivery.Deliverer through a bounded
// worker pool, checkpoints what it handled (with the outcome counters) in
// ControllerState objects so a SIGKILL loses nothing, writes an intent before
// every automatic-mode call so none is ever sent twice, and reports
// counters, conditions and metrics.
// docs/architecture-watcher.md describes the design.
package watcher

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
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

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/admitted"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/kubeclient"
	"dot-ai.io/controller/internal/kubeevents"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/remediation"
	"dot-ai.io/controller/internal/state"
)

// Clock is the time source (a fake one in tests).
type Clock interface {
	clock.WithTicker
	clock.WithDelayedExecution
}

// Options tune the watcher; the zero value of each field means its default.
type Options struct {
	// Clock defaults to the real clock.
	Clock Clock
	// CompileCEL compiles selector expressions; default celevent.Compile.
	CompileCEL policy.CompileCELFunc
	// CheckpointInterval is how often dirty checkpoints are written (1s).
	CheckpointInterval time.Duration
	// CheckpointBatch writes a policy's checkpoint early once this many
	// outcomes are unsaved (256).
	CheckpointBatch int
	// StatusInterval is how often policy status is written (2s).
	StatusInterval time.Duration
	// EventFieldSelector is one fixed server-side field selector for the
	// Event informer (decision 9 (docs/design/decisions.md#d9): never derived from policies). Empty: all.
	EventFieldSelector string
	// Ledger, when set, is where the validating webhook recorded the
	// admitted specs: a policy whose spec is not recorded is InvalidSpec
	// (decision 20 (docs/design/decisions.md#d20)). Nil checks nothing
	// (tests that create policies without the webhook).
	Ledger admitted.Ledger
	// Notifier, when set, is told of recorded outcomes and started calls
	// of policies with spec.notifications.
	Notifier Notifier
	// Records writes the Remediation records of delivered occurrences;
	// default: one built from the manager and the settings.
	Records *remediation.Records
	// EventIndex, when set, is fed every Event of the intake
	// (relatedevents.Index, which the enricher reads). Not fed under an
	// EventFieldSelector: it would miss the other Events, so it never
	// becomes complete and its lookups fall back.
	EventIndex EventIndex
	// OnList, when set, is told when a list of the cluster's Events starts
	// (true: start-up, relists) and when its Events were all processed
	// (false): the binary tightens the garbage collector meanwhile.
	OnList func(listing bool)
}

// Option sets an Option field.
type Option func(*Options)

// WithClock sets the clock.
func WithClock(c Clock) Option { return func(o *Options) { o.Clock = c } }

// WithCEL sets the CEL compiler.
func WithCEL(f policy.CompileCELFunc) Option { return func(o *Options) { o.CompileCEL = f } }

// WithCheckpointInterval sets how often checkpoints are written.
func WithCheckpointInterval(d time.Duration) Option {
	return func(o *Options) { o.CheckpointInterval = d }
}

// WithStatusInterval sets how often status is written.
func WithStatusInterval(d time.Duration) Option { return func(o *Options) { o.StatusInterval = d } }

// WithLedger makes the watcher act only on admitted specs.
func WithLedger(l admitted.Ledger) Option { return func(o *Options) { o.Ledger = l } }

// WithRecords sets the writer of Remediation records (shared with the
// Remediation reconciler).
func WithRecords(r *remediation.Records) Option { return func(o *Options) { o.Records = r } }

// WithEventIndex feeds idx every Event the watcher sees.
func WithEventIndex(idx EventIndex) Option { return func(o *Options) { o.EventIndex = idx } }

// WithOnList sets Options.OnList.
func WithOnList(f func(listing bool)) Option { return func(o *Options) { o.OnList = f } }

// WithEventFieldSelector sets the Event informer's fixed field selector.
func WithEventFieldSelector(sel string) Option {
	return func(o *Options) { o.EventFieldSelector = sel }
}

// Watcher is the event pipeline. It is a leader-only manager.Runnable.
type Watcher struct {
	settings  *config.Settings
	deliverer delivery.Deliverer
	opts      Options
	clock     Clock
	client    client.Client
	cache     ctrlcache.Cache
	mapper    meta.RESTMapper
	meta      metadata.Interface
	recorder  events.EventRecorder
	store     *state.Store
	records   *remediation.Records
	log       logr.Logger

	kube        kubernetes.Interface
	eventTweak  func(*metav1.ListOptions) // the Event watch's fixed field selector
	podFactory  informers.SharedInformerFactory
	metaFactory metadatainformer.SharedInformerFactory
	activity    *watchActivity // of the Event watch: the metric and WatchLivenessCheck
	eventSet    *eventSet      // UIDs of the existing Events (eventintake.go)
	index       EventIndex     // fed by the intake; nil: none
	pods        toolscache.SharedIndexInformer
	workloads   map[schema.GroupKind]toolscache.SharedIndexInformer // metadata-only owners (objects.go)
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
	// podOwners remembers the owners of Pods that showed a problem
	// (podowners.go).
	podOwners podOwnerRecord

	// afterEvent, when set (tests), runs after each Event was processed.
	afterEvent func(*corev1.Event)
}

// New builds the watcher. It creates (but does not start) its informers.
// d delivers every selected occurrence.
func New(mgr manager.Manager, s *config.Settings, d delivery.Deliverer, opts ...Option) (*Watcher, error) {
	o := Options{}
	for _, f := range opts {
		f(&o)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.CompileCEL == nil {
		o.CompileCEL = policy.CompileCEL
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
	cfg := mgr.GetConfig()
	kube, err := kubeclient.New(cfg, cfg.QPS, cfg.Burst)
	if err != nil {
		return nil, fmt.Errorf("creating Kubernetes client: %w", err)
	}
	mc, err := metadata.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("creating metadata client: %w", err)
	}
	recorder, err := kubeevents.ForManager(mgr, controllerName)
	if err != nil {
		return nil, err
	}
	updater, err := state.NewUpdater(mgr.GetConfig(), mgr.GetScheme(), mgr.GetHTTPClient())
	if err != nil {
		return nil, err
	}
	w := &Watcher{
		settings: s, deliverer: d, opts: o, clock: o.Clock,
		client:     mgr.GetClient(),
		cache:      mgr.GetCache(),
		mapper:     mgr.GetRESTMapper(),
		meta:       mc,
		recorder:   recorder,
		store:      &state.Store{Namespace: s.Namespace, Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(), Updater: updater},
		log:        mgr.GetLogger().WithName("watcher"),
		policies:   map[types.UID]*policyState{},
		queue:      make(chan *item, s.QueueSize),
		kick:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		goneMemo:   map[string]bool{},
		kube:       kube,
		eventSet:   newEventSet(),
		activity:   &watchActivity{now: time.Now}, // wall time: metrics are compared with Prometheus' time()
		eventTweak: func(lo *metav1.ListOptions) { lo.FieldSelector = eventFieldSelector(o.EventFieldSelector) },
	}
	if o.EventIndex != nil && o.EventFieldSelector == "" {
		w.index = o.EventIndex
	}
	w.eventSet.replaced = w.listEnded
	w.records = o.Records
	if w.records == nil {
		if w.records, err = NewRecords(mgr, s); err != nil {
			return nil, err
		}
	}
	podFactory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithTransform(transform))
	w.pods = podFactory.Core().V1().Pods().Informer()
	w.metaFactory = metadatainformer.NewSharedInformerFactoryWithOptions(mc, 0, metadatainformer.WithTransform(transform))
	w.workloads = newWorkloadInformers(w.metaFactory)
	w.namespaces = w.metaFactory.ForResource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Informer()
	w.podFactory = podFactory
	return w, nil
}

// controllerName reports the controller's Kubernetes Events.
const controllerName = "dot-ai-controller"

// NewRecords is the writer of Remediation records for the manager's
// clients and the installation's settings.
func NewRecords(mgr manager.Manager, s *config.Settings) (*remediation.Records, error) {
	recorder, err := kubeevents.ForManager(mgr, controllerName)
	if err != nil {
		return nil, err
	}
	return &remediation.Records{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
		Sealer:   &remediation.Sealer{Namespace: s.Namespace, Name: s.Remediations.SealSecret, Reader: mgr.GetAPIReader(), Writer: mgr.GetClient()},
		Index:    remediation.NewIndex(),
		Settings: s.Remediations,
		Recorder: recorder,
		Clock:    clock.RealClock{},
		Log:      mgr.GetLogger().WithName("remediation"),
	}, nil
}

// SetupWithManager adds the watcher to mgr as a leader-only runnable.
func (w *Watcher) SetupWithManager(mgr manager.Manager) error {
	return mgr.Add(w)
}

// NeedLeaderElection is true: only the leader selects, delivers and writes
// status and checkpoints.
func (w *Watcher) NeedLeaderElection() bool { return true }

// Ready reports whether the watcher finished its start-up: policies and
// checkpoints loaded, caches synced, and the Events of the initial list
// processed.
func (w *Watcher) Ready() bool { return w.ready.Load() }

// Start runs the pipeline until ctx ends, then drains in-flight deliveries
// for up to Settings.DrainTimeout and writes the last checkpoints and status.
func (w *Watcher) Start(ctx context.Context) error {
	log := w.log
	// 1. Policies and their checkpoints, before any event is looked at.
	inf, err := w.cache.GetInformer(ctx, &v1alpha1.RemediationPolicy{})
	if err != nil {
		return fmt.Errorf("getting RemediationPolicy informer: %w", err)
	}
	if !w.cache.WaitForCacheSync(ctx) {
		return fmt.Errorf("waiting for the RemediationPolicy cache: %w", ctx.Err())
	}
	if err := w.records.Watch(ctx, w.cache); err != nil {
		return err
	}
	var list v1alpha1.RemediationPolicyList
	if err := w.client.List(ctx, &list); err != nil {
		return fmt.Errorf("listing RemediationPolicies: %w", err)
	}
	for i := range list.Items {
		w.upsertPolicy(ctx, &list.Items[i])
	}
	exportPolicyConditions(w.client)
	defer exportPolicyConditions(nil)
	live := map[types.UID]bool{}
	for _, p := range list.Items {
		live[p.UID] = true
	}
	if err := w.store.Garbage(ctx, func(uid types.UID) bool { return live[uid] }, w.clock.Now()); err != nil {
		log.Error(err, "Failed to delete the state of deleted policies")
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

	// 2. Caches the selection needs (pods, owners, namespaces), and the
	// owners of Pods with problems, remembered by an earlier process.
	if err := w.loadPodOwners(ctx); err != nil {
		log.Error(err, "Failed to read the record of Pods' owners; Events of Pods deleted meanwhile are skipped")
	}
	auxStop := make(chan struct{})
	defer close(auxStop)
	w.podFactory.Start(auxStop)
	w.metaFactory.Start(auxStop)
	synced := []toolscache.InformerSynced{w.pods.HasSynced, w.namespaces.HasSynced}
	for _, inf := range w.workloads {
		synced = append(synced, inf.HasSynced)
	}
	if !toolscache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("waiting for the Pod, Namespace and workload caches: %w", ctx.Err())
	}
	// Added once the owners are cached, so a Pod's owner chain resolves; the
	// Pods already cached are replayed as adds.
	podReg, err := w.pods.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    w.observePod,
		UpdateFunc: func(_, obj any) { w.observePod(obj) },
	})
	if err != nil {
		return fmt.Errorf("adding Pod handler: %w", err)
	}
	defer func() { _ = w.pods.RemoveEventHandler(podReg) }()

	// 3. Workers, then the event intake.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopTaking := make(chan struct{})
	var workers sync.WaitGroup
	for range w.settings.Concurrency {
		workers.Go(func() { w.worker(workCtx, stopTaking) })
	}
	loopCtx, cancelLoops := context.WithCancel(context.WithoutCancel(ctx))
	var loops sync.WaitGroup
	loops.Go(func() { w.checkpointLoop(loopCtx) })
	loops.Go(func() { w.statusLoop(loopCtx) })

	evCtx, stopEvents := context.WithCancel(ctx)
	var reflecting sync.WaitGroup
	reflecting.Go(func() { w.newEventReflector(ctx, w.kube, w.eventTweak).RunWithContext(evCtx) })
	select {
	case <-ctx.Done():
		log.Info("Stopped before the initial Events were processed")
	case <-w.eventSet.synced:
		w.goneMu.Lock()
		w.goneMemo = nil
		w.goneMu.Unlock()
		w.ready.Store(true)
		log.Info("Started event watcher", "policies", len(list.Items), "events", w.eventSet.len(), "concurrency", w.settings.Concurrency, "queueSize", w.settings.QueueSize)
	}

	<-ctx.Done()
	// Shutdown: stop intake, let in-flight deliveries finish within the
	// drain period; queued occurrences stay unhandled and are delivered by
	// the next leader (they are not in the checkpoint). A call cut off by the
	// drain timeout is re-sent by the next leader in manual mode and ends as
	// Interrupted in automatic mode (deliver).
	w.stopping.Store(true)
	stopEvents()
	reflecting.Wait()
	if w.index != nil {
		w.index.Reset() // no longer fed: draining deliveries list instead
	}
	close(stopTaking)
	close(w.done)
	drained := make(chan struct{})
	go func() { workers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-w.clock.After(w.settings.DrainTimeout):
		log.Info("Drain period ended with deliveries in flight; manual-mode ones will be re-sent, automatic-mode ones end as Interrupted", "drainTimeout", w.settings.DrainTimeout)
		cancelWork()
		<-drained
	}
	cancelLoops()
	loops.Wait()
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	w.flushCheckpoints(final, true)
	w.flushPodOwners(final)
	w.flushAllStatus(final)
	log.Info("Stopped event watcher")
	return nil
}
