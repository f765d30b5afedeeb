// Command dot-ai-controller is the one binary of the product: admission
// webhooks for RemediationPolicy, the event watcher, context enrichment and
// the dot-ai MCP client, run by one controller-runtime manager.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"go.uber.org/zap/zapcore"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/remediation"
	"dot-ai.io/controller/internal/version"
	"dot-ai.io/controller/internal/watcher"
	"dot-ai.io/controller/internal/webhook"
)

var (
	scheme   = kruntime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
}

// options are the process-level flags; installation settings live in
// config.Settings.
type options struct {
	metricsAddr      string
	metricsSecure    bool
	probeAddr        string
	pprofAddr        string
	webhookHost      string
	webhookPort      int
	webhookCertDir   string
	enableHTTP2      bool
	leaderElect      bool
	leaderElectionID string
	leaseDuration    time.Duration
	renewDeadline    time.Duration
	retryPeriod      time.Duration
	gracefulShutdown time.Duration
	showVersion      bool
	kubeconfig       string
	kubeAPIQPS       float64
	kubeAPIBurst     int
	readAPIQPS       float64
	readAPIBurst     int
	logAPIQPS        float64
	logAPIBurst      int
	memoryLimit      int64
	gcPercent        int
	watchStall       time.Duration
	zap              zap.Options
	settings         config.Settings
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dot-ai-controller:", err)
		os.Exit(2)
	}
	if opts.showVersion {
		fmt.Println(version.Version)
		return
	}
	setupProcess(opts, os.Stderr)
	if err := run(ctrl.SetupSignalHandler(), opts); err != nil {
		setupLog.Error(err, "Controller stopped with an error")
		os.Exit(1)
	}
}

// setupProcess sets what is process-wide before run: the logger, writing
// to logs, and heap sampling. The enrichment benchmark's child calls it too,
// so the figures include the logger's cost.
func setupProcess(opts *options, logs io.Writer) {
	if opts.pprofAddr == "" {
		// Nothing can read a heap profile without the pprof endpoint; its
		// sampling kept a bucket per allocation site (1.8 MB in the storm).
		runtime.MemProfileRate = 0
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.zap), zap.WriteTo(logs)))
}

