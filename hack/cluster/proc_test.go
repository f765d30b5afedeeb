package main

import (
	"net"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckLoopback(t *testing.T) {
	self, err := os.Executable()
	require.NoError(t, err)
	me := []process{{Name: "test", PID: os.Getpid(), Exe: self}}
	require.True(t, me[0].alive())

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
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
