//go:build tools

// Records the command this module builds so `go mod tidy` keeps its dependencies.
package prometheusbuild

import _ "github.com/prometheus/prometheus/cmd/prometheus"
