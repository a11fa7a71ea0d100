// Copyright 2022 The Prometheus Authors
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

// ../../build-kube-binaries.sh copies this file over plugins/plugins.go of a copy of the Prometheus
// module (the file `make plugins` generates from plugins.yml) and builds that copy through a
// `replace`: only the Kubernetes service discovery is compiled in, as upstream's own build does with
// a plugins.yml that lists only it. (`go build -overlay` cannot do it: Go refuses or ignores
// overlays of files in the module cache.) The other 22 discoveries and their SDKs (AWS EC2, Azure
// compute and network, Google Compute, OpenStack, Docker, ...) are most of a full build's compile
// time. file_sd and http_sd stay: plugins/minimum.go registers them.

package plugins

import (
	// Register kubernetes plugin.
	_ "github.com/prometheus/prometheus/discovery/kubernetes"
)
