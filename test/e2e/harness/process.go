package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// startBinary starts the binary with only the container's env (plus PATH
// and a HOME in the work directory), its output in LogFile and opts.Log.
func (c *Controller) startBinary(env map[string]string) error {
	c.LogFile = filepath.Join(c.opts.WorkDir, "controller.log")
	logf, err := os.OpenFile(c.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.opts.Binary, c.Args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + c.opts.WorkDir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout = io.MultiWriter(logf, c.opts.Log)
	cmd.Stderr = cmd.Stdout
	// A test process killed before its cleanup (a timeout, a SIGKILL) must
	// not leave the controller running: the kernel kills it when the thread
	// that started it ends, which for a Go test is when the process ends (no
	// test code locks an OS thread).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close() // nothing was written to it yet
		return fmt.Errorf("starting %s: %w", c.opts.Binary, err)
	}
	c.cmd = cmd
	go func() {
		err := cmd.Wait()
		// Tests read the log after the exit: a failed close means it may be
		// incomplete, so it is reported with the exit.
		if cerr := logf.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing %s: %w", c.LogFile, cerr))
		}
		c.waitErr = err
		close(c.exited)
	}()
	return nil
}

func (c *Controller) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return waitFor(ctx, 60*time.Second, func() (bool, error) {
		select {
		case <-c.exited:
			return false, &stopError{fmt.Errorf("controller exited: %v (log: %s)", c.waitErr, c.LogFile)}
		default:
		}
		resp, err := client.Get(c.HealthURL + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// Exited is closed when the binary exits.
func (c *Controller) Exited() <-chan struct{} { return c.exited }

// Running reports whether the binary still runs.
func (c *Controller) Running() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// PID is the binary's process id.
func (c *Controller) PID() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Kill ends the binary with SIGKILL (no drain, no last checkpoint, as a
// node failure or an OOM kill would) and closes the forwarders and watches.
func (c *Controller) Kill() error {
	if c.cmd != nil && c.cmd.Process != nil {
		select {
		case <-c.exited:
		default:
			if err := c.cmd.Process.Kill(); err != nil {
				return err
			}
			<-c.exited
		}
	}
	return c.Stop()
}

// Stop terminates the binary (SIGTERM, then SIGKILL after 60s) and closes
// the forwarders and watches.
func (c *Controller) Stop() error {
	var err error
	if c.cmd != nil && c.cmd.Process != nil {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.exited:
			case <-time.After(60 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.exited
				err = errors.New("controller did not stop within 60s of SIGTERM")
			}
		}
	}
	c.cancel()
	c.mu.Lock()
	for _, l := range c.listeners {
		_ = l.Close()
	}
	c.listeners = nil
	c.mu.Unlock()
	c.wg.Wait()
	return err
}
