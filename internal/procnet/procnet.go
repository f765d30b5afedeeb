// Package procnet lists a process's TCP sockets from /proc and tells which
// of them leave loopback. The local cluster (hack/cluster, its own module,
// which imports this package through a replace directive) and the e2e
// harness both use it to prove that nothing binds or dials outside
// 127.0.0.0/8 and ::1.
package procnet

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Socket is one TCP socket of a process.
type Socket struct {
	Local, Remote net.TCPAddr
	Listen        bool
	// Table is the /proc/net table it came from: "tcp" or "tcp6".
	Table string
}

// LocalOutsideLoopback reports whether the socket binds an address outside
// loopback (a wildcard listener included).
func (s Socket) LocalOutsideLoopback() bool { return !s.Local.IP.IsLoopback() }

// RemoteOutsideLoopback reports whether the socket is connected to a peer
// outside loopback.
func (s Socket) RemoteOutsideLoopback() bool {
	return !s.Listen && !s.Remote.IP.IsUnspecified() && !s.Remote.IP.IsLoopback()
}

// tables are the /proc/<pid>/net files that hold TCP sockets.
var tables = []string{"tcp", "tcp6"}

// listenState is TCP_LISTEN in the st column.
const listenState = "0A"

// ProcessSockets lists the TCP sockets the process owns. /proc/<pid>/net
// shows every socket of the process's network namespace, so they are
// matched against the socket inodes among its open descriptors.
func ProcessSockets(pid int) ([]Socket, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return nil, err
	}
	var out []Socket
	for _, table := range tables {
		path := fmt.Sprintf("/proc/%d/net/%s", pid, table)
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return nil, err
		}
		socks, err := ParseTable(f, table)
		_ = f.Close() // read-only: a close error loses nothing
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for inode, s := range socks {
			if inodes[inode] {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// socketInodes returns the inodes of the process's open sockets (the
// descriptors that link to "socket:[<inode>]").
func socketInodes(pid int) (map[string]bool, error) {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if inode, ok := strings.CutPrefix(link, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	return inodes, nil
}

// ParseTable parses a /proc/net/tcp{,6} table (header line first) into
// sockets keyed by inode; table is recorded in each socket.
func ParseTable(r io.Reader, table string) (map[string]Socket, error) {
	out := map[string]Socket{}
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		local, err := ParseAddr(fields[1])
		if err != nil {
			return nil, err
		}
		remote, err := ParseAddr(fields[2])
		if err != nil {
			return nil, err
		}
		out[fields[9]] = Socket{Local: local, Remote: remote, Listen: fields[3] == listenState, Table: table}
	}
	return out, sc.Err()
}

// ParseAddr decodes "0100007F:1F90" (IPv4) or the 32-hex-digit IPv6 form;
// each 32-bit word of the address is in host (little-endian) order.
func ParseAddr(s string) (net.TCPAddr, error) {
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return net.TCPAddr{}, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(host)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return net.TCPAddr{}, fmt.Errorf("bad address %q", s)
	}
	ip := make(net.IP, len(raw))
	for w := 0; w < len(raw); w += 4 {
		for b := range 4 {
			ip[w+b] = raw[w+3-b]
		}
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return net.TCPAddr{}, fmt.Errorf("bad port in %q", s)
	}
	return net.TCPAddr{IP: ip, Port: int(p)}, nil
}
