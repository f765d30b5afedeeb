package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// envStarter makes TestBinaryDiesWithItsStarter's own process start a
// stand-in binary, print its PID and wait to be killed.
const envStarter = "DOT_AI_HARNESS_STARTER"

// TestBinaryDiesWithItsStarter: a test process SIGKILLed (no cleanup runs)
// does not leave the binary it started running. Without the parent-death
// signal the stand-in would sleep for a minute.
func TestBinaryDiesWithItsStarter(t *testing.T) {
	if os.Getenv(envStarter) != "" {
		c := &Controller{opts: Options{Binary: "/bin/sleep", WorkDir: t.TempDir(), Log: io.Discard}, Args: []string{"60"}, exited: make(chan struct{})}
		require.NoError(t, c.startBinary(nil))
		fmt.Println(c.cmd.Process.Pid)
		<-c.exited
		return
	}
	starter := exec.Command(os.Args[0], "-test.run=^TestBinaryDiesWithItsStarter$", "-test.count=1")
	starter.Env = append(os.Environ(), envStarter+"=1")
	out, err := starter.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, starter.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	pid, err := strconv.Atoi(line[:len(line)-1])
	require.NoError(t, err, "the starter prints the binary's PID: %q", line)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	require.NoError(t, starter.Process.Kill())
	_ = starter.Wait() // killed: its error says so
	deadline := time.Now().Add(10 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("the binary (PID %d) outlived the killed test process that started it", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gone reports whether pid no longer runs (exited, or a zombie not yet
// reaped by its new parent).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
