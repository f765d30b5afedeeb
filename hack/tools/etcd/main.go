// Command etcd is upstream etcd's server, built from the Go module proxy for
// the local control plane used by tests (Debian's etcd is too old).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
