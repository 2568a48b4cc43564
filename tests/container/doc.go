// Package container tests the container images the way a user runs them,
// with podman: built without a registry (deploy/image-local.sh: a binary
// built on this machine, in an image FROM scratch), started, and talked to
// from the host through the published ports.
//
//	go test ./tests/container/                       # skipped when podman is not installed
//	CONTAINER_REQUIRE=1 go test ./tests/container/   # fails instead (CI)
//
// TestEventedImage runs evented's image as its non-root user, with a named
// volume for /data and the command, query and admin ports published on
// free ports of 127.0.0.1; sends a command with the evented CLI, reads the
// event back, checks /readyz and /metrics on the admin port; stops the
// container (a clean exit on SIGTERM), removes it, runs a new one on the
// same volume and reads the same event back.
//
// TestExampleImages builds the customer example's image in each language
// (go, rust, python), runs it on a podman network of its own beside an
// evented container routed to it, and sends commands through evented that
// only the example's business logic answers as it does: CustomerCreated
// with its created_at, and "customer already exists" for a second
// CreateCustomer. Rust needs cargo, Python a virtualenv with the SDK's
// packages ($PYTHON, default .venv/bin/python); a missing one skips that
// language, or fails under CONTAINER_REQUIRE=1.
//
// The engine is $CONTAINER_ENGINE (default podman; words split on spaces,
// so "podman --runtime runc" works). Hosts where podman needs settings
// (another OCI runtime, the cgroup manager, ulimits) get them from
// containers.conf: .ci/containers.conf holds what CI uses, through
// CONTAINERS_CONF. CONTAINER_SKIP=1 or -short skips the package (.ci/run
// runs it in a step of its own). Every image, container, volume and
// network is named after the test's process id and removed at the end.
package container
