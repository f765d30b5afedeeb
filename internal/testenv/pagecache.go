package testenv

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// DropCachedPages asks the kernel to drop the page cache's copy of path
// (pages no process maps), so a binary started next reads its pages from
// disk as it touches them. Memory measurements start from it: how many of
// an executable's pages are resident depends on how the page cache holds
// the file, not only on what the process touches. The same controller
// binary had 59 MiB of file-backed RSS freshly linked and 46 MiB after its
// pages were dropped and read back (docs/reliability.md, "The binary's
// pages").
func DropCachedPages(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }() // opened read-only: nothing to flush
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("dropping the cached pages of %s: %w", path, err)
	}
	return nil
}
