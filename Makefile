# Faultline — build, generate, test.
#
# Every tool is pinned and installed into ./bin from the Go module proxy.
# Control-plane binaries (etcd, kube-apiserver, ...) are built once per machine
# into $(FAULTLINE_CACHE) by hack/tools.sh and reused by every clone.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

GO ?= go
BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
KUBE_VERSION ?= v1.37.1
export KUBE_VERSION

CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
# golangci-lint with kube-api-linter built in; .custom-gcl.yml pins both.
GOLANGCI_LINT_KAL := $(BIN)/golangci-lint-kube-api-linter

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-16s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC into config/ and the chart.
	$(CONTROLLER_GEN) rbac:roleName=faultline-manager crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook
	$(GO) run ./hack/webhookconditions config/webhook/manifests.yaml
	hack/sync-chart.sh

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy functions.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths="./api/..."

.PHONY: fmt
fmt: ## gofmt every Go file.
	gofmt -w $$(git ls-files '*.go')

.PHONY: verify
verify: manifests generate ## Regenerate and fail if anything generated is out of date.
	@if [ -n "$$(git status --porcelain -- api config charts)" ]; then \
		echo "generated files are out of date; run 'make manifests generate' and commit:"; \
		git status --porcelain -- api config charts; git --no-pager diff --stat -- api config charts; exit 1; fi
	@if [ -n "$$(gofmt -l $$(git ls-files '*.go'))" ]; then echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; fi
	$(GO) mod tidy -diff

.PHONY: lint
lint: lint-shell lint-api $(GOLANGCI_LINT) ## Run golangci-lint, kube-api-linter and shellcheck.
	$(GOLANGCI_LINT) run ./...

# The API conventions (docs: sigs.k8s.io/kube-api-linter), over api/ only, with
# the rules and the reasons for each exception in .golangci-kal.yml.
.PHONY: lint-api
lint-api: $(GOLANGCI_LINT_KAL) ## Run kube-api-linter over api/.
	$(GOLANGCI_LINT_KAL) run --config .golangci-kal.yml ./api/...

# Every tracked shell script: *.sh, .ci/run, and whatever under hack/ starts with a
# shell's #! line (a script there need not end in .sh). -x follows the scripts'
# `source` lines (their `# shellcheck source=` paths are from the repository root).
.PHONY: lint-shell
lint-shell: ## Run shellcheck (Debian's, installed by hack/tools.sh) on every shell script.
	hack/tools.sh shellcheck
	git ls-files -z -- '*.sh' .ci/run hack | \
		xargs -0 awk 'FNR == 1 && (FILENAME ~ /\.sh$$/ || FILENAME == ".ci/run" || /^#!.*[\/ ](ba|da|k)?sh( |$$)/) { print FILENAME }' | \
		sort -u | xargs shellcheck -x

.PHONY: build
build: ## Build the operator and the kubectl plugin into ./bin.
	$(GO) build -o $(BIN)/faultline ./cmd/faultline
	$(GO) build -o $(BIN)/kubectl-faultline ./cmd/kubectl-faultline

##@ Test

.PHONY: control-plane
control-plane: ## Build (once per machine) etcd and kube-apiserver for envtest from the Go module proxy.
	hack/tools.sh envtest

# The chart test (internal/charttest) runs the real helm and promtool.
.PHONY: chart-tools
chart-tools: ## Build (once per machine) helm and promtool, which the chart test runs.
	hack/tools.sh helm promtool

.PHONY: unit
unit: chart-tools ## Unit tests only: no API server.
	$(GO) test -short ./...

.PHONY: envtest
envtest: control-plane chart-tools ## Tests against a real etcd and kube-apiserver, and the HTML report in headless Chromium.
	hack/tools.sh chromium
	KUBEBUILDER_ASSETS="$$(hack/tools.sh --print-k8s-dir)" $(GO) test ./...

# The HTML report's browser test fails here, rather than skips, without chromium.
envtest: export FAULTLINE_REQUIRE_CHROMIUM := 1

.PHONY: e2e
e2e: ## The end-to-end suite on the local testbed (brought up and torn down), or on FAULTLINE_E2E_KUBECONFIG.
	hack/tools.sh all
	env -u KUBECONFIG $(GO) test -tags e2e -count=1 -v -timeout 60m ./e2e/

# The full soak campaign; each count is a minimum the campaign runs until.
# FAULTLINE_SOAK_SEED=<seed> replays a campaign's choices.
SOAK_KILLS ?= 200
SOAK_FAILOVERS ?= 5
SOAK_APISERVER_OUTAGES ?= 5
SOAK_PROMETHEUS_OUTAGES ?= 5
SOAK_DELETIONS ?= 20
SOAK_KILL_SWITCH ?= 5

