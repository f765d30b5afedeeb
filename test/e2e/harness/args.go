package harness

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"dot-ai.io/controller/internal/config"
)

// Arg is the command-line form of a flag of the binary: --name=value.
func Arg(name string, value any) string { return fmt.Sprintf("--%s=%v", name, value) }

// mount is a container mount path and the local directory standing in for it.
type mount struct{ path, localDir string }

// localArgs is the container's command line rewritten to run here.
type localArgs struct {
	args []string
	// ports maps a container port to the local port now serving it.
	ports                 map[int32]int
	healthURL, metricsURL string
}

// containerArgs is what the container passes its entrypoint: the command
// after the executable, then the args.
func containerArgs(ct corev1.Container) []string {
	return append(append([]string{}, ct.Command[min(len(ct.Command), 1):]...), ct.Args...)
}

// rewriteArgs expands the container's args, points mount paths at the local
// directories and moves every listener to 127.0.0.1 on a port from
// freePort; a listener the args leave at the binary's default moves too.
func rewriteArgs(source []string, env map[string]string, mounts []mount, kubeconfig string, freePort func() (int, error)) (localArgs, error) {
	out := localArgs{ports: map[int32]int{}}
	hasWebhookPort := false
	for _, a := range source {
		a = expand(a, env)
		for _, m := range mounts {
			a = strings.ReplaceAll(a, m.path, m.localDir)
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || !hasValue {
			out.args = append(out.args, a)
			continue
		}
		switch name {
		case config.FlagMetricsBindAddress, config.FlagHealthProbeBindAddress:
			if value == config.BindAddressDisabled {
				out.args = append(out.args, a)
				continue
			}
			port, err := bindPort(value)
			if err != nil {
				return localArgs{}, fmt.Errorf("%s: %w", name, err)
			}
			local, err := freePort()
			if err != nil {
				return localArgs{}, err
			}
			out.ports[port] = local
			addr := loopback(local)
			if name == config.FlagMetricsBindAddress {
				out.metricsURL = "https://" + addr + "/metrics"
			} else {
				out.healthURL = "http://" + addr
			}
			out.args = append(out.args, Arg(name, addr))
		case config.FlagWebhookPort:
			p, err := strconv.Atoi(value)
			if err != nil {
				return localArgs{}, fmt.Errorf("%s: %w", config.FlagWebhookPort, err)
			}
			local, err := freePort()
			if err != nil {
				return localArgs{}, err
			}
			out.ports[int32(p)] = local
			hasWebhookPort = true
			out.args = append(out.args, Arg(config.FlagWebhookPort, local))
		case config.FlagWebhookHost, config.FlagKubeconfig:
			// Replaced below.
		default:
			out.args = append(out.args, a)
		}
	}
	if !hasWebhookPort {
		local, err := freePort()
		if err != nil {
			return localArgs{}, err
		}
		out.ports[config.DefaultWebhookPort] = local
		out.args = append(out.args, Arg(config.FlagWebhookPort, local))
	}
	if out.healthURL == "" {
		local, err := freePort()
		if err != nil {
			return localArgs{}, err
		}
		out.ports[config.DefaultHealthProbePort] = local
		out.healthURL = "http://" + loopback(local)
		out.args = append(out.args, Arg(config.FlagHealthProbeBindAddress, loopback(local)))
	}
	out.args = append(out.args, Arg(config.FlagWebhookHost, "127.0.0.1"), Arg(config.FlagKubeconfig, kubeconfig))
	return out, nil
}

// bindPort is the port of a bind address such as ":8443".
func bindPort(bind string) (int32, error) {
	_, p, err := net.SplitHostPort(bind)
	if err != nil {
		return 0, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return 0, err
	}
	return int32(port), nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	// Only the number was wanted; a failed close leaves the port in use,
	// which the bind that follows reports.
	_ = l.Close()
	return port, nil
}
