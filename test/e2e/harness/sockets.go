package harness

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NonLoopbackSockets lists the TCP sockets of pid that listen on, or are
// connected to, an address outside 127.0.0.0/8 and ::1 (from /proc).
func NonLoopbackSockets(pid int) ([]string, error) {
	inodes := map[string]bool{}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if link, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var bad []string
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan()
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) < 10 || !inodes[fl[9]] {
				continue
			}
			local, err1 := procAddr(fl[1])
			remote, err2 := procAddr(fl[2])
			if err1 != nil || err2 != nil {
				f.Close()
				return nil, fmt.Errorf("parsing /proc/%d/net/%s", pid, table)
			}
			if !local.IsLoopback() {
				bad = append(bad, fmt.Sprintf("local %s (%s)", local, table))
			}
			if fl[3] != "0A" && !remote.IsUnspecified() && !remote.IsLoopback() {
				bad = append(bad, fmt.Sprintf("remote %s (%s)", remote, table))
			}
		}
		f.Close()
	}
	return bad, nil
}

// procAddr decodes the IP of "0100007F:1F90"; each 32-bit word is in host
// (little-endian) order.
func procAddr(s string) (net.IP, error) {
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("bad address %q", s)
	}
	if _, err := strconv.ParseUint(port, 16, 16); err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(host)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return nil, fmt.Errorf("bad address %q", s)
	}
	ip := make(net.IP, len(raw))
	for w := 0; w < len(raw); w += 4 {
		for b := range 4 {
			ip[w+b] = raw[w+3-b]
		}
	}
	return ip, nil
}
