// The helm command the tests drive the chart with (go build helm.sh/helm/v3/cmd/helm,
// see test/cluster/helm.ts); this file only pins the module.

//go:build tools

package tools

import _ "helm.sh/helm/v3/cmd/helm"
