package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func TestMountsUnder(t *testing.T) {
	const dir = "/work/wt/.cache/cluster"
	mountinfo := strings.Join([]string{
		"22 1 0:21 / / rw - ext4 /dev/vda rw",
		"30 22 0:30 / /work/wt/.cache/cluster/node/kubelet rw - ext4 /dev/vda rw",
		"31 30 0:31 / /work/wt/.cache/cluster/node/kubelet/pods/x/volumes/kubernetes.io~projected/kube-api-access rw - tmpfs tmpfs rw",
		`32 22 0:32 / /work/wt/.cache/cluster/node/with\040space rw - tmpfs tmpfs rw`,
		"33 22 0:33 / /work/wt/.cache/cluster-other/node rw - tmpfs tmpfs rw",
		"34 22 0:34 / /work/other/.cache/cluster/node rw - tmpfs tmpfs rw",
	}, "\n") + "\n"
	got := mountsUnder(mountinfo, dir)
	assert.Equal(t, []string{
		"/work/wt/.cache/cluster/node/kubelet/pods/x/volumes/kubernetes.io~projected/kube-api-access",
		"/work/wt/.cache/cluster/node/kubelet",
		"/work/wt/.cache/cluster/node/with space",
	}, got, "deepest first; another cluster's mounts are not ours")
}

func TestLinksInto(t *testing.T) {
	ours := filepath.Join(t.TempDir(), "cluster")
	links := t.TempDir()
	for name, target := range map[string]string{
		"ours.log":    ours + "/node/pod-logs/ns_pod_uid/app/0.log",
		"theirs.log":  "/other/.cache/cluster/node/pod-logs/x/0.log",
		"prefix.log":  ours + "-other/node/pod-logs/x/0.log",
		"regular.log": "",
	} {
		p := filepath.Join(links, name)
		if target == "" {
			require.NoError(t, os.WriteFile(p, nil, 0o600))
			continue
		}
		require.NoError(t, os.Symlink(target, p))
	}
	assert.Equal(t, []string{filepath.Join(links, "ours.log")}, linksInto(links, ours))
	assert.Empty(t, linksInto(filepath.Join(links, "absent"), ours))
}

func TestRemoveEmptyTree(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, root string)
		wantGone bool
	}{
		{name: "empty directories", setup: func(t *testing.T, root string) {
			require.NoError(t, os.MkdirAll(filepath.Join(root, "a", "b", "c"), 0o700))
		}, wantGone: true},
		{name: "a stale unix socket", setup: func(t *testing.T, root string) {
			require.NoError(t, os.MkdirAll(filepath.Join(root, "s"), 0o700))
			l, err := net.Listen("unix", filepath.Join(root, "s", "shim"))
			require.NoError(t, err)
			// Leave the socket file behind, as a killed shim does.
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			require.NoError(t, l.Close())
		}, wantGone: true},
		{name: "a regular file is never removed", setup: func(t *testing.T, root string) {
			require.NoError(t, os.MkdirAll(filepath.Join(root, "a"), 0o700))
			require.NoError(t, os.WriteFile(filepath.Join(root, "a", "state.json"), []byte("{}"), 0o600))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A short path: unix socket names are limited to 108 bytes.
			root, err := os.MkdirTemp("", "ret")
			require.NoError(t, err)
			t.Cleanup(func() { _ = os.RemoveAll(root) })
			tc.setup(t, root)
			removeEmptyTree(root)
			_, err = os.Stat(root)
			assert.Equal(t, tc.wantGone, os.IsNotExist(err))
		})
	}
}

// cluster down fails on what the real node left behind: a log link into the
// cluster's directory, a kernel tunable not back to its recorded value.
func TestHostLeftovers(t *testing.T) {
	panicNow, err := os.ReadFile(sysctlPath("kernel.panic"))
	require.NoError(t, err)
	current := strings.TrimSpace(string(panicNow))
	tests := []struct {
		name   string
		link   bool
		before map[string]string
		want   []string
	}{
		{name: "nothing left", before: map[string]string{"kernel.panic": current}},
		{name: "a log link", link: true, want: []string{"link "}},
		{name: "a changed tunable", before: map[string]string{"kernel.panic": current + "1"}, want: []string{"sysctl kernel.panic=" + current + " (was " + current + "1)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, links := t.TempDir(), t.TempDir()
			if tc.link {
				require.NoError(t, os.Symlink(filepath.Join(dir, "node", "pod-logs", "x", "0.log"), filepath.Join(links, "x.log")))
				tc.want[0] += filepath.Join(links, "x.log")
			}
			assert.Equal(t, tc.want, hostLeftovers(dir, links, tc.before))
		})
	}
}

func TestDescendsFrom(t *testing.T) {
	procs := map[int]procInfo{
		1:  {ppid: 0},
		10: {ppid: 1},  // a shim
		11: {ppid: 10}, // pause
		12: {ppid: 11}, // a child of a container
		20: {ppid: 1},  // unrelated
		30: {ppid: 31}, // a parent loop must not hang
		31: {ppid: 30},
	}
	for pid, want := range map[int]bool{11: true, 12: true, 20: false, 10: false, 30: false} {
		assert.Equalf(t, want, descendsFrom(procs, pid, []int{10}), "pid %d", pid)
	}
}

// The real node's listeners are on 127.0.0.1 and its state under its dir.
func TestNodeConfigs(t *testing.T) {
	const nd = "/x/.cache/cluster/node"
	var kc map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(kubeletConfig(nd, func(n string) string { return "/pki/" + n }, 40001, 40002)), &kc))
	assert.Equal(t, "127.0.0.1", kc["address"])
	assert.Equal(t, "127.0.0.1", kc["healthzBindAddress"])
	assert.EqualValues(t, 40001, kc["port"])
	assert.EqualValues(t, 40002, kc["healthzPort"])
	assert.EqualValues(t, 0, kc["readOnlyPort"], "no unauthenticated port")
	assert.Equal(t, nd+"/pod-logs", kc["podLogsDir"])
	assert.Equal(t, nd+"/volume-plugins", kc["volumePluginDir"], "not /usr/libexec/kubernetes")
	assert.Equal(t, []any{clusterDNS}, kc["clusterDNS"])

	cc := containerdConfig(nd)
	assert.Contains(t, cc, `stream_server_address = "127.0.0.1"`)
	assert.Contains(t, cc, `sandbox_image = "`+pauseImage+`"`)
	for line := range strings.SplitSeq(cc, "\n") {
		if k, v, ok := strings.Cut(line, " = "); ok && strings.HasPrefix(strings.TrimSpace(v), `"/`) {
			assert.Truef(t, strings.HasPrefix(strings.Trim(strings.TrimSpace(v), `"`), nd+"/") || strings.Contains(v, "runc"),
				"%s is outside the node dir: %s", strings.TrimSpace(k), v)
		}
	}
}