// parseFlags parses args strictly: an unknown flag, a stray argument or an
// invalid setting is an error. Flags not given fall back to DOT_AI_* env.
func parseFlags(args []string, lookupEnv func(string) (string, bool)) (*options, error) {
	o := &options{settings: config.Default()}
	fs := flag.NewFlagSet("dot-ai-controller", flag.ContinueOnError)
	fs.StringVar(&o.metricsAddr, config.FlagMetricsBindAddress, config.AllInterfaces(config.DefaultMetricsPort), "Address of the metrics endpoint; \"0\" disables it.")
	fs.BoolVar(&o.metricsSecure, config.FlagMetricsSecure, true, "Serve metrics over HTTPS with authentication and authorization.")
	fs.StringVar(&o.probeAddr, config.FlagHealthProbeBindAddress, config.AllInterfaces(config.DefaultHealthProbePort), "Address of /healthz and /readyz.")
	fs.StringVar(&o.pprofAddr, config.FlagPprofBindAddress, "", "Address of Go's /debug/pprof profiles (heap, CPU, goroutines), for diagnosing memory and CPU; empty disables it. Unauthenticated: bind it to 127.0.0.1 and reach it with kubectl port-forward.")
	fs.StringVar(&o.webhookHost, config.FlagWebhookHost, "", "Address the admission webhook server binds; empty means all interfaces.")
	fs.IntVar(&o.webhookPort, config.FlagWebhookPort, config.DefaultWebhookPort, "Port of the admission webhook server.")
	fs.StringVar(&o.webhookCertDir, config.FlagWebhookCertDir, "/tmp/k8s-webhook-server/serving-certs", "Directory with tls.crt and tls.key (the cert-manager Secret); reloaded on rotation.")
	fs.BoolVar(&o.enableHTTP2, config.FlagEnableHTTP2, false, "Enable HTTP/2 for the webhook and metrics servers (off: HTTP/2 Rapid Reset, CVE-2023-44487, CVE-2023-39325).")
	fs.BoolVar(&o.leaderElect, config.FlagLeaderElect, true, "Use a Lease so only one replica delivers events.")
	fs.StringVar(&o.leaderElectionID, config.FlagLeaderElectionID, "dot-ai-controller.remediation.dot-ai.io", "Name of the leader Lease.")
	fs.DurationVar(&o.leaseDuration, config.FlagLeaderElectLeaseDuration, 15*time.Second, "Leader lease duration.")
	fs.DurationVar(&o.renewDeadline, config.FlagLeaderElectRenewDeadline, 10*time.Second, "Leader renew deadline.")
	fs.DurationVar(&o.retryPeriod, config.FlagLeaderElectRetryPeriod, 2*time.Second, "Leader election retry period.")
	fs.DurationVar(&o.gracefulShutdown, config.FlagGracefulShutdownTimeout, 45*time.Second, "How long the manager waits for runnables (including the delivery drain) on shutdown.")
	fs.BoolVar(&o.showVersion, config.FlagVersion, false, "Print the version and exit.")
	fs.StringVar(&o.kubeconfig, config.FlagKubeconfig, "", "Path to a kubeconfig; empty uses $KUBECONFIG or the in-cluster service account.")
	fs.Float64Var(&o.kubeAPIQPS, config.FlagKubeAPIQPS, config.DefaultKubeAPIQPS, "Client-side limit of requests per second of the controller's own client (status, checkpoint and record writes, Secret reads, leader election); -1: none, the API server's priority and fairness decides.")
	fs.IntVar(&o.kubeAPIBurst, config.FlagKubeAPIBurst, config.DefaultKubeAPIBurst, "Burst of the controller's own client.")
	fs.Float64Var(&o.readAPIQPS, config.FlagEnrichmentAPIQPS, config.DefaultEnrichmentAPIQPS, "Client-side limit of enrichment reads per second (objects, owners, Pods, related events; their own client); -1: none, the worker pool bounds them and the API server's priority and fairness decides.")
	fs.IntVar(&o.readAPIBurst, config.FlagEnrichmentAPIBurst, config.DefaultEnrichmentAPIBurst, "Burst of enrichment reads.")
	fs.Float64Var(&o.logAPIQPS, config.FlagLogAPIQPS, config.DefaultLogAPIQPS, "Client-side limit of container log reads per second (their own client); -1: none, the worker pool bounds them and the API server's priority and fairness decides.")
	fs.IntVar(&o.logAPIBurst, config.FlagLogAPIBurst, config.DefaultLogAPIBurst, "Burst of container log reads.")
	fs.Int64Var(&o.memoryLimit, config.FlagMemoryLimit, 0, "The container's memory limit in bytes (the chart passes limits.memory); the Go heap is kept under 90% of it unless GOMEMLIMIT is set. 0: none.")
	fs.IntVar(&o.gcPercent, config.FlagGCPercent, config.DefaultGCPercent, "Go garbage collector target percentage (GOGC) unless the GOGC variable is set; lower keeps the heap tighter for a little more CPU; while the cluster's Events are listed (start-up, relists) the target is at most 20. Range 10-500.")
	fs.DurationVar(&o.watchStall, config.FlagEventWatchStallTimeout, config.DefaultEventWatchStallTimeout, "The leader's liveness fails when its Event watch has neither opened, delivered an Event nor a bookmark for this long (a healthy watch re-opens at least every 10 minutes; bookmarks come every minute only where the API server caches Events); 0 disables the check.")
	o.settings.BindFlags(fs)
	o.zap = zap.Options{Development: false, TimeEncoder: zapcore.ISO8601TimeEncoder}
	o.zap.BindFlags(fs)

	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err := config.ApplyEnv(fs, lookupEnv); err != nil {
		return nil, err
	}
	if err := o.settings.Validate(); err != nil {
		return nil, fmt.Errorf("invalid settings: %w", err)
	}
	if o.gcPercent < 10 || o.gcPercent > 500 {
		return nil, fmt.Errorf("--gc-percent must be between 10 and 500, got %d", o.gcPercent)
	}
	if o.watchStall < 0 {
		return nil, fmt.Errorf("--%s must not be negative, got %s", config.FlagEventWatchStallTimeout, o.watchStall)
	}
	if o.memoryLimit < 0 {
		return nil, fmt.Errorf("--memory-limit must not be negative, got %d", o.memoryLimit)
	}
	// The watcher drains for --drain-timeout, then needs up to
	// shutdownWriteBudget for its last checkpoint and status writes.
	if least := o.settings.DrainTimeout + shutdownWriteBudget; o.gracefulShutdown < least {
		return nil, fmt.Errorf("--graceful-shutdown-timeout (%s) must be at least --drain-timeout + %s (%s)", o.gracefulShutdown, shutdownWriteBudget, least)
	}
	return o, nil
}

// softMemoryLimit is the Go heap's soft limit for a container memory limit:
// 90%, leaving room for stacks and runtime memory outside the heap. Near it
// the garbage collector works harder instead of letting the heap double, so
// an event storm slows the controller down rather than getting it OOM-killed.
func softMemoryLimit(containerLimit int64) int64 {
	return containerLimit / 10 * 9
}

// listGCPercent is the collector's target while the watcher lists the
// cluster's Events (start-up, relists): the reflector then holds a stub of
// every Event at once and each decoded Event is garbage right away, so that
// list is the peak of the controller's memory; collecting at +20% there
// lowers the peak at 100,000 Events for a few seconds of collector CPU
// (docs/benchmarks.md, "Memory without an Event cache").
const listGCPercent = 20

