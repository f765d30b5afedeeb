package procnet

import (
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAddr(t *testing.T) {
	tests := map[string]struct {
		in   string
		ip   string
		port int
		err  bool
	}{
		"ipv4 loopback":    {in: "0100007F:1F90", ip: "127.0.0.1", port: 8080},
		"ipv4 any":         {in: "00000000:0050", ip: "0.0.0.0", port: 80},
		"ipv4 service ip":  {in: "0101007F:01BB", ip: "127.0.1.1", port: 443},
		"ipv6 loopback":    {in: "00000000000000000000000001000000:1F90", ip: "::1", port: 8080},
		"ipv6 any":         {in: "00000000000000000000000000000000:0050", ip: "::", port: 80},
		"ipv4-mapped ipv6": {in: "0000000000000000FFFF00000100007F:0050", ip: "127.0.0.1", port: 80},
		"no port":          {in: "0100007F", err: true},
		"bad hex":          {in: "ZZ00007F:0050", err: true},
		"short address":    {in: "00007F:0050", err: true},
		"bad port":         {in: "0100007F:XYZ", err: true},
		"port too large":   {in: "0100007F:10000", err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseAddr(tc.in)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.True(t, net.ParseIP(tc.ip).Equal(got.IP), "got %s", got.IP)
			assert.Equal(t, tc.port, got.Port)
		})
	}
}

// table is a /proc/net/tcp excerpt: a loopback listener, a wildcard
// listener, a connection to a public address and one between loopback
// addresses.
const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 101 1 0000000000000000 100 0 0 10 0
   1: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 102 1 0000000000000000 100 0 0 10 0
   2: 0100007F:A000 08080808:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 103 1 0000000000000000 100 0 0 10 0
   3: 0100007F:A001 0101007F:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 104 1 0000000000000000 100 0 0 10 0
   4: short line
`

func TestParseTable(t *testing.T) {
	socks, err := ParseTable(strings.NewReader(table), "tcp")
	require.NoError(t, err)
	require.Len(t, socks, 4, "the short line is skipped")
	tests := map[string]struct {
		inode                 string
		listen                bool
		localOut, remoteOut   bool
		localPort, remotePort int
	}{
		"loopback listener": {inode: "101", listen: true, localPort: 8080},
		"wildcard listener": {inode: "102", listen: true, localOut: true, localPort: 80},
		"public peer":       {inode: "103", remoteOut: true, localPort: 0xA000, remotePort: 443},
		"loopback peer":     {inode: "104", localPort: 0xA001, remotePort: 443},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, ok := socks[tc.inode]
			require.True(t, ok)
			assert.Equal(t, "tcp", s.Table)
			assert.Equal(t, tc.listen, s.Listen)
			assert.Equal(t, tc.localOut, s.LocalOutsideLoopback())
			assert.Equal(t, tc.remoteOut, s.RemoteOutsideLoopback())
			assert.Equal(t, tc.localPort, s.Local.Port)
			assert.Equal(t, tc.remotePort, s.Remote.Port)
		})
	}
}

func TestParseTableRejectsABadAddress(t *testing.T) {
	bad := strings.Replace(table, "08080808:01BB", "0808:01BB", 1)
	_, err := ParseTable(strings.NewReader(bad), "tcp")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "0808:01BB")
}

func TestProcessSocketsFindsOwnListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	port := l.Addr().(*net.TCPAddr).Port
	socks, err := ProcessSockets(os.Getpid())
	require.NoError(t, err)
	assert.True(t, slices.ContainsFunc(socks, func(s Socket) bool {
		return s.Listen && s.Local.Port == port && !s.LocalOutsideLoopback()
	}), "own listener on port %d in %v", port, socks)

	_, err = ProcessSockets(1 << 30)
	require.Error(t, err, "no such process")
}
