package config

import (
	"flag"
	"fmt"
	"slices"
	"strings"

	"dot-ai.io/controller/api/v1alpha1"
)

// AllNamespaces in Guardrails.AutomaticModeNamespaces allows automatic mode
// in every namespace.
const AllNamespaces = "*"

// Guardrails bound what a policy may ask for and what the installation spends
// on analyses (the chart's guardrails block). The admission webhook rejects a
// policy beyond them and the delivery path enforces them again before every
// call, as settings can change after a policy was admitted.
type Guardrails struct {
	// AutomaticModeNamespaces are the namespaces whose policies may use mode
	// automatic; AllNamespaces allows all. Empty means the cluster-policy
	// namespaces.
	AutomaticModeNamespaces []string
	// MaxRiskLevel is the highest maxRiskLevel of a policy in a namespace
	// that NamespaceMaxRiskLevels does not name.
	MaxRiskLevel v1alpha1.RiskLevel `validate:"oneof=low medium high"`
	// NamespaceMaxRiskLevels overrides MaxRiskLevel per namespace.
	NamespaceMaxRiskLevels map[string]v1alpha1.RiskLevel `validate:"dive,keys,required,endkeys,oneof=low medium high"`
	// CallsPerHour bounds the analysis calls of the whole installation in
	// any hour.
	CallsPerHour int `validate:"gte=1,lte=1000000"`
	// NamespaceCallsPerHour bounds the analysis calls about the events of
	// one namespace in any hour.
	NamespaceCallsPerHour int `validate:"gte=1,lte=1000000"`
}

// AutomaticModeAllowed reports whether policies in ns may use mode automatic.
func (s *Settings) AutomaticModeAllowed(ns string) bool {
	if len(s.Guardrails.AutomaticModeNamespaces) == 0 {
		return s.IsClusterPolicyNamespace(ns)
	}
	return slices.Contains(s.Guardrails.AutomaticModeNamespaces, AllNamespaces) ||
		slices.Contains(s.Guardrails.AutomaticModeNamespaces, ns)
}

// AutomaticModeNamespaces are the namespaces AutomaticModeAllowed admits,
// for messages.
func (s *Settings) AutomaticModeNamespaces() []string {
	if len(s.Guardrails.AutomaticModeNamespaces) == 0 {
		return s.ClusterPolicyNamespaceList()
	}
	return s.Guardrails.AutomaticModeNamespaces
}

// MaxRiskLevelFor is the highest maxRiskLevel a policy in ns may use.
func (s *Settings) MaxRiskLevelFor(ns string) v1alpha1.RiskLevel {
	if l, ok := s.Guardrails.NamespaceMaxRiskLevels[ns]; ok {
		return l
	}
	return s.Guardrails.MaxRiskLevel
}

// RiskAbove reports whether level is a known risk level above limit. An
// unknown level is not compared: the enum check reports it.
func RiskAbove(level, limit v1alpha1.RiskLevel) bool {
	r := level.Rank()
	return r > 0 && r > limit.Rank()
}

func (g *Guardrails) bindFlags(fs *flag.FlagSet) {
	listFlag(fs, &g.AutomaticModeNamespaces, FlagAutomaticModeNamespaces, "Comma-separated namespaces whose policies may use mode automatic; * means every namespace (default: the cluster-policy namespaces).")
	fs.Func(FlagMaxRiskLevel, "Highest maxRiskLevel of a policy in a namespace --namespace-max-risk-levels does not name (low|medium|high; default "+string(g.MaxRiskLevel)+").", func(v string) error {
		g.MaxRiskLevel = v1alpha1.RiskLevel(v)
		return nil
	})
	fs.Func(FlagNamespaceMaxRiskLevels, "Comma-separated namespace=level pairs overriding --max-risk-level per namespace.", func(v string) error {
		m, err := parseRiskLevels(v)
		g.NamespaceMaxRiskLevels = m
		return err
	})
	fs.IntVar(&g.CallsPerHour, FlagAnalysisCallsPerHour, g.CallsPerHour, "Analysis calls the installation may make in any hour; beyond it events end as budgetExceeded.")
	fs.IntVar(&g.NamespaceCallsPerHour, FlagNamespaceAnalysisCallsPerHour, g.NamespaceCallsPerHour, "Analysis calls about one namespace's events in any hour; beyond it events end as budgetExceeded.")
}

func parseRiskLevels(v string) (map[string]v1alpha1.RiskLevel, error) {
	m := map[string]v1alpha1.RiskLevel{}
	for _, pair := range splitList(v) {
		ns, level, ok := strings.Cut(pair, "=")
		if !ok || ns == "" {
			return nil, fmt.Errorf("%q is not namespace=level", pair)
		}
		m[strings.TrimSpace(ns)] = v1alpha1.RiskLevel(strings.TrimSpace(level))
	}
	return m, nil
}
