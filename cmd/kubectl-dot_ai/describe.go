package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"dot-ai.io/controller/api/v1alpha1"
)

func newDescribe(flags *genericclioptions.ConfigFlags, streams genericclioptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a Remediation record: the event, dot-ai's analysis, the proposed actions with their commands and risk, the decision and what ran",
		Args:  exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(flags)
			if err != nil {
				return err
			}
			r, err := getRecord(cmd.Context(), s, args[0])
			if err != nil {
				return err
			}
			return describe(streams.Out, r, time.Now())
		},
	}
}

func exactlyOneName(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return errNoName
	}
	return nil
}

// describe prints r for a person deciding on it: what happened, what dot-ai
// proposes (each command as it would run), and how to decide.
func describe(w io.Writer, r *v1alpha1.Remediation, now time.Time) error {
	p := &printer{w: w}
	st := &r.Status
	field := func(label, format string, args ...any) {
		if label != "" {
			label += ":"
		}
		p.printf("%-12s %s\n", label, fmt.Sprintf(format, args...))
	}
	field("Name", "%s", r.Name)
	field("Namespace", "%s", r.Namespace)
	phase := string(r.EffectivePhase())
	if st.Phase == v1alpha1.PhaseAwaitingApproval && st.ExpiresAt != nil {
		phase += fmt.Sprintf(" (expires %s, in %s)", stamp(st.ExpiresAt), duration.HumanDuration(st.ExpiresAt.Sub(now)))
	}
	field("Phase", "%s", phase)
	if st.Message != "" {
		field("Message", "%s", st.Message)
	}
	field("Policy", "%s/%s", r.Spec.Policy.Namespace, r.Spec.Policy.Name)
	ev := r.Spec.Event
	field("Event", "%s on %s (%s, count %d, %s)", ev.Reason, objectOf(r), ev.Name, ev.Count, stamp(ev.Time))
	if ev.Message != "" {
		field("", "%s", ev.Message)
	}
	field("Mode", "%s", r.Spec.Mode)
	field("Session", "%s", orDash(st.SessionID))
	field("Created", "%s (%s ago)", stamp(&r.CreationTimestamp), duration.HumanDuration(now.Sub(r.CreationTimestamp.Time)))
	if a := st.Analysis; a != nil {
		p.printf("\nAnalysis:\n")
		p.printf("  Root cause:  %s\n", orDash(a.RootCause))
		p.printf("  Confidence:  %s\n", confidence(r))
		for _, f := range a.Factors {
			p.printf("  - %s\n", f)
		}
	}
	if pr := st.Proposal; pr != nil {
		p.printf("\nProposal (risk %s): %s\n", orDash(string(pr.Risk)), pr.Summary)
		for i, a := range pr.Actions {
			p.printf("  %d. %s [risk %s]\n", i+1, a.Description, orDash(string(a.Risk)))
			if a.Command != "" {
				p.printf("     $ %s\n", a.Command)
			}
			if a.Rationale != "" {
				p.printf("     Why: %s\n", a.Rationale)
			}
		}
	}
	p.printf("\nDecision:   ")
	switch a := r.Spec.Approval; {
	case a != nil:
		p.printf("%s by %s at %s", a.Decision, orDash(a.DecidedBy), stamp(a.DecidedAt))
		if a.Reason != "" {
			p.printf(" (%s)", a.Reason)
		}
		p.printf("\n")
	case st.Phase == v1alpha1.PhaseAwaitingApproval:
		p.printf("none yet. The commands above run with dot-ai's privileges, once, if approved:\n")
		p.printf("  kubectl dot-ai approve %s -n %s\n  kubectl dot-ai reject %s -n %s --reason \"...\"\n", r.Name, r.Namespace, r.Name, r.Namespace)
	default:
		p.printf("none (nothing to decide in phase %s)\n", phase)
	}
	if ex := st.Execution; ex != nil {
		p.printf("\nExecution (started %s):\n", stamp(ex.StartedAt))
		for _, c := range ex.ExecutedCommands {
			p.printf("  $ %s\n", c)
		}
		for _, res := range ex.Results {
			outcome := "ok"
			if !res.Success {
				outcome = "FAILED"
			}
			p.printf("  - %s: %s\n", outcome, res.Action)
			for _, text := range []string{res.Output, res.Error} {
				if text != "" {
					p.printf("    %s\n", strings.ReplaceAll(strings.TrimSpace(text), "\n", "\n    "))
				}
			}
		}
		if ex.ValidationSucceeded != nil {
			v := "succeeded"
			if !*ex.ValidationSucceeded {
				v = "failed"
			}
			p.printf("  Validation %s: %s\n", v, ex.ValidationSummary)
		}
	}
	if st.CompletedAt != nil {
		p.printf("\nCompleted:  %s\n", stamp(st.CompletedAt))
	}
	return p.err
}

func stamp(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
