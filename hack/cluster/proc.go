package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"dot-ai.io/controller/internal/procnet"
)

// process is one started component, recorded in <dir>/pids/<name>.pid as
// "<pid>\n<executable>\n" so `down` kills exactly what `up` started.
type process struct {
	Name string
	PID  int
	Exe  string
}

// startProcess starts bin with args in its own session (it outlives the
// `up` command), logs to <dir>/logs/<name>.log and records its PID.
func startProcess(dir, name, bin string, args ...string) (*process, error) {
	exe, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	logf, err := os.OpenFile(filepath.Join(dir, "logs", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	// The child gets its own descriptor; this one writes nothing, so its
	// close has nothing to report.
	defer func() { _ = logf.Close() }()
	closeInheritedFiles()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{Name: name, PID: cmd.Process.Pid, Exe: exe}
	if err := os.WriteFile(pidFile(dir, name), fmt.Appendf(nil, "%d\n%s\n", p.PID, p.Exe), 0o600); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	// Reap the child if it exits while `up` still runs; afterwards init does.
	go func() { _ = cmd.Wait() }()
	return p, nil
}

// closeInheritedFiles marks every descriptor above stderr close-on-exec:
// descriptors this process inherited (a lock held by `flock cluster ...`)
// would otherwise live on in the long-running components.
func closeInheritedFiles() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

func pidFile(dir, name string) string { return filepath.Join(dir, "pids", name+".pid") }

// readProcesses returns the recorded processes.
func readProcesses(dir string) ([]process, error) {
	files, err := filepath.Glob(filepath.Join(dir, "pids", "*.pid"))
	if err != nil {
		return nil, err
	}
	var out []process
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) != 2 {
			return nil, fmt.Errorf("%s: malformed pid file", f)
		}
		pid, err := strconv.Atoi(lines[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, process{Name: strings.TrimSuffix(filepath.Base(f), ".pid"), PID: pid, Exe: lines[1]})
	}
	return out, nil
}

// alive reports whether p still runs the executable it was started with
// (a reused PID, a zombie or a gone process is not alive).
func (p process) alive() bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.PID))
	if err != nil {
		return false
	}
	if strings.TrimSuffix(exe, " (deleted)") != p.Exe {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
		return false
	}
	return true
}

// stop sends SIGTERM, waits up to grace, then SIGKILL. It only signals the
// PID when it still runs the recorded executable.
func (p process) stop(grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.alive() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	if p.alive() {
		if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return err
		}
	}
	return nil
}

// checkLoopback fails when one of the processes listens on, or is connected
// to, an address outside 127.0.0.0/8 and ::1.
func checkLoopback(procs []process) error {
	var bad []string
	for _, p := range procs {
		if !p.alive() {
			continue
		}
		socks, err := procnet.ProcessSockets(p.PID)
		if err != nil {
			return fmt.Errorf("%s (pid %d): %w", p.Name, p.PID, err)
		}
		for _, s := range socks {
			if s.LocalOutsideLoopback() {
				bad = append(bad, fmt.Sprintf("%s (pid %d) %s %s", p.Name, p.PID, map[bool]string{true: "listens on", false: "uses local address"}[s.Listen], s.Local.String()))
			}
			if s.RemoteOutsideLoopback() {
				bad = append(bad, fmt.Sprintf("%s (pid %d) is connected to %s", p.Name, p.PID, s.Remote.String()))
			}
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("non-loopback sockets:\n  %s", strings.Join(bad, "\n  "))
	}
	return nil
}
