# Two commands matter: `make run` (master + slaves locally) and `make test`.
SHELL := /bin/bash
export npm_config_nodedir ?= /usr

.PHONY: all install system-deps build lint test test-unit test-e2e run clean bench bench-policy bench-proxy bench-sync bench-reports bench-portal-diff bench-cluster cluster-up cluster-down kube-binaries crds bench-operator rbac

all: build

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.package-lock.json

build: install
	npx tsc -b

# Formatting (prettier) and import cycles are part of lint: `npx prettier --write .` fixes the first.
lint: install
	npx eslint .
	npx prettier --check --log-level warn '**/*.{ts,mjs,cjs,js}'
	node scripts/check-import-cycles.mjs proxy/src operator/src test bench

# The tests drive real Squid, etcd, Chromium, PostgreSQL, slapd and a Kubernetes control plane.
system-deps:
	bash .ci/install-debian-packages

# The real node's pods add and remove network interfaces on the host, and Chromium aborts page
# loads when they change (net::ERR_NETWORK_CHANGED in the portal UI tests): the e2e-kube project
# runs after the others, not beside them. The second closing line counts both runs.
TEST_TOTALS := .run/test-totals.json
test: system-deps kube-binaries build lint images docs-check
	@mkdir -p .run && rm -f $(TEST_TOTALS)
	SAFESQUID_TEST_TOTALS=$(TEST_TOTALS) npx jest --ci --selectProjects unit e2e cluster
	SAFESQUID_TEST_TOTALS=$(TEST_TOTALS) npx jest --ci --selectProjects e2e-kube

test-unit: build
	npx jest --ci --selectProjects unit

test-e2e: build
	npx jest --ci --selectProjects e2e

run: build
	node deploy/local/run.mjs

# CRD YAML from the TypeBox schemas in operator/src/api (a unit test fails when crds/ is stale).
crds: install
	npx tsc -b operator
	node operator/dist/api/generate-crds.js
	cp crds/*.yaml charts/safesquid/crds/   # the chart's copies (test/charts checks they match)

# docs/reference/*.md from the same schemas (operator/src/docs; a unit test fails when they are stale),
# docs/metrics.md from the slave's and master's registries (proxy/src/docs; test/docs checks real /metrics).
.PHONY: docs
docs: install
	npx tsc -b operator
	node operator/dist/docs/write-references.js
	node proxy/dist/docs/write-metrics-reference.js
	node proxy/dist/cli/write-cli-reference.js   # docs/cli.md (proxy/src/cli/cli-reference.test.ts checks it)

# Links and anchors resolve, PolicySet/SafeSquidCluster blocks validate, cookbook claims hold
# (policy explain), ```sh runnable blocks exit 0 (operator/src/docs/docs-check.ts).
.PHONY: docs-check
docs-check: build
	node operator/dist/docs/docs-check-main.js

# Benchmarks print figures against an anchor measured in the same run (Squid, direct, a small policy).
BENCHES := policy proxy sync reports portal-diff cluster operator
bench: $(addprefix bench-,$(BENCHES))

bench-policy bench-proxy bench-sync bench-reports bench-portal-diff: system-deps build
	node bench/dist/$(@:bench-%=%)/main.js

bench-cluster: build kube-binaries
	node bench/dist/cluster/main.js

# The operator on the test control plane: one cluster and 100 clusters to all children, no-op resync writes, RSS.
bench-operator: build kube-binaries
	node bench/dist/operator/main.js

# deploy/rbac/ from operator/src/rbac/rules.ts (the operator's permissions; a unit test checks they match).
rbac: install
	npx tsc -b operator
	node operator/dist/rbac/write-rbac.js
	cp deploy/rbac/cluster_role.yaml deploy/rbac/leader_election_role.yaml charts/safesquid/files/operator-rbac/   # the chart renders its RBAC from these (test/charts checks they match)

# Kubernetes control plane for tests and by hand (test/cluster/): binaries cached outside git.
kube-binaries:
	bash test/cluster/build-kube-binaries.sh

# REAL_NODE=1: also a real node (containerd, kubelet, kube-proxy) on this machine; needs root and system-deps.
cluster-up: build kube-binaries $(if $(filter 1,$(REAL_NODE)),system-deps)
	node test/dist/cluster/cli.js up $(if $(filter 1,$(REAL_NODE)),--real-node)

cluster-down: build
	node test/dist/cluster/cli.js down

# Container images without a registry (images/README.md): root filesystems from npm and Debian packages
# (.images/rootfs, the build context of images/*/Containerfile), then OCI layouts and docker archives
# (.images/proxy, .images/operator) with umoci and skopeo. Both do nothing when their inputs are unchanged.
.PHONY: images image-rootfs
image-rootfs: build
	bash images/rootfs.sh

images: system-deps image-rootfs
	bash images/oci.sh

clean:
	rm -rf */dist node_modules
