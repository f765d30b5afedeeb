package main

import (
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcAddr(t *testing.T) {
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
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseProcAddr(tc.in)
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

func TestCheckLoopback(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	me := []process{{Name: "test", PID: os.Getpid(), Exe: self}}
	require.True(t, me[0].alive())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, checkLoopback(me), "a 127.0.0.1 listener is fine")

	all, err := net.Listen("tcp", ":0")
	require.NoError(t, err)
	err = checkLoopback(me)
	require.Error(t, err, "a wildcard listener must be reported")
	assert.Contains(t, err.Error(), "listens on")
	require.NoError(t, all.Close())
	require.NoError(t, checkLoopback(me))
}

func TestProcessAliveChecksExecutable(t *testing.T) {
	p := process{Name: "test", PID: os.Getpid(), Exe: "/not/the/test/binary"}
	assert.False(t, p.alive(), "a PID running another executable is not ours")
	assert.False(t, process{PID: 1 << 30, Exe: "/x"}.alive())
}

func TestProcessArgs(t *testing.T) {
	got, err := processArgs(os.Getpid())
	require.NoError(t, err)
	assert.Equal(t, os.Args[1:], got)
}
