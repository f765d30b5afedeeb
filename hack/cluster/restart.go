package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// cmdRestart stops one component and starts it again with the same
// command line, as a crash-and-restart by a supervisor would; the
// reliability suite uses it to restart kube-apiserver mid-stream.
func cmdRestart(args []string) error {
	fs, dir, _ := commonFlags("restart")
	down := fs.Duration("down", 0, "How long the component stays stopped before it is started again.")
	grace := fs.Duration("grace", 30*time.Second, "How long SIGTERM may take before SIGKILL (0: a crash, SIGKILL at once).")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || !slices.Contains(componentOrder, fs.Arg(0)) {
		return fmt.Errorf("restart takes one component: %s", strings.Join(componentOrder, ", "))
	}
	name := fs.Arg(0)
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	procs, err := readProcesses(absDir)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(procs, func(p process) bool { return p.Name == name })
	if i < 0 || !procs[i].alive() {
		return fmt.Errorf("%s is not running (see cluster status)", name)
	}
	p := procs[i]
	argv, err := processArgs(p.PID)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	start := time.Now()
	if err := p.stop(*grace); err != nil {
		return fmt.Errorf("stopping %s: %w", name, err)
	}
	// Its ports must be free before the new process binds them.
	if err := poll(ctx, 10*time.Second, name+" to exit", func(context.Context) (bool, error) { return !p.alive(), nil }); err != nil {
		return err
	}
	stopped := time.Since(start)
	select {
	case <-time.After(*down):
	case <-ctx.Done():
		return ctx.Err()
	}
	// Keep the previous run's log beside the new one.
	logPath := filepath.Join(absDir, "logs", name+".log")
	_ = os.Rename(logPath, logPath+".1")
	np, err := startProcess(absDir, name, p.Exe, argv...)
	if err != nil {
		return err
	}
	if name == "kube-apiserver" {
		cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(absDir, "kubeconfig"))
		if err != nil {
			return err
		}
		c := &cluster{dir: absDir, cfg: cfg, procs: []process{*np}}
		if err := c.waitAPIServer(ctx); err != nil {
			return err
		}
	}
	fmt.Printf("cluster: restarted %s (pid %d -> %d; stopped in %.1fs, ready %.1fs after the stop began)\n",
		name, p.PID, np.PID, stopped.Seconds(), time.Since(start).Seconds())
	return nil
}

// processArgs reads a running process's arguments (without argv[0]).
func processArgs(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, err
	}
	parts := bytes.Split(bytes.TrimSuffix(data, []byte{0}), []byte{0})
	if len(parts) == 0 {
		return nil, fmt.Errorf("pid %d: empty command line", pid)
	}
	out := make([]string, 0, len(parts)-1)
	for _, a := range parts[1:] {
		out = append(out, string(a))
	}
	return out, nil
}
