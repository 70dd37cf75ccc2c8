// Command etcd is etcd's server main, at the version k8s.io/kubernetes pins,
// built from Go modules for confighash's local control plane.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
