//go:build tools

// Records the command this module builds so `go mod tidy` keeps its dependencies.
package etcdbuild

import _ "go.etcd.io/etcd/server/v3"
