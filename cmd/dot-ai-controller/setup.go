package main

import (
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery/dotai"
	"dot-ai.io/controller/internal/delivery/guard"
	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/kubeclient"
	"dot-ai.io/controller/internal/mcp"
	"dot-ai.io/controller/internal/notify"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/relatedevents"
	"dot-ai.io/controller/internal/remediation"
	"dot-ai.io/controller/internal/state"
	"dot-ai.io/controller/internal/watcher"
	"dot-ai.io/controller/internal/webhook"
)

// setupWebhooks registers the RemediationPolicy and Remediation defaulting and validating
// webhooks (internal/webhook) on the manager's webhook server. That server
// reads tls.crt/tls.key from --webhook-cert-dir through controller-runtime's
// certwatcher, so a rotated cert-manager Secret is picked up without a
// restart.
func setupWebhooks(mgr manager.Manager, s *config.Settings) error {
	if err := (&webhook.RemediationPolicyWebhook{Settings: s, Ledger: ledger(mgr, s)}).SetupWebhookWithManager(mgr); err != nil {
		return err
	}
	return (&webhook.RemediationWebhook{ControllerUsername: s.ControllerUsername()}).SetupWebhookWithManager(mgr)
}

// ledger is where the validating webhook records admitted specs and the
// watcher checks them (decision 20 (docs/design/decisions.md#d20)), in the
// controller's state in the release namespace; reads are uncached.
func ledger(mgr manager.Manager, s *config.Settings) *state.Ledger {
	return &state.Ledger{Store: &state.Store{Namespace: s.Namespace, Reader: mgr.GetAPIReader(), Writer: mgr.GetClient()}}
}

// apiLimits are a client's client-side rate limits (QPS -1: none).
type apiLimits struct {
	qps   float64
	burst int
}

// limitedClient is a client of its own, with its own rate limiter.
func limitedClient(mgr manager.Manager, l apiLimits) (kubernetes.Interface, error) {
	return kubeclient.New(mgr.GetConfig(), float32(l.qps), l.burst)
}

// setupPipeline wires the event watcher (internal/watcher) to the delivery
// step: enrichment (internal/enricher) and the MCP client (internal/mcp).
// Enrichment reads (objects, owners, Pods, and related events where the
// bounded index cannot answer: the watcher caches no Events) and log reads
// each have their own client and limiter (reads, logs), so neither can
// starve the other nor the controller's writes. It returns the watcher for
// its liveness check.
func setupPipeline(mgr manager.Manager, s *config.Settings, reads, logs apiLimits, opts ...watcher.Option) (*watcher.Watcher, error) {
	kube, err := limitedClient(mgr, reads)
	if err != nil {
		return nil, fmt.Errorf("creating the enrichment client: %w", err)
	}
	logKube, err := limitedClient(mgr, logs)
	if err != nil {
		return nil, fmt.Errorf("creating the log client: %w", err)
	}
	mcpClient, err := mcp.New(mcp.Options{Timeout: s.MCPTimeout, CAFile: s.MCPCAFile, BreakerCooldown: s.MCPBreakerCooldown})
	if err != nil {
		return nil, fmt.Errorf("creating MCP client: %w", err)
	}
	// Related events come from an index the watcher's intake feeds; what
	// it cannot vouch for is listed (docs/design/related-events.md).
	related := relatedevents.New(relatedevents.Options{Fallback: enricher.APIEvents{Client: kube}})
	// The enricher reads the objects' resourceVersions from the watcher's
	// caches, and the notifier reports each destination's health on the
	// policy through the watcher: both are built before it.
	var w *watcher.Watcher
	versions := enricher.VersionsFunc(func(kind, namespace, name string) (string, bool) {
		if w == nil {
			return "", false
		}
		return w.ResourceVersion(kind, namespace, name)
	})
	dotaiDeliverer := dotai.New(dotai.Options{
		Settings: s,
		Enricher: enricher.New(enricher.Options{Kube: kube, Events: related, Versions: versions, Logs: enricher.KubeLogs{Client: logKube}}),
		Client:   mcpClient,
		Secrets:  mgr.GetAPIReader(), // uncached: RBAC grants get on Secrets, never list/watch
		Log:      mgr.GetLogger().WithName("delivery"),
	})
	// The guardrails come first, so a refused occurrence costs no log reads.
	deliverer := guard.New(dotaiDeliverer, s, clock.RealClock{})
	// Remediation records: written by the watcher, acted on by the executor
	// (approvals) and the sweeper (expiry, retention).
	records, err := watcher.NewRecords(mgr, s)
	if err != nil {
		return nil, fmt.Errorf("setting up the Remediation records: %w", err)
	}
	if err := (&remediation.Executor{Records: records, MCP: mcpClient, Tokens: dotaiDeliverer, Settings: s, Policies: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the Remediation executor: %w", err)
	}
	// An automatic-mode call of a deleted policy is Interrupted only once no
	// live process can still be making it (remediation.InFlightBound).
	inFlight := remediation.InFlightBound(mcpClient.MaxCallDuration(), s.MCPOutageHold, s.MCPBreakerCooldown)
	if err := mgr.Add(&remediation.Sweeper{Records: records, List: mgr.GetClient(), InFlightBound: inFlight}); err != nil {
		return nil, fmt.Errorf("adding the Remediation sweeper: %w", err)
	}
	notifier := notify.New(s.Notifications, mgr.GetAPIReader(), notify.Options{ // uncached: get on Secrets only
		Journal: &notify.StateJournal{Store: &state.Store{Namespace: s.Namespace, Reader: mgr.GetAPIReader(), Writer: mgr.GetClient()}},
		OnStatus: func(p types.NamespacedName, kind policy.DestinationKind, ok bool, reason, msg string) {
			if w != nil {
				w.NotificationStatus(p, kind, ok, reason, msg)
			}
		},
		// The watcher's checkpoints account for every item (decision 21 (docs/design/decisions.md#d21)).
		OnEnded: func(p types.NamespacedName, uid types.UID, kind policy.DestinationKind, o notify.Outcome, seqs []uint64, messageID string) {
			if w != nil {
				w.NotificationEnded(p, uid, kind, o, seqs, messageID)
			}
		},
		Log: mgr.GetLogger().WithName("notify"),
	})
	opts = append(opts, watcher.WithLedger(ledger(mgr, s)), watcher.WithNotifier(notifier), watcher.WithRecords(records),
		watcher.WithEventIndex(related))
	w, err = watcher.New(mgr, s, deliverer, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating event watcher: %w", err)
	}
	if err := mgr.Add(notifier); err != nil {
		return nil, fmt.Errorf("adding the notifier: %w", err)
	}
	if err := w.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return w, nil
}
