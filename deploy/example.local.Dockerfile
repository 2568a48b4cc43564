# An example service image without a registry, for every language: the
# program is /usr/local/bin/app in a root file system assembled on this
# machine (a static Go binary; a Rust binary with the shared libraries it
# loads; a Python interpreter, its standard library, grpcio and protobuf, the
# SDK and the example, started by a script the kernel runs with it).
# Build with
#
#   deploy/image-local.sh go|rust|python NAME   # localhost/evented-example-LANG-NAME:dev
#
# The service listens on LISTEN_HOST:PORT (environment; empty LISTEN_HOST:
# every interface; PORT defaults to the example's port in examples/config.yaml).
FROM scratch
COPY rootfs/ /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/app"]
