// Command kube-proxy is upstream's kube-proxy main, built from Go modules so that
// Services on the local node work as in any cluster: pods reach the API server's
// `kubernetes` Service, and the API server reaches a webhook through its Service.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-proxy/app"
)

func main() {
	os.Exit(cli.Run(app.NewProxyCommand()))
}
