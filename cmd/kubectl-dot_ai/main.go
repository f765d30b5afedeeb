// Command kubectl-dot_ai is the dot-ai controller's kubectl plugin
// (decision 23 (docs/design/decisions.md#d23)): `kubectl dot-ai <command>`.
// It uses the user's kubeconfig and nothing else, so it can do only what the
// user may do.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"dot-ai.io/controller/api/v1alpha1"
	"dot-ai.io/controller/internal/version"
)

func main() {
	if err := newRoot(genericclioptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}).Execute(); err != nil {
		os.Exit(1)
	}
}

func newRoot(streams genericclioptions.IOStreams) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	root := &cobra.Command{
		Use:           "kubectl dot-ai",
		Short:         "Work with the dot-ai controller: preview policies, list, describe, approve and reject remediation proposals",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	flags.AddFlags(root.PersistentFlags())
	root.AddCommand(newPreview(flags, streams), newList(flags, streams), newDescribe(flags, streams),
		newDecide(flags, streams, v1alpha1.DecisionApprove), newDecide(flags, streams, v1alpha1.DecisionReject), &cobra.Command{
			Use:   "version",
			Short: "Print the plugin's version",
			RunE: func(cmd *cobra.Command, _ []string) error {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), version.Version)
				return err
			},
		})
	return root
}
