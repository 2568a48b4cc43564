# evented's tasks. Run `just` to list them. Each recipe is a thin wrapper:
# the commands it runs are printed, and you can type them yourself — the
# set-up of README.md needs only Go (go run ./cmd/evented serve, go test ./...).
#
# Install just: `npm install -g rust-just`, `cargo install just`, or a
# package of your system (see https://github.com/casey/just).

set shell := ["bash", "-euo", "pipefail", "-c"]

# Where build and build-release put binaries.
out := "bin"
# Container engine: podman if installed, else docker; CONTAINER_ENGINE overrides.
engine := env("CONTAINER_ENGINE", `command -v podman >/dev/null 2>&1 && echo podman || echo docker`)
# The Kind cluster and the namespace evented is deployed to.
cluster := env("KIND_CLUSTER", "evented")
namespace := "evented"
context := "kind-" + cluster
# Image tag of everything built for Kind (deploy/overlays/dev uses it).
tag := "dev"
# The Go example services: examples/go/<name>, image evented-example-go-<name>.
go_examples := "customer transaction saga-loyalty projector-receipt projector-log-customer projector-log-transaction projector-loyalty"
# The Go example clients: examples/go/<name>, built and tested with the services, no image.
go_clients := "loyalty-watch"
# The Python of the SDK and examples: the virtualenv .venv when there is one
# (just python-venv makes it), else python3.
python := if path_exists(justfile_directory() / ".venv/bin/python") == "true" { justfile_directory() / ".venv/bin/python" } else { "python3" }

# Kind runs its nodes on podman only when told to.
export KIND_EXPERIMENTAL_PROVIDER := if engine == "podman" { "podman" } else { env("KIND_EXPERIMENTAL_PROVIDER", "") }

# List the recipes
default:
    @just --list --unsorted

# Build the framework: bin/evented
[group('development')]
build:
    go build -o {{ out }}/evented ./cmd/evented

# Build optimized release binary (static, stripped): bin/evented
[group('development')]
build-release:
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o {{ out }}/evented ./cmd/evented

# Run all unit tests (just test -race, just test -run Name); what they skip, and why, is printed
[group('development')]
test *args:
    go test {{ args }} ./...

# Run all tests with the slow ones too: every example built, the justfile's recipes (SLOW_TESTS=1, as CI)
[group('development')]
test-slow *args:
    SLOW_TESTS=1 go test {{ args }} ./...

# Run Gherkin acceptance tests and the CLI's tests against a real server (no containers)
[group('development')]
acceptance-test *args:
    go test {{ args }} ./tests/acceptance/... ./internal/cli/...

# Start the evented server (just run --config my.yaml)
[group('development')]
run *args:
    go run ./cmd/evented serve {{ args }}

# Fast compile check without building: go build and go vet
[group('development')]
check:
    go build ./...
    go vet ./...

# Format code with gofmt
[group('development')]
fmt:
    gofmt -w $(git ls-files '*.go')

# Fail if any Go file is not gofmt-formatted
[group('development')]
fmt-check:
    #!/usr/bin/env bash
    set -euo pipefail
    unformatted=$(gofmt -l $(git ls-files '*.go'))
    if [ -n "$unformatted" ]; then echo "gofmt would change:"; echo "$unformatted"; echo "run: just fmt"; exit 1; fi
    echo "all Go files are gofmt-formatted"

# Run go vet and golangci-lint v2.15.0 with .golangci.yml (built by go run on first use, minutes; cached after)
[group('development')]
lint:
    go vet ./...
    go run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run ./...

# Measure evented beside its raw floors and check the targets (just bench --json report.json; see BENCHMARKS.md)
[group('development')]
bench *args:
    go run ./cmd/evented bench {{ args }}

# Measure hallgren/eventsourcing and modernice/goes appending beside evented's store and the floors (just bench-peers -postgres URL; bench/peers, BENCHMARKS.md)
[group('development')]
bench-peers *args:
    cd bench/peers && go run . {{ args }}

# Generate all language bindings (Go, Python, Rust)
[group('proto')]
proto-generate: proto-go proto-python proto-rust

# Generate Go bindings only: api/ (go generate ./api; buf and plugins pinned in tools/go.mod)
[group('proto')]
proto-go:
    go generate ./api

# Generate Python bindings only: the checked-in stubs of sdk/python and examples/python (sdk/python/generate.py; needs just python-venv)
[group('proto')]
proto-python:
    {{ python }} sdk/python/generate.py

# Generate Rust bindings only: each crate's build.rs compiles proto/ at build time (protox, no protoc): cargo build -p evented -p shop
[group('proto')]
proto-rust:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v cargo >/dev/null || { echo "proto-rust: cargo is not installed (https://rustup.rs). Nothing done."; exit 0; }
    set -x
    cargo build -p evented -p shop

