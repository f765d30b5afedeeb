// Command cluster runs a local Kubernetes cluster from real upstream parts:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a real node
// (kubelet + Debian containerd + runc; node.go), kwok (a fake node, tainted,
// whose pods "run" without running anything, with container logs served
// from files), cert-manager's controllers and CA injector (run by this
// program from the cert-manager library) and a forwarder for the kubernetes
// Service and the Services of hostNetwork pods on the real node
// (serviceproxy.go, services.go). Everything binds 127.0.0.1; the Service range is
// 127.0.1.0/24 and the kwok pod range 127.0.2.0/24.
//
//	cluster up    [--dir .cache/cluster] [--bin bin]   start (or reuse) the cluster
//	cluster down  [--dir .cache/cluster]               stop exactly the recorded PIDs
//	cluster status [--dir .cache/cluster]              show the processes, check loopback
//	cluster cert-manager --kubeconfig FILE             (internal) run cert-manager
//	cluster service-proxy --target 127.0.0.1:PORT [--kubeconfig FILE]
//	                                                  (internal) forward the kubernetes Service (and the others)
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

//go:embed kwok/*.yaml
var kwokStages embed.FS

const (
	serviceCIDR = "127.0.1.0/24"
	// serviceIP is the first address of serviceCIDR: the kubernetes Service.
	serviceIP = "127.0.1.1"
	podCIDR   = "127.0.2.0/24"
	nodeName  = "kwok-node-0"
)

