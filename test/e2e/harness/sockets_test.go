package harness

import (
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"dot-ai.io/controller/internal/procnet"
)

// TestOutsideLoopback classifies parsed socket records; nothing is dialed.
// Non-loopback examples use the documentation ranges of RFC 5737.
func TestOutsideLoopback(t *testing.T) {
	addr := func(ip string, port int) net.TCPAddr { return net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	tests := map[string]struct {
		socks []procnet.Socket
		want  []string
	}{
		"loopback listener and peer": {socks: []procnet.Socket{
			{Local: addr("127.0.0.1", 8081), Listen: true, Table: "tcp"},
			{Local: addr("127.0.0.1", 40000), Remote: addr("127.0.1.1", 443), Table: "tcp"},
			{Local: addr("::1", 9443), Listen: true, Table: "tcp6"},
		}},
		"wildcard listener": {
			socks: []procnet.Socket{{Local: addr("0.0.0.0", 9443), Listen: true, Table: "tcp"}},
			want:  []string{"local 0.0.0.0 (tcp)"},
		},
		"public peer": {
			socks: []procnet.Socket{{Local: addr("127.0.0.1", 40000), Remote: addr("203.0.113.8", 443), Table: "tcp"}},
			want:  []string{"remote 203.0.113.8 (tcp)"},
		},
		"both": {
			socks: []procnet.Socket{{Local: addr("192.0.2.2", 40000), Remote: addr("192.0.2.1", 443), Table: "tcp6"}},
			want:  []string{"local 192.0.2.2 (tcp6)", "remote 192.0.2.1 (tcp6)"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, outsideLoopback(tc.socks))
		})
	}
}

func TestNonLoopbackSocketsOfThisProcess(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	bad, err := NonLoopbackSockets(os.Getpid())
	require.NoError(t, err)
	assert.Empty(t, bad, "a 127.0.0.1 listener is fine")
}