# Remove generated files (api/**/*.pb.go and the Python stubs); just proto-go and just proto-python bring them back
[group('proto')]
proto-clean:
    rm -f api/eventedpb/*.pb.go api/examplespb/*.pb.go
    rm -f sdk/python/src/evented/evented_pb2*.py* examples/python/shop/pb/examples/domains_pb2.py*

# Build all example services
[group('examples')]
examples-build: examples-go examples-python examples-rust

# Test all examples (those present in examples/go, examples/python, examples/rust)
[group('examples')]
examples-test:
    #!/usr/bin/env bash
    set -euo pipefail
    shopt -s nullglob
    ran=0
    for name in {{ go_examples }} {{ go_clients }}; do
      if [ -d "examples/go/$name" ]; then (set -x; cd "examples/go/$name" && go test ./...); ran=1; fi
    done
    if [ -d examples/python ]; then (set -x; {{ python }} -m pytest -q examples/python); ran=1; fi
    if [ -f examples/rust/customer/Cargo.toml ]; then (set -x; cargo test -p shop $(printf -- '-p %s ' {{ go_examples }})); ran=1; fi
    [ $ran = 1 ] || echo "examples-test: no examples in examples/go, examples/python or examples/rust yet. Nothing done."

# Build Rust examples only: target/debug/<name> (cargo build --bins, the workspace of Cargo.toml)
[group('examples')]
examples-rust:
    #!/usr/bin/env bash
    set -euo pipefail
    [ -f examples/rust/customer/Cargo.toml ] || { echo "examples-rust: no Rust examples in examples/rust yet. Nothing done."; exit 0; }
    command -v cargo >/dev/null || { echo "examples-rust: cargo is not installed (https://rustup.rs). Nothing built."; exit 0; }
    set -x
    cargo build --bins

# Build Go examples only: bin/examples/<name>
[group('examples')]
examples-go:
    #!/usr/bin/env bash
    set -euo pipefail
    case "{{ out }}" in /*) dest="{{ out }}/examples" ;; *) dest="$PWD/{{ out }}/examples" ;; esac
    built=0
    for name in {{ go_examples }} {{ go_clients }}; do
      dir=examples/go/$name
      if [ -d "$dir" ]; then
        (set -x; cd "$dir" && go build -o "$dest/$name" .)
        built=1
      else
        echo "examples-go: skip $name: $dir is not in this checkout yet"
      fi
    done
    [ $built = 1 ] || echo "examples-go: no Go examples yet. Nothing built."

# Build Python examples only: byte-compile sdk/python and examples/python (Python needs no build; just python-venv installs what they need)
[group('examples')]
examples-python:
    #!/usr/bin/env bash
    set -euo pipefail
    [ -d examples/python ] || { echo "examples-python: no Python examples in examples/python yet. Nothing done."; exit 0; }
    (set -x; {{ python }} -m compileall -q sdk/python/src examples/python)
    if ! {{ python }} -c 'import grpc, grpc_health, google.protobuf, evented' 2>/dev/null; then
      echo "examples-python: {{ python }} lacks grpcio, protobuf or the SDK: run just python-venv"
    fi

# Create the virtualenv .venv of the Python SDK and examples (pip install -r examples/python/requirements.txt)
[group('examples')]
python-venv:
    python3 -m venv .venv
    .venv/bin/pip install -q -r examples/python/requirements.txt

# Test the Python SDK and examples (pytest, in .venv when there is one)
[group('examples')]
test-python *args:
    {{ python }} -m pytest -q {{ args }} sdk/python examples/python

# Test the Rust SDK and examples (cargo test of the workspace)
[group('examples')]
test-rust *args:
    cargo test {{ args }}

# Run the end-to-end suite against one language's examples, real processes (just examples-e2e python); skips a language with no examples
[group('examples')]
examples-e2e lang="go" *args:
    E2E_PYTHON="${E2E_PYTHON:-{{ python }}}" go test -count=1 -v {{ args }} ./tests/e2e/... -lang={{ lang }}

# Create the Kind cluster with the port mappings of kind-config.yaml (50051, 50052, 5672, 15672, 6379)
[group('kubernetes')]
kind-create:
    #!/usr/bin/env bash
    set -euo pipefail
    if kind get clusters 2>/dev/null | grep -qx '{{ cluster }}'; then echo "Kind cluster {{ cluster }} exists"; exit 0; fi
    set -x
    kind create cluster --name '{{ cluster }}' --config kind-config.yaml

# Delete the Kind cluster
[group('kubernetes')]
kind-delete:
    kind delete cluster --name '{{ cluster }}'

# Build the images: evented and the Go examples present in examples/go
[group('kubernetes')]
images:
    #!/usr/bin/env bash
    set -euo pipefail
    (set -x; {{ engine }} build -t localhost/evented:{{ tag }} -f Dockerfile .)
    for name in {{ go_examples }}; do
      if [ -d "examples/go/$name" ]; then
        (set -x; {{ engine }} build -t "localhost/evented-example-go-$name:{{ tag }}" -f deploy/example.Dockerfile --build-arg "EXAMPLE=examples/go/$name" .)
      else
        echo "images: skip $name: examples/go/$name is not in this checkout yet (its pod will wait with ErrImageNeverPull)"
      fi
    done

# Build the same images without a registry (deploy/image-local.sh: binaries built here, images FROM scratch)
[group('kubernetes')]
images-local:
    #!/usr/bin/env bash
    set -euo pipefail
    export CONTAINER_ENGINE='{{ engine }}'
    (set -x; deploy/image-local.sh evented {{ tag }})
    for name in {{ go_examples }}; do
      (set -x; deploy/image-local.sh go "$name" {{ tag }})
    done

# Load the built images into Kind (podman/docker save, then kind load image-archive)
[group('kubernetes')]
kind-load:
    #!/usr/bin/env bash
    set -euo pipefail
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    for image in localhost/evented:{{ tag }} $(for n in {{ go_examples }}; do echo "localhost/evented-example-go-$n:{{ tag }}"; done); do
      if ! {{ engine }} image inspect "$image" >/dev/null 2>&1; then echo "kind-load: skip $image: not built"; continue; fi
      (set -x; {{ engine }} save -o "$tmp/image.tar" "$image"; kind load image-archive --name '{{ cluster }}' "$tmp/image.tar")
      rm -f "$tmp/image.tar"
    done

# Build images, load into Kind, and deploy (creates the cluster if needed)
[group('kubernetes')]
deploy: kind-create images kind-load
    kubectl --context {{ context }} apply -k deploy/overlays/dev
    kubectl --context {{ context }} -n {{ namespace }} rollout status statefulset/evented --timeout=180s

# Rebuild and redeploy (faster iteration)
[group('kubernetes')]
redeploy: images kind-load
    kubectl --context {{ context }} apply -k deploy/overlays/dev
    kubectl --context {{ context }} -n {{ namespace }} rollout restart statefulset/evented
    kubectl --context {{ context }} -n {{ namespace }} rollout restart deployment
    kubectl --context {{ context }} -n {{ namespace }} rollout status statefulset/evented --timeout=180s

# Remove deployment (volumes of the StatefulSets stay until kind-delete)
[group('kubernetes')]
undeploy:
    kubectl --context {{ context }} delete -k deploy/overlays/dev --ignore-not-found

# Stream evented pod logs
[group('kubernetes')]
k8s-logs:
    kubectl --context {{ context }} -n {{ namespace }} logs -f --tail=100 --prefix -l app.kubernetes.io/name=evented

# Forward the ports to localhost (1313 command, 1314 query, 1315 admin: /metrics, /readyz, console)
[group('kubernetes')]
k8s-port-forward:
    kubectl --context {{ context }} -n {{ namespace }} port-forward svc/evented 1313:1313 1314:1314 1315:1315

# Render the manifests and validate them offline (what CI runs; no cluster needed)
[group('kubernetes')]
deploy-check:
    cd deploy/check && go run . -root ../..

# Print the rendered manifests of the dev overlay (like kubectl kustomize deploy/overlays/dev)
[group('kubernetes')]
deploy-render dir="overlays/dev":
    cd deploy/check && go run . -root ../.. -print {{ dir }}

# Deploy to Kind and run integration tests
[group('testing')]
integration-test: deploy integration-test-only

# Run integration tests against already-running cluster (localhost:50051/50052)
[group('testing')]
integration-test-only:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -d tests/integration ]; then
      set -x
      go test -count=1 ./tests/integration/...
      exit 0
    fi
    # No tests/integration yet: a smoke test through the CLI — a command
    # through evented and the customer example, then its events back.
    id="it-$(date +%s)"
    echo "integration-test-only: tests/integration does not exist yet; smoke test through the CLI against localhost:50051/50052"
    go build -o {{ out }}/evented ./cmd/evented
    if ! (set -x; {{ out }}/evented send customer "$id" examples.CreateCustomer '{"name":"Integration","email":"it@example.com"}' --command-addr localhost:50051); then
      echo "integration-test-only: failed; is the cluster deployed (just deploy) and the customer example running (kubectl -n {{ namespace }} get pods)?" >&2
      exit 1
    fi
    (set -x; {{ out }}/evented events customer "$id" --query-addr localhost:50052) | tee /dev/stderr | grep -q examples.CustomerCreated
    echo "integration-test-only: smoke test passed"