// componentOrder is the start order; down stops in reverse.
var componentOrder = []string{"etcd", "kube-apiserver", "service-proxy", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet", "kwok", "cert-manager"}

func main() {
	// The real node's CNI plugin is this program under another name.
	if filepath.Base(os.Args[0]) == "lo-eth0" {
		os.Exit(cniLoEth0())
	}
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = cmdUp(os.Args[2:])
	case "down":
		err = cmdDown(os.Args[2:])
	case "status":
		err = cmdStatus(os.Args[2:])
	case "restart":
		err = cmdRestart(os.Args[2:])
	case "image":
		err = cmdImage(os.Args[2:])
	case "cert-manager":
		err = cmdCertManager(os.Args[2:])
	case "service-proxy":
		err = cmdServiceProxy(os.Args[2:])
	case "-h", "--help", "help":
		usage()
		return
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: cluster up|down|status|restart [--dir .cache/cluster] [--bin bin]
  up      start etcd, kube-apiserver, the kubernetes Service's forwarder,
          kube-controller-manager, kube-scheduler, the real node (containerd,
          kubelet), kwok and cert-manager on 127.0.0.1 (reuses a running cluster)
  down    stop exactly the processes 'up' started (PIDs in <dir>/pids), the
          real node's containers, and undo its host changes (hostfx.go)
  status  list the processes and check they only use loopback addresses
  restart [--down 5s] [--grace 0s] <component>
          stop one component and start it with the same command line
          (waits for /readyz when it is kube-apiserver)
  image   --ref REF --binary bin/dot-ai-controller
          build the controller's OCI image (the Dockerfile's final stage,
          no registry, no Docker) and import it into the real node`)
}

func commonFlags(name string) (*flag.FlagSet, *string, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	dir := fs.String("dir", ".cache/cluster", "Directory for the cluster's state, logs, PIDs and kubeconfig.")
	bin := fs.String("bin", "bin", "Directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and kubectl.")
	return fs, dir, bin
}

func cmdUp(args []string) error {
	fs, dir, bin := commonFlags("up")
	crds := fs.String("cert-manager-crds", "", "Directory with cert-manager's CRDs (default: deploy/crds of the cert-manager module in the Go module cache).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	absBin, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	c := &cluster{dir: absDir, bin: absBin, certManagerCRDs: *crds}
	if err := c.up(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "cluster: up failed: %v\ncluster: logs are in %s/logs; stopping what was started\n", err, absDir)
		if derr := stopAll(absDir); derr != nil {
			fmt.Fprintln(os.Stderr, "cluster:", derr)
		}
		return errors.New("cluster up failed")
	}
	return nil
}

func cmdDown(args []string) error {
	fs, dir, _ := commonFlags("down")
	if err := fs.Parse(args); err != nil {
		return err
	}
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	start := time.Now()
	var before hostState
	if data, err := os.ReadFile(hostStateFile(absDir)); err == nil {
		if err := json.Unmarshal(data, &before); err != nil {
			return err
		}
	}
	if err := stopAll(absDir); err != nil {
		return err
	}
	if left := hostLeftovers(absDir, containerLogLinks, before.Sysctls); len(left) > 0 {
		return fmt.Errorf("the real node left these behind:\n  %s", strings.Join(left, "\n  "))
	}
	// The next `up` starts from an empty etcd and an empty node (images
	// and containers); nothing is mounted there any more.
	for _, sub := range []string{"etcd", "node"} {
		if err := os.RemoveAll(filepath.Join(absDir, sub)); err != nil {
			return err
		}
	}
	fmt.Printf("cluster: stopped in %.1fs (logs kept in %s/logs)\n", time.Since(start).Seconds(), *dir)
	return nil
}

// stopAll stops the recorded processes in reverse start order and removes
// their PID files.
func stopAll(dir string) error {
	procs, err := readProcesses(dir)
	if err != nil {
		return err
	}
	byName := map[string]process{}
	for _, p := range procs {
		byName[p.Name] = p
	}
	var errs []error
	for _, name := range slices.Backward(componentOrder) {
		p, ok := byName[name]
		if !ok {
			continue
		}
		delete(byName, p.Name)
		if name == "containerd" {
			deleteTasks(dir)
		}
		if err := p.stop(10 * time.Second); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s (pid %d): %w", p.Name, p.PID, err))
			continue
		}
		_ = os.Remove(pidFile(dir, p.Name))
	}
	for _, p := range byName {
		if err := p.stop(10 * time.Second); err != nil {
			errs = append(errs, err)
			continue
		}
		_ = os.Remove(pidFile(dir, p.Name))
	}
	// The real node's containers outlive containerd (their shims are
	// separate processes); they go last, with its host side effects.
	if err := undoHost(dir); err != nil {
		errs = append(errs, fmt.Errorf("undoing the real node's host changes: %w", err))
	}
	return errors.Join(errs...)
}

func cmdStatus(args []string) error {
	fs, dir, _ := commonFlags("status")
	if err := fs.Parse(args); err != nil {
		return err
	}
	procs, err := readProcesses(*dir)
	if err != nil {
		return err
	}
	if len(procs) == 0 {
		fmt.Println("cluster: not running")
		return nil
	}
	for _, p := range procs {
		state := "running"
		if !p.alive() {
			state = "NOT RUNNING"
		}
		fmt.Printf("%-24s pid %-8d %s\n", p.Name, p.PID, state)
	}
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	containers, err := hostNetworkContainers(absDir)
	if err != nil {
		return err
	}
	if err := checkLoopback(append(procs, containers...)); err != nil {
		return err
	}
	fmt.Printf("cluster: every socket of these processes and of %d hostNetwork container processes is on loopback\n", len(containers))
	return nil
}

func cmdImage(args []string) error {
	fs, dir, _ := commonFlags("image")
	ref := fs.String("ref", "", "Image reference the node knows the image by (the chart's image.repository:tag).")
	binary := fs.String("binary", "bin/dot-ai-controller", "Static controller binary (make build).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ref == "" {
		return errors.New("--ref is required")
	}
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	data, err := staticBinary(*binary)
	if err != nil {
		return err
	}
	imgDir := filepath.Join(absDir, "images")
	if err := os.MkdirAll(imgDir, 0o700); err != nil {
		return err
	}
	out := filepath.Join(imgDir, imageFileName(*ref))
	if err := writeImage(controllerImageSpec(*ref, data), out); err != nil {
		return err
	}
	c := &cluster{dir: absDir}
	if err := c.importImage(context.Background(), out); err != nil {
		return fmt.Errorf("importing into the real node (is the cluster up?): %w", err)
	}
	fmt.Printf("cluster: image %s (%s) imported into the real node\n", *ref, out)
	return nil
}

func cmdCertManager(args []string) error {
	fs := flag.NewFlagSet("cert-manager", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "Kubeconfig of the cluster.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" {
		return errors.New("--kubeconfig is required")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	return runCertManager(ctx, *kubeconfig)
}

// stageTimer prints how long each step of `up` took.
type stageTimer struct{ start, last time.Time }

func newStageTimer() *stageTimer { now := time.Now(); return &stageTimer{start: now, last: now} }

func (s *stageTimer) done(what string) {
	now := time.Now()
	fmt.Printf("cluster: %-44s %5.1fs\n", what, now.Sub(s.last).Seconds())
	s.last = now
}
