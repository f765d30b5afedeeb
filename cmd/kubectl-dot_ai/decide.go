package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

func newDecide(flags *genericclioptions.ConfigFlags, streams genericclioptions.IOStreams, d v1alpha1.ApprovalDecision) *cobra.Command {
	var reason string
	verb, short := "approve", "Approve a proposal: the controller executes its commands once, with dot-ai's privileges"
	if d == v1alpha1.DecisionReject {
		verb, short = "reject", "Reject a proposal: nothing is executed"
	}
	cmd := &cobra.Command{
		Use:   verb + " NAME [--reason TEXT]",
		Short: short,
		Long: short + `.

The decision is set in the record's spec.approval. The admission webhook admits it only from a user who holds the verb
"approve" on remediations in the namespace (the remediation-approver ClusterRole), only once, and only while the record
is AwaitingApproval; it records who decided and when.`,
		Args: exactlyOneName,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(flags)
			if err != nil {
				return err
			}
			return decide(cmd.Context(), s, streams.Out, args[0], d, reason)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, kept with the decision (up to 512 characters)")
	return cmd
}

// decide sets spec.approval on record name. The patch carries the
// resourceVersion read, so a decision taken meanwhile makes it conflict
// instead of being overwritten.
func decide(ctx context.Context, s *session, out io.Writer, name string, d v1alpha1.ApprovalDecision, reason string) error {
	r, err := getRecord(ctx, s, name)
	if err != nil {
		return err
	}
	if a := r.Spec.Approval; a != nil {
		return fmt.Errorf("remediation %s/%s was already decided: %s by %s at %s; a decision is taken once", r.Namespace, r.Name, a.Decision, a.DecidedBy, stamp(a.DecidedAt))
	}
	if r.Status.Phase != v1alpha1.PhaseAwaitingApproval {
		return fmt.Errorf("remediation %s/%s is %s: only a proposal awaiting approval can be decided", r.Namespace, r.Name, r.EffectivePhase())
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": r.ResourceVersion},
		"spec":     map[string]any{"approval": v1alpha1.RemediationApproval{Decision: d, Reason: reason}},
	})
	if err != nil {
		return err
	}
	err = s.c.Patch(ctx, r, client.RawPatch(types.MergePatchType, patch))
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("you may not patch remediation %s/%s (deciding needs the remediation-approver ClusterRole): %w", r.Namespace, r.Name, err)
	case apierrors.IsConflict(err):
		return fmt.Errorf("remediation %s/%s changed while deciding (someone else may have decided); see kubectl dot-ai describe %s -n %s: %w",
			r.Namespace, r.Name, r.Name, r.Namespace, err)
	case apierrors.IsInvalid(err):
		return fmt.Errorf("the decision was refused: %w", err)
	case err != nil:
		return err
	}
	a := r.Spec.Approval
	p := &printer{w: out}
	p.printf("remediation %s/%s: %s by %s at %s\n", r.Namespace, r.Name, pastTense(a.Decision), a.DecidedBy, stamp(a.DecidedAt))
	if d == v1alpha1.DecisionApprove {
		p.printf("The controller executes it once; follow it with: kubectl dot-ai describe %s -n %s\n", r.Name, r.Namespace)
	}
	return p.err
}

func pastTense(d v1alpha1.ApprovalDecision) string {
	if d == v1alpha1.DecisionReject {
		return "rejected"
	}
	return "approved"
}
