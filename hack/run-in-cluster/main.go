// Command run-in-cluster runs bin/dot-ai-controller on this machine in place
// of an installed chart's pod, as the Deployment configures it (see
// test/e2e/harness): args and env, the cert-manager Secret as the cert
// directory (rewritten on rotation), the chart ServiceAccount's token and the
// webhook Service forwarded from its ClusterIP. It runs until interrupted.
//
//	run-in-cluster --kubeconfig .cache/cluster/kubeconfig --namespace dot-ai --release dot-ai
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/tools/clientcmd"

	"dot-ai.io/controller/test/e2e/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "run-in-cluster:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("run-in-cluster", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "Admin kubeconfig of the cluster.")
	namespace := fs.String("namespace", "dot-ai", "Release namespace.")
	release := fs.String("release", "dot-ai", "Helm release name.")
	binary := fs.String("binary", "bin/dot-ai-controller", "Controller binary.")
	workdir := fs.String("workdir", ".cache/run-in-cluster", "Directory for volumes, kubeconfig and the controller log.")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	c, err := harness.Start(ctx, harness.Options{Config: cfg, Namespace: *namespace, Release: *release, Binary: *binary, WorkDir: *workdir})
	if err != nil {
		return err
	}
	fmt.Printf("run-in-cluster: controller pid %d ready (log %s)\n", c.PID(), c.LogFile)
	for svc, addr := range c.Services {
		fmt.Printf("run-in-cluster: service %s forwarded from %s\n", svc, addr)
	}
	select {
	case <-ctx.Done():
	case <-c.Exited():
		return fmt.Errorf("controller exited; see %s", c.LogFile)
	}
	return c.Stop()
}
