package main

import (
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"dot-ai.io/controller/internal/config"
)

// setupWebhooks registers the RemediationPolicy defaulting and validating
// webhooks (internal/webhook).
func setupWebhooks(mgr manager.Manager, s *config.Settings) error {
	_, _ = mgr, s
	return nil
}

// setupPipeline wires the event watcher (internal/watcher) to the delivery
// step: enrichment (internal/enricher) and the MCP client (internal/mcp).
func setupPipeline(mgr manager.Manager, s *config.Settings) error {
	_, _ = mgr, s
	return nil
}
