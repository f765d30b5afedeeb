package harness

import (
	"fmt"

	"dot-ai.io/controller/internal/procnet"
)

// NonLoopbackSockets lists the TCP sockets of pid that listen on, or are
// connected to, an address outside 127.0.0.0/8 and ::1 (from /proc).
func NonLoopbackSockets(pid int) ([]string, error) {
	socks, err := procnet.ProcessSockets(pid)
	if err != nil {
		return nil, err
	}
	return outsideLoopback(socks), nil
}

// outsideLoopback describes each local and remote address of socks that is
// not loopback.
func outsideLoopback(socks []procnet.Socket) []string {
	var bad []string
	for _, s := range socks {
		if s.LocalOutsideLoopback() {
			bad = append(bad, fmt.Sprintf("local %s (%s)", s.Local.IP, s.Table))
		}
		if s.RemoteOutsideLoopback() {
			bad = append(bad, fmt.Sprintf("remote %s (%s)", s.Remote.IP, s.Table))
		}
	}
	return bad
}
