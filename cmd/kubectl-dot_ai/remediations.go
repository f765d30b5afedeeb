package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"dot-ai.io/controller/api/v1alpha1"
)

// session is what every Remediation command needs: a client with the
// user's kubeconfig and the namespace kubectl would use.
type session struct {
	c         client.Client
	namespace string
}

func newSession(flags *genericclioptions.ConfigFlags) (*session, error) {
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		return nil, err
	}
	ns, _, err := flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, err
	}
	return &session{c: c, namespace: ns}, nil
}

type listOptions struct {
	allNamespaces bool
	allPhases     bool
}

func newList(flags *genericclioptions.ConfigFlags, streams genericclioptions.IOStreams) *cobra.Command {
	o := &listOptions{}
	cmd := &cobra.Command{
		Use:   "list [-n NAMESPACE | -A]",
		Short: "List the proposals awaiting a decision (Remediation records in phase AwaitingApproval)",
		Long: `list shows the Remediation records in phase AwaitingApproval, in the current namespace, or with -A in every
namespace you may list them in. --all-phases shows every record, whatever its phase.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := newSession(flags)
			if err != nil {
				return err
			}
			return o.run(cmd.Context(), s, streams.Out)
		},
	}
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list in every namespace you may list records in")
	cmd.Flags().BoolVar(&o.allPhases, "all-phases", false, "list records in every phase, not only AwaitingApproval")
	return cmd
}

// listPageSize bounds one list request; retention keeps a namespace's
// records in the hundreds.
const listPageSize = 500

func (o *listOptions) run(ctx context.Context, s *session, out io.Writer) error {
	var recs []v1alpha1.Remediation
	var skipped []string
	var err error
	if o.allNamespaces {
		recs, skipped, err = listVisible(ctx, s.c)
	} else {
		recs, err = listIn(ctx, s.c, s.namespace)
		if apierrors.IsForbidden(err) {
			err = fmt.Errorf("you may not list remediations in namespace %s (the remediation-viewer ClusterRole grants it; "+
				"it is aggregated to view by default): %w", s.namespace, err)
		}
	}
	if err != nil {
		return err
	}
	if !o.allPhases {
		recs = slices.DeleteFunc(recs, func(r v1alpha1.Remediation) bool { return r.Status.Phase != v1alpha1.PhaseAwaitingApproval })
	}
	slices.SortFunc(recs, func(a, b v1alpha1.Remediation) int {
		return cmpOr(strings.Compare(a.Namespace, b.Namespace), a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
	})
	p := &printer{w: out}
	if len(recs) == 0 {
		what := "No proposals awaiting a decision"
		if o.allPhases {
			what = "No Remediation records"
		}
		where := " in namespace " + s.namespace
		if o.allNamespaces {
			where = " in the namespaces you may list"
		}
		p.printf("%s%s.\n", what, where)
	} else {
		printTable(p, recs, o.allNamespaces, time.Now())
	}
	if len(skipped) > 0 {
		p.printf("Not shown: namespaces where you may not list remediations: %s\n", strings.Join(skipped, ", "))
	}
	return p.err
}

func cmpOr(cs ...int) int {
	for _, c := range cs {
		if c != 0 {
			return c
		}
	}
	return 0
}

// listIn lists the records of one namespace ("" is every namespace), page by
// page.
func listIn(ctx context.Context, c client.Client, ns string) ([]v1alpha1.Remediation, error) {
	var out []v1alpha1.Remediation
	cont := ""
	for {
		l := &v1alpha1.RemediationList{}
		opts := []client.ListOption{client.Limit(listPageSize), client.Continue(cont)}
		if ns != "" {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := c.List(ctx, l, opts...); err != nil {
			return nil, err
		}
		out = append(out, l.Items...)
		if cont = l.Continue; cont == "" {
			return out, nil
		}
	}
}

// listVisible lists in every namespace at once when the user may; otherwise
// it lists namespace by namespace and returns those it had to skip.
func listVisible(ctx context.Context, c client.Client) ([]v1alpha1.Remediation, []string, error) {
	recs, err := listIn(ctx, c, "")
	if err == nil || !apierrors.IsForbidden(err) {
		return recs, nil, err
	}
	nss := &corev1.NamespaceList{}
	if nerr := c.List(ctx, nss); nerr != nil {
		return nil, nil, fmt.Errorf("you may not list remediations in all namespaces, nor list namespaces to look one by one; "+
			"use -n NAMESPACE: %w", err)
	}
	var skipped []string
	for _, ns := range nss.Items {
		r, err := listIn(ctx, c, ns.Name)
		switch {
		case apierrors.IsForbidden(err):
			skipped = append(skipped, ns.Name)
		case err != nil:
			return nil, nil, err
		default:
			recs = append(recs, r...)
		}
	}
	return recs, skipped, nil
}

// printTable prints the CRD's printer columns (the root cause stays for
// describe).
func printTable(p *printer, recs []v1alpha1.Remediation, withNamespace bool, now time.Time) {
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 4, 3, ' ', 0)
	head := "NAME\tPOLICY\tPHASE\tRISK\tCONFIDENCE\tOBJECT\tAGE"
	if withNamespace {
		head = "NAMESPACE\t" + head
	}
	_, _ = fmt.Fprintln(tw, head)
	for _, r := range recs {
		row := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", r.Name, r.Spec.Policy.Name, r.EffectivePhase(), orDash(string(risk(&r))),
			confidence(&r), objectOf(&r), duration.HumanDuration(now.Sub(r.CreationTimestamp.Time)))
		if withNamespace {
			row = r.Namespace + "\t" + row
		}
		_, _ = fmt.Fprintln(tw, row)
	}
	_ = tw.Flush()
	p.printf("%s", buf.String())
}

func risk(r *v1alpha1.Remediation) v1alpha1.RiskLevel {
	if r.Status.Proposal == nil {
		return ""
	}
	return r.Status.Proposal.Risk
}

func confidence(r *v1alpha1.Remediation) string {
	if r.Status.Analysis == nil || r.Status.Analysis.Confidence == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f", *r.Status.Analysis.Confidence)
}

func objectOf(r *v1alpha1.Remediation) string {
	o := r.Spec.Event.InvolvedObject
	return o.Kind + "/" + o.Name
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// getRecord reads one record, with the messages a user needs when it fails.
func getRecord(ctx context.Context, s *session, name string) (*v1alpha1.Remediation, error) {
	r := &v1alpha1.Remediation{}
	err := s.c.Get(ctx, client.ObjectKey{Namespace: s.namespace, Name: name}, r)
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("remediation %q not found in namespace %s (kubectl dot-ai list -A shows open proposals)", name, s.namespace)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("you may not read remediation %q in namespace %s (the remediation-viewer ClusterRole grants it): %w", name, s.namespace, err)
	case err != nil:
		return nil, err
	}
	return r, nil
}

var errNoName = errors.New("name the Remediation record (kubectl dot-ai list shows them)")
