package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/config"
	"dot-ai.io/controller/internal/delivery"
	"dot-ai.io/controller/internal/delivery/dotai"
	"dot-ai.io/controller/internal/enricher"
	"dot-ai.io/controller/internal/policy"
	"dot-ai.io/controller/internal/watcher"
)

type previewOptions struct {
	file   string
	issues int
}

func newPreview(flags *genericclioptions.ConfigFlags, streams genericclioptions.IOStreams) *cobra.Command {
	o := &previewOptions{}
	cmd := &cobra.Command{
		Use:   "preview -f policy.yaml",
		Short: "Show which Events in the cluster a RemediationPolicy would select, hold back or send, before applying it",
		Long: `preview runs the policy's selection over the Events currently in the cluster (those you may list) with the
controller's own code: selectors, exclusions, the recurrence threshold, the cooldown and the rate limit, fed in
event-time order from an empty state. It prints each Event's fate and the issue text of the first ones that would be
sent, gathered with your own permissions. The policy is first sent to the apiserver as a server-side dry run, so the
admission webhook defaults and validates it exactly as for real; nothing is created.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), flags, streams.Out)
		},
	}
	cmd.Flags().StringVarP(&o.file, "filename", "f", "", "the RemediationPolicy manifest (- for stdin)")
	cmd.Flags().IntVar(&o.issues, "show-issues", 3, "print the issue text of this many events that would be sent")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func (o *previewOptions) run(ctx context.Context, flags *genericclioptions.ConfigFlags, out io.Writer) error {
	p, err := o.readPolicy(flags)
	if err != nil {
		return err
	}
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// The webhook defaults and validates it as for real; nothing is stored.
	if err := c.Create(ctx, p, client.DryRunAll); err != nil {
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			return fmt.Errorf("the policy would be rejected: %w", err)
		}
		return fmt.Errorf("server-side dry run: %w", err)
	}
	s := config.Default()
	// Admission already checked the scope; compile as the controller would
	// for this namespace.
	s.Namespace = p.Namespace
	s.ClusterPolicyNamespaces = []string{p.Namespace}
	cp, errs := policy.Compile(&s, p, policy.CompileCEL)
	if len(errs) > 0 {
		return fmt.Errorf("compiling the policy: %w", errs.ToAggregate())
	}
	lookups := newClusterLookups(ctx, kube, p)
	events, err := lookups.events(p)
	if err != nil {
		return err
	}
	results := watcher.Preview(ctx, cp, events, watcher.PreviewLookups{Pods: lookups.pod, Namespaces: lookups.namespaceLabels,
		Owners: lookups.owner, Objects: lookups.object})
	pr := &printer{w: out}
	printResults(pr, results)
	o.printIssues(ctx, pr, kube, p, cp, results, events)
	return pr.err
}

// printer writes until the first error, which it keeps.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func (o *previewOptions) readPolicy(flags *genericclioptions.ConfigFlags) (*v1alpha1.RemediationPolicy, error) {
	var data []byte
	var err error
	if o.file == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(o.file)
	}
	if err != nil {
		return nil, err
	}
	p := &v1alpha1.RemediationPolicy{}
	if err := yaml.UnmarshalStrict(data, p); err != nil {
		return nil, fmt.Errorf("%s: not a RemediationPolicy: %w", o.file, err)
	}
	if p.Kind != "" && p.Kind != "RemediationPolicy" {
		return nil, fmt.Errorf("%s: kind %q, want RemediationPolicy", o.file, p.Kind)
	}
	if p.Namespace == "" {
		ns, _, err := flags.ToRawKubeConfigLoader().Namespace()
		if err != nil {
			return nil, err
		}
		p.Namespace = ns
	}
	p.Kind, p.APIVersion = "RemediationPolicy", v1alpha1.GroupVersion.String()
	return p, nil
}

func printResults(out *printer, results []watcher.PreviewResult) {
	counts := map[watcher.Fate]int{}
	var table bytes.Buffer
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
	row := &printer{w: tw}
	row.printf("NAMESPACE\tEVENT\tTYPE\tREASON\tOBJECT\tFATE\tDETAIL\n")
	for _, r := range results {
		counts[r.Fate]++
		if r.Fate == watcher.FateNotSelected {
			continue
		}
		ev := r.Event
		row.printf("%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\n", ev.Namespace, ev.Name, ev.Type, ev.Reason,
			ev.InvolvedObject.Kind, ev.InvolvedObject.Name, r.Fate, r.Detail)
	}
	if err := tw.Flush(); err != nil && row.err == nil {
		row.err = err
	}
	if row.err != nil {
		out.err = row.err
		return
	}
	out.printf("%s", table.String())
	out.printf("\n%d events: %d would be sent, %d below threshold, %d cooled down, %d rate limited, %d excluded, %d ignored, %d not selected\n",
		len(results), counts[watcher.FateSent], counts[watcher.FateBelowThreshold], counts[watcher.FateCooledDown],
		counts[watcher.FateRateLimited], counts[watcher.FateExcluded], counts[watcher.FateIgnored], counts[watcher.FateNotSelected])
	out.printf("The controller acts only on events that happen after the policy is created; this preview treats the current ones as new.\n")
}

// printIssues prints the issue text dot-ai would receive for the first
// events that would be sent, enriched with the user's own permissions.
func (o *previewOptions) printIssues(ctx context.Context, out *printer, kube kubernetes.Interface, p *v1alpha1.RemediationPolicy,
	cp *policy.Compiled, results []watcher.PreviewResult, events []*corev1.Event) {
	if o.issues <= 0 {
		return
	}
	e := enricher.New(enricher.Options{Kube: kube, Events: eventIndex(events)})
	shown := 0
	for _, r := range results {
		if r.Fate != watcher.FateSent || shown >= o.issues {
			continue
		}
		shown++
		eff := cp.Effective(r.Selector)
		req := delivery.Request{Policy: p, Event: r.Event, SelectorIndex: r.Selector, Effective: eff}
		body := dotai.BuildRequest(req, e.Enrich(ctx, r.Event, eff.Context))
		out.printf("\n--- issue for %s/%s (mode %s) ---\n%s\n", r.Event.Namespace, r.Event.Name, body.Mode, body.Issue)
	}
}

// eventIndex serves related events from the listed ones.
type eventIndex []*corev1.Event

func (x eventIndex) EventsFor(_ context.Context, namespace, kind, name string) ([]*corev1.Event, error) {
	var out []*corev1.Event
	for _, ev := range x {
		o := ev.InvolvedObject
		if ev.Namespace == namespace && o.Kind == kind && o.Name == name {
			out = append(out, ev)
		}
	}
	return out, nil
}
