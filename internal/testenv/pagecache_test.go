package testenv

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// cachedPages is how many pages of path the page cache holds (mincore of a
// mapping, which itself faults nothing in).
func cachedPages(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	require.NoError(t, err)
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	require.NoError(t, err)
	defer func() { require.NoError(t, unix.Munmap(m)) }()
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	// x/sys/unix has no Mincore wrapper on Linux.
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0])))
	require.Zero(t, errno, "mincore")
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

func TestDropCachedPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(path, make([]byte, 4<<20), 0o600))
	f, err := os.Open(path)
	require.NoError(t, err)
	require.NoError(t, f.Sync()) // dirty pages are not dropped
	require.NoError(t, f.Close())
	require.Equal(t, 4<<20/os.Getpagesize(), cachedPages(t, path), "written and cached")

	require.NoError(t, DropCachedPages(path))
	assert.Zero(t, cachedPages(t, path))
	assert.Error(t, DropCachedPages(filepath.Join(t.TempDir(), "missing")))
}
