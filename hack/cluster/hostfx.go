package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// What the real node changes outside its directory, and how `down` undoes it.
//
//   - The kubelet sets kernel tunables (protectKernelDefaults=false):
//     recorded before it starts, restored by `down`.
//   - It links /var/log/containers/*.log to the pod logs under the node dir;
//     `down` removes the links that point into this cluster's directory.
//   - Paths compiled into containerd 1.6 and the kubelet: shim sockets in
//     /run/containerd/s, the device-plugin socket in /var/lib/kubelet, CNI
//     result caches in /var/lib/cni, /run/mount, the pod cgroups
//     (<hierarchy>/kubepods). The kubelet and KCM would also create
//     /usr/libexec/kubernetes (both are pointed at the node dir instead).
//     Those absent before `up` are removed by `down`: the kubelet's and
//     CNI's whole trees, the others once they are empty again.
//   - Mounts (the kubelet's root dir, overlay rootfs, shm, netns, volumes)
//     all lie under the node dir; `down` unmounts them.
//
// Several clusters on one host (other worktrees) share these globals: links
// and mounts are told apart by this cluster's directory; the tunables are the
// same for every kubelet, so a second cluster's record holds the first
// kubelet's values (stop them in reverse order).

// kubeletSysctls are the tunables the kubelet's container manager sets.
// containerLogLinks is where the kubelet links container logs.
const containerLogLinks = "/var/log/containers"

var kubeletSysctls = []string{
	"vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
	"kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes",
}

// hostDirs are host directories the node's processes may create, and
// whether `down` removes the whole tree (true) or only empty directories.
var hostDirs = map[string]bool{
	"/var/log/containers": false, "/run/containerd": false, "/usr/libexec/kubernetes": false, "/run/mount": false,
	"/var/lib/kubelet": true, "/var/lib/cni": true,
}

// podCgroups are the kubelet's pod cgroups (cgroupfs driver), one per
// hierarchy.
func podCgroups() []string {
	var out []string
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, "/sys/fs/cgroup/"+e.Name()+"/kubepods")
		}
	}
	return out
}

type hostState struct {
	Sysctls map[string]string `json:"sysctls"`
	// Absent lists hostDirs that did not exist before `up`.
	Absent []string `json:"absent"`
}

func hostStateFile(dir string) string { return filepath.Join(dir, "host-state.json") }

func sysctlPath(name string) string {
	return "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
}

// recordHostState writes the host's state before the node starts. A record
// left by an earlier run that was never undone is kept: it holds the values
// from before that run.
func recordHostState(dir string) error {
	if _, err := os.Stat(hostStateFile(dir)); err == nil {
		return nil
	}
	st := hostState{Sysctls: map[string]string{}}
	for _, s := range kubeletSysctls {
		v, err := os.ReadFile(sysctlPath(s))
		if err != nil {
			return fmt.Errorf("reading %s: %w", s, err)
		}
		st.Sysctls[s] = strings.TrimSpace(string(v))
	}
	for _, d := range append(slices.Sorted(maps.Keys(hostDirs)), podCgroups()...) {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			st.Absent = append(st.Absent, d)
		}
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(hostStateFile(dir), data, 0o600)
}