// listGC returns the watcher's OnList: the collector's target is
// listGCPercent while a list runs and gcPercent otherwise. Nil when GOGC
// is set (the operator's choice wins) or gcPercent is that low already.
func listGC(gcPercent int) func(listing bool) {
	if _, set := os.LookupEnv("GOGC"); set || gcPercent <= listGCPercent {
		return nil
	}
	return func(listing bool) {
		if listing {
			debug.SetGCPercent(listGCPercent)
		} else {
			debug.SetGCPercent(gcPercent)
		}
	}
}

// shutdownWriteBudget is the time the watcher takes after its drain to write
// its last checkpoints and status.
const shutdownWriteBudget = 10 * time.Second

func run(ctx context.Context, o *options) error {
	setupLog.Info("Starting dot-ai-controller", "version", version.Version, "namespace", o.settings.Namespace)
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(o.gcPercent)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		if soft := softMemoryLimit(o.memoryLimit); soft > 0 {
			debug.SetMemoryLimit(soft)
			setupLog.Info("Soft memory limit set", "bytes", soft, "containerLimit", o.memoryLimit)
		}
	}
	mgr, err := setupManager(o)
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := setupWebhooks(mgr, &o.settings); err != nil {
		return fmt.Errorf("setting up webhooks: %w", err)
	}
	webhook.ReportCertificateExpiry(o.webhookCertDir)
	w, err := setupPipeline(mgr, &o.settings, apiLimits{qps: o.readAPIQPS, burst: o.readAPIBurst}, apiLimits{qps: o.logAPIQPS, burst: o.logAPIBurst},
		watcher.WithOnList(listGC(o.gcPercent)))
	if err != nil {
		return fmt.Errorf("setting up the event pipeline: %w", err)
	}
	if o.watchStall > 0 && o.watchStall <= config.ReflectorMaxWatchTimeout {
		setupLog.Info("Event watch stall timeout is within a watch's lifetime: unless the API server caches Events (and sends bookmarks), a quiet cluster may restart a healthy leader", "eventWatchStallTimeout", o.watchStall, "maxWatchTimeout", config.ReflectorMaxWatchTimeout)
	}
	if err := setupChecks(mgr, w.WatchLivenessCheck(o.watchStall)); err != nil {
		return fmt.Errorf("setting up health checks: %w", err)
	}
	return mgr.Start(ctx)
}

func tlsOptions(enableHTTP2 bool) []func(*tls.Config) {
	opts := []func(*tls.Config){func(c *tls.Config) { c.MinVersion = tls.VersionTLS12 }}
	if !enableHTTP2 {
		opts = append(opts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	return opts
}

func setupManager(o *options) (manager.Manager, error) {
	tlsOpts := tlsOptions(o.enableHTTP2)
	metricsOpts := metricsserver.Options{
		BindAddress:   o.metricsAddr,
		SecureServing: o.metricsSecure,
		TLSOpts:       tlsOpts,
	}
	if o.metricsSecure {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	restCfg, err := restConfig(o)
	if err != nil {
		return nil, err
	}
	return ctrl.NewManager(restCfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsOpts,
		Cache:   remediation.ManagerCache(),
		WebhookServer: ctrlwebhook.NewServer(ctrlwebhook.Options{
			Host:    o.webhookHost,
			Port:    o.webhookPort,
			CertDir: o.webhookCertDir,
			TLSOpts: tlsOpts,
		}),
		HealthProbeBindAddress:     o.probeAddr,
		PprofBindAddress:           o.pprofAddr,
		LeaderElection:             o.leaderElect,
		LeaderElectionID:           o.leaderElectionID,
		LeaderElectionNamespace:    o.settings.Namespace,
		LeaderElectionResourceLock: resourcelock.LeasesResourceLock,
		LeaseDuration:              &o.leaseDuration,
		RenewDeadline:              &o.renewDeadline,
		RetryPeriod:                &o.retryPeriod,
		GracefulShutdownTimeout:    &o.gracefulShutdown,
	})
}

func restConfig(o *options) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if o.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	} else {
		cfg, err = ctrl.GetConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("loading Kubernetes client configuration: %w", err)
	}
	cfg.QPS = float32(o.kubeAPIQPS)
	cfg.Burst = o.kubeAPIBurst
	cfg.UserAgent = version.UserAgent()
	return cfg, nil
}

// setupChecks makes readiness wait for the webhook server, so the Service
// only routes admission requests to a replica that can answer them, and
// liveness fail on a leader whose Event watch stalled (watch), so the
// kubelet restarts it. A stall never touches readiness: every replica serves
// the webhooks, and the leader may be the only one.
func setupChecks(mgr manager.Manager, watch healthz.Checker) error {
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("event-watch", watch); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker())
}
