# An example service image: the Go program in directory EXAMPLE, static, on
# a distroless base, non-root. Build from the repository root:
#
#   podman build -f deploy/example.Dockerfile --build-arg EXAMPLE=examples/go/customer \
#     -t localhost/evented-example-go-customer:dev .
#
# EXAMPLE may be a package of this module or a module of its own.
FROM docker.io/library/golang:1.26 AS build
WORKDIR /src
COPY . .
ARG EXAMPLE
RUN test -n "$EXAMPLE" || { echo "want --build-arg EXAMPLE=examples/go/<name>" >&2; exit 1; }
RUN cd "$EXAMPLE" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/app .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /usr/local/bin/app
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