// stopContainers kills the containers of this cluster's containerd: every
// process under one of its shims, then the shims. A shim is recognised by
// this cluster's containerd socket on its command line.
func stopContainers(dir string) error {
	procs, err := allProcesses()
	if err != nil {
		return err
	}
	shims := shimsOf(procs, dir)
	if len(shims) == 0 {
		return nil
	}
	// Children first (the containers), so the shims do not report exits to
	// nobody; then the shims.
	var kill []int
	for pid := range procs {
		if !slices.Contains(shims, pid) && descendsFrom(procs, pid, shims) {
			kill = append(kill, pid)
		}
	}
	for _, pid := range append(kill, shims...) {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("killing pid %d: %w", pid, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range append(kill, shims...) {
		for processExists(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// hostNetworkContainers are the processes of this cluster's containers
// (under its shims) that share the host's network namespace (hostNetwork
// pods), for the loopback check. Other pods' namespaces have only lo: the
// CNI plugin creates no interface.
func hostNetworkContainers(dir string) ([]process, error) {
	procs, err := allProcesses()
	if err != nil {
		return nil, err
	}
	hostNet, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return nil, err
	}
	shims := shimsOf(procs, dir)
	var out []process
	for pid := range procs {
		if !descendsFrom(procs, pid, shims) {
			continue
		}
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		exe, xerr := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || xerr != nil || ns != hostNet {
			continue
		}
		out = append(out, process{Name: fmt.Sprintf("container process %d", pid), PID: pid, Exe: strings.TrimSuffix(exe, " (deleted)")})
	}
	return out, nil
}

// shimsOf returns the containerd shims of this cluster's containerd: its
// socket is on their command line.
func shimsOf(procs map[int]procInfo, dir string) []int {
	sock := containerdSocket(dir)
	var shims []int
	for pid, p := range procs {
		if i := slices.Index(p.args, "-address"); i >= 0 && i+1 < len(p.args) && p.args[i+1] == sock {
			shims = append(shims, pid)
		}
	}
	return shims
}

type procInfo struct {
	ppid int
	args []string
}

func allProcesses() (map[int]procInfo, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	out := map[int]procInfo{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out[pid] = procInfo{ppid: ppid, args: strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")}
	}
	return out, nil
}

func descendsFrom(procs map[int]procInfo, pid int, roots []int) bool {
	for range 64 { // bounded: a PID loop cannot hang us
		p, ok := procs[pid]
		if !ok || p.ppid <= 1 {
			return false
		}
		if slices.Contains(roots, p.ppid) {
			return true
		}
		pid = p.ppid
	}
	return false
}

func processExists(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// mountsUnder returns the mount points at or below dir, deepest first.
func mountsUnder(mountinfo, dir string) []string {
	var out []string
	for line := range strings.Lines(mountinfo) {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	// Deepest first; a path mounted twice is unmounted twice.
	slices.SortStableFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func unmountUnder(dir string) error {
	var errs []error
	// Lazy unmounts can uncover a mount below; a few passes take them all.
	for range 5 {
		info, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return err
		}
		mps := mountsUnder(string(info), dir)
		if len(mps) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, mp := range mps {
			if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("unmounting %s: %w", mp, err))
			}
		}
	}
	return errors.Join(errs...)
}

// linksInto returns the symlinks in linkDir that point under dir.
func linksInto(linkDir, dir string) []string {
	entries, err := os.ReadDir(linkDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join(linkDir, e.Name())
		if t, err := os.Readlink(p); err == nil && strings.HasPrefix(t, dir+"/") {
			out = append(out, p)
		}
	}
	return out
}

// removeEmptyTree removes dir and its subdirectories when no file is left
// in them but stale unix sockets (a killed shim's); it never removes a
// regular file.
func removeEmptyTree(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		switch p := filepath.Join(dir, e.Name()); {
		case e.IsDir():
			removeEmptyTree(p)
		case e.Type()&os.ModeSocket != 0:
			_ = os.Remove(p)
		}
	}
	_ = syscall.Rmdir(dir)
}

// undoHost reverses what the real node did to the host (see the top of this
// file) once its processes are gone.
func undoHost(dir string) error {
	var errs []error
	if err := stopContainers(dir); err != nil {
		errs = append(errs, err)
	}
	if err := unmountUnder(dir); err != nil {
		errs = append(errs, err)
	}
	for _, l := range linksInto(containerLogLinks, dir) {
		if err := os.Remove(l); err != nil {
			errs = append(errs, err)
		}
	}
	data, err := os.ReadFile(hostStateFile(dir))
	if errors.Is(err, os.ErrNotExist) {
		return errors.Join(errs...)
	}
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	var st hostState
	if err := json.Unmarshal(data, &st); err != nil {
		return errors.Join(append(errs, fmt.Errorf("%s: %w", hostStateFile(dir), err))...)
	}
	for name, v := range st.Sysctls {
		if err := os.WriteFile(sysctlPath(name), []byte(v), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("restoring %s: %w", name, err))
		}
	}
	for _, d := range st.Absent {
		if hostDirs[d] {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		// A cgroup directory is removed by rmdir once no task is left.
		removeEmptyTree(d)
	}
	if len(errs) == 0 {
		errs = append(errs, os.Remove(hostStateFile(dir)))
	}
	return errors.Join(errs...)
}

// hostLeftovers lists what the real node left on the host after `down`:
// processes under its containerd socket, mounts and links into dir, tunables
// that differ from the record (read before the record is removed, so the
// caller passes it). linkDir is containerLogLinks but in tests.
func hostLeftovers(dir, linkDir string, before map[string]string) []string {
	var out []string
	if procs, err := allProcesses(); err == nil {
		for pid, p := range procs {
			if slices.Contains(p.args, containerdSocket(dir)) {
				out = append(out, fmt.Sprintf("process %d (%s)", pid, strings.Join(p.args, " ")))
			}
		}
	}
	if info, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, mp := range mountsUnder(string(info), dir) {
			out = append(out, "mount "+mp)
		}
	}
	for _, l := range linksInto(linkDir, dir) {
		out = append(out, "link "+l)
	}
	for name, want := range before {
		if got, err := os.ReadFile(sysctlPath(name)); err == nil && strings.TrimSpace(string(got)) != want {
			out = append(out, fmt.Sprintf("sysctl %s=%s (was %s)", name, strings.TrimSpace(string(got)), want))
		}
	}
	slices.Sort(out)
	return out
}
