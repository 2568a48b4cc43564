# The evented server image: a static binary (CGO_ENABLED=0; SQLite is pure
# Go) on a distroless base, running as a non-root user (65532). Build from
# the repository root with podman or docker (they pull golang and distroless
# from their registries; without a registry, deploy/image-local.sh builds the
# same image from Dockerfile.local):
#
#   podman build -t localhost/evented:dev .
#   podman run --rm -p 1313:1313 -p 1314:1314 -p 1315:1315 -v evented-data:/data \
#     -e EVENTED_SERVER__INSECURE=true localhost/evented:dev
#
# Ports: 1313 commands and 1314 queries (gRPC), 1315 admin (HTTP: /metrics,
# /healthz, /readyz and the console). docs/howto/container.md says more.
#
# The working directory is /, so the default storage.path ./data/events.db is
# /data/events.db: the volume. Configure with a file (EVENTED_CONFIG) or
# EVENTED_* variables (evented config env lists them).
#
# The image's own /config.yaml (./config.yaml from /) sets only server.host
# 0.0.0.0, so that the ports are reachable from outside the container; a file
# named by EVENTED_CONFIG replaces it. Beyond loopback evented wants TLS and
# authentication, or an explicit EVENTED_SERVER__INSECURE=true (README,
# Security): without one of them it refuses to start and says which.
FROM docker.io/library/golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/evented ./cmd/evented \
 && mkdir -p /out/data \
 && printf 'server:\n  host: 0.0.0.0\n' > /out/config.yaml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/evented /usr/local/bin/evented
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/config.yaml /config.yaml
WORKDIR /
USER 65532:65532
EXPOSE 1313 1314 1315
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/evented"]
CMD ["serve"]