.PHONY: soak
soak: ## The campaign against the operator on the testbed: 200 SIGKILLs, leader failovers, apiserver and Prometheus outages, deletions, kill-switch flips; prints its figures. (make test runs a short one.)
	hack/tools.sh all
	@mkdir -p $(CURDIR)/.bench
	env -u KUBECONFIG FAULTLINE_SOAK_KILLS=$(SOAK_KILLS) FAULTLINE_SOAK_FAILOVERS=$(SOAK_FAILOVERS) \
		FAULTLINE_SOAK_APISERVER_OUTAGES=$(SOAK_APISERVER_OUTAGES) FAULTLINE_SOAK_PROMETHEUS_OUTAGES=$(SOAK_PROMETHEUS_OUTAGES) \
		FAULTLINE_SOAK_DELETIONS=$(SOAK_DELETIONS) FAULTLINE_SOAK_KILL_SWITCH=$(SOAK_KILL_SWITCH) \
		FAULTLINE_SOAK_TIMEOUT=$${FAULTLINE_SOAK_TIMEOUT:-110m} FAULTLINE_SOAK_REPORT=$(CURDIR)/.bench/soak.txt \
		$(GO) test -tags e2e -count=1 -v -run '^TestSoak$$' -timeout 130m ./e2e/

# Runs of each kind (harmful, no-op) the judgement makes; make test runs 2.
JUDGEMENT_RUNS ?= 20

.PHONY: judgement
judgement: ## The comparison against a fixed threshold on the testbed: 20 harmful and 20 no-op runs; prints each run and the false positives and negatives of both. (make test runs 2 of each.)
	hack/tools.sh all
	mkdir -p .bench
	env -u KUBECONFIG FAULTLINE_JUDGEMENT_RUNS=$(JUDGEMENT_RUNS) FAULTLINE_JUDGEMENT_HTML=$(CURDIR)/.bench/judgement-harmful.html \
		$(GO) test -tags e2e -count=1 -v -run '^TestJudgement' -timeout 60m ./e2e/

.PHONY: test
test: envtest e2e ## Everything CI runs: unit, envtest and the end-to-end suite.

##@ Testbed and demo

.PHONY: testbed-up
testbed-up: ## A local cluster (kwok nodes), the demo shop, Prometheus and trafficsim; kubeconfig in .testbed/kubeconfig.
	hack/testbed-up.sh

.PHONY: testbed-down
testbed-down: ## Stop everything testbed-up started.
	hack/testbed-down.sh

.PHONY: demo
demo: ## The testbed, the operator, one run of each sample experiment watched live, and the reports.
	hack/demo.sh

BENCH_TABLE ?= $(CURDIR)/.bench/table.tsv

.PHONY: bench
bench: control-plane ## Benchmarks on envtest (abort latency, kill switch, scheduling lateness, selection); print one table, never fail.
	@mkdir -p $(dir $(BENCH_TABLE)) && rm -f $(BENCH_TABLE)
	FAULTLINE_BENCH_TABLE=$(BENCH_TABLE) KUBEBUILDER_ASSETS="$$(hack/tools.sh --print-k8s-dir)" $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...
	@$(GO) run ./hack/benchtable $(BENCH_TABLE)

.PHONY: bench-testbed
bench-testbed: ## Benchmarks on the testbed (pod kills side by side with client-go and kubectl, memory beside 10,000 pods); print one table.
	hack/tools.sh all
	@mkdir -p $(dir $(BENCH_TABLE)) && rm -f $(BENCH_TABLE)
	FAULTLINE_BENCH_TABLE=$(BENCH_TABLE) env -u KUBECONFIG $(GO) test -tags e2e -count=1 -run '^$$' -bench . -benchtime 1x -timeout 80m -v ./e2e/
	@$(GO) run ./hack/benchtable $(BENCH_TABLE)

##@ Tools

$(CONTROLLER_GEN):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/controller-gen $@
	ln -sf $(notdir $@) $(BIN)/controller-gen

# `golangci-lint custom` builds the golangci-lint of .custom-gcl.yml with its
# plugins into bin/. It clones golangci-lint with git; hack/custom-gcl/git
# serves that clone from the Go module proxy instead, the one source this
# build may reach. The version there must be the one pinned here.
$(GOLANGCI_LINT_KAL): .custom-gcl.yml hack/custom-gcl/git | $(GOLANGCI_LINT)
	@want="$$(sed -n 's/^version: *//p' .custom-gcl.yml)"; if [ "$$want" != "$(GOLANGCI_LINT_VERSION)" ]; then \
		echo ".custom-gcl.yml builds golangci-lint $$want, the Makefile pins $(GOLANGCI_LINT_VERSION): make them agree"; exit 1; fi
	PATH="$(CURDIR)/hack/custom-gcl:$$PATH" $(GOLANGCI_LINT) custom
	@touch $@

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/golangci-lint $@
	ln -sf $(notdir $@) $(BIN)/golangci-lint
