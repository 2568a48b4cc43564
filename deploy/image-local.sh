#!/usr/bin/env bash
# Build evented's image, or an example service's, without an image registry:
# the program is built on this machine, its root file system assembled in a
# temporary build context, and Dockerfile.local (evented) or
# deploy/example.local.Dockerfile (examples) copy it into an image FROM
# scratch, as goreleaser-style Dockerfiles do. No RUN step, so no base image.
#
#   deploy/image-local.sh evented [TAG]            localhost/evented:TAG
#   deploy/image-local.sh go|rust|python NAME [TAG]
#                                                  localhost/evented-example-LANG-NAME:TAG
#
# TAG defaults to dev. NAME is a directory of examples/LANG. What each needs:
#   evented, go  Go: a static binary (CGO_ENABLED=0); for evented, $EVENTED_BIN
#                names one built already (a release's) instead.
#   rust         cargo: target/debug/NAME of cargo build --locked --bins (the
#                build CI makes; CARGO_PROFILE=release for the release one), and
#                the shared libraries it loads (ldd), copied from this machine.
#   python       a Python with grpcio, grpcio-health-checking and protobuf
#                ($PYTHON, default .venv/bin/python: just python-venv): its
#                interpreter, standard library and those packages, with the
#                shared libraries they load, copied from this machine; then
#                sdk/python/src and examples/python/{NAME,shop}.
# Every image runs as user 65532 (nonroot) and has the CA certificates of
# this machine. Environment: CONTAINER_ENGINE (default podman), and
# CONTAINER_BUILD_FLAGS (extra flags for "build"). See docs/howto/container.md.
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022   # the image's directories must be readable by user 65532

usage() { sed -n '8,10s/^# *//p' "$0" >&2; exit 2; }
[ $# -ge 1 ] || usage
kind=$1; shift
case $kind in
  evented) name=evented; image=localhost/evented ;;
  go|rust|python)
    [ $# -ge 1 ] || usage
    name=$1; shift
    [ -d "examples/$kind/$name" ] || { echo "image-local: no examples/$kind/$name" >&2; exit 2; }
    image=localhost/evented-example-$kind-$name ;;
  *) usage ;;
esac
tag=${1:-dev}
read -r -a engine <<< "${CONTAINER_ENGINE:-podman}"
read -r -a build_flags <<< "${CONTAINER_BUILD_FLAGS:-}"

ctx=$(mktemp -d "${TMPDIR:-/tmp}/evented-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/etc/ssl/certs" "$root/usr/local/bin" "$root/tmp"
chmod 1777 "$root/tmp"

# The user of distroless's nonroot image, and the CA certificates.
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"
for ca in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
  if [ -f "$ca" ]; then cp -L "$ca" "$root/etc/ssl/certs/ca-certificates.crt"; break; fi
done
[ -f "$root/etc/ssl/certs/ca-certificates.crt" ] || { echo "image-local: no CA certificates found (install ca-certificates)" >&2; exit 1; }

gobuild() { CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$1" "$2"; }

# copy_tree DIR [tar --exclude=...]: DIR into the root, at the same path.
copy_tree() {
  local dir=$1; shift
  tar -C / "$@" -cf - "${dir#/}" | tar -C "$root" -xf -
}

# libraries: every shared library the ELF files under the root load (ldd
# gives the whole closure), copied at the path the loader finds it on this
# machine. Debian's loader searches its multiarch directories without
# /etc/ld.so.cache; elsewhere set LD_LIBRARY_PATH in the image.
libraries() {
  local lib
  # ldd of many files: a "FILE:" line, then one tab-indented line per
  # library ("libc.so.6 => /lib/…/libc.so.6 (0x…)", or the loader's path).
  find "$root" -type f \( -perm -u+x -o -name '*.so*' \) -print0 |
    { xargs -0 -r ldd 2>/dev/null || true; } |   # fails for files that are not ELF
    awk '/^\t/ && $2 == "=>" && $3 ~ /^\// {print $3} /^\t\// {print $1}' | sort -u |
  while IFS= read -r lib; do
    [ -e "$root$lib" ] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

case $kind in
  evented)
    dockerfile=Dockerfile.local
    if [ -n "${EVENTED_BIN:-}" ]; then
      # A binary built already (a release's): it must not need a loader.
      if ldd "$EVENTED_BIN" >/dev/null 2>&1; then
        echo "image-local: EVENTED_BIN $EVENTED_BIN is dynamically linked: build it with CGO_ENABLED=0" >&2; exit 1
      fi
      cp "$EVENTED_BIN" "$root/usr/local/bin/evented"
    else
      gobuild "$root/usr/local/bin/evented" ./cmd/evented
    fi
    mkdir -p "$ctx/data"   # /data, owned by 65532 (Dockerfile.local)
    # Only server.host: reachable from outside the container (see Dockerfile).
    printf 'server:\n  host: 0.0.0.0\n' > "$root/config.yaml"
    ;;
  go)
    dockerfile=deploy/example.local.Dockerfile
    gobuild "$root/usr/local/bin/app" "./examples/go/$name"
    ;;
  rust)
    dockerfile=deploy/example.local.Dockerfile
    profile=${CARGO_PROFILE:-debug}
    flag=(); [ "$profile" = debug ] || flag=(--profile "$profile")
    # Every binary of the workspace, as CI and tests/e2e build them: one
    # resolution of features, so what they built is not built again.
    cargo build --locked -q "${flag[@]}" --bins
    target=${CARGO_TARGET_DIR:-target}
    # Debug information is most of a debug build's size and no use here.
    objcopy --strip-debug "$target/$profile/$name" "$root/usr/local/bin/app"
    libraries
    ;;
  python)
    dockerfile=deploy/example.local.Dockerfile
    python=${PYTHON:-.venv/bin/python}
    # The interpreter (the real file behind a virtualenv), its standard
    # library, and the files of the packages the SDK needs.
    info=$("$python" - <<'EOF'
import importlib.metadata as md, os, re, sys, sysconfig
print(os.path.realpath(sys._base_executable))
print(sysconfig.get_path("stdlib"))
# The SDK's requirements and theirs (not extras), as installed here.
todo, seen = ["grpcio", "grpcio-health-checking", "protobuf"], set()
while todo:
    name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
    if name in seen:
        continue
    seen.add(name)
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        continue  # a requirement for another Python version
    todo += [re.match(r"[A-Za-z0-9._-]+", r).group() for r in dist.requires or () if "extra ==" not in r]
    for f in dist.files or ():
        path = os.path.realpath(dist.locate_file(f))
        site = os.path.realpath(dist.locate_file(""))
        if path.startswith(site + os.sep):
            print(site, os.path.relpath(path, site), sep="\t")
EOF
)
    exe=$(sed -n 1p <<< "$info")
    stdlib=$(sed -n 2p <<< "$info")
    mkdir -p "$root$(dirname "$exe")" "$root/app/lib"
    cp -L "$exe" "$root$exe"
    ln -s "$exe" "$root/usr/local/bin/python3"
    copy_tree "$stdlib" --exclude=site-packages --exclude=dist-packages --exclude=test \
      --exclude=idlelib --exclude=tkinter --exclude=turtledemo --exclude=ensurepip --exclude=lib2to3 \
      --exclude='config-*'
    # Their files, by the directory they are installed in (one, usually).
    sed -n '3,$p' <<< "$info" | cut -f1 | sort -u | while IFS= read -r site; do
      sed -n '3,$p' <<< "$info" | awk -F '\t' -v site="$site" '$1 == site {print $2}' > "$ctx/files"
      tar -C "$site" -chf - -T "$ctx/files" | tar -C "$root/app/lib" -xf -
    done
    cp -r sdk/python/src/evented "$root/app/lib/evented"
    mkdir -p "$root/app/service"
    cp examples/python/"$name"/*.py "$root/app/service/"
    cp -r examples/python/shop "$root/app/shop"
    find "$root/app" -name 'test_*.py' -delete
    # The image's entry point: a script the kernel runs with the interpreter
    # (no shell in the image), running the example as python3 main.py would.
    cat > "$root/usr/local/bin/app" <<'EOF'
#!/usr/local/bin/python3
import runpy, sys
sys.path[:0] = ["/app/service", "/app/lib"]
sys.argv[0] = "/app/service/main.py"
runpy.run_path("/app/service/main.py", run_name="__main__")
EOF
    chmod 755 "$root/usr/local/bin/app"
    libraries
    ;;
esac

cp "$dockerfile" "$ctx/Dockerfile"
"${engine[@]}" build "${build_flags[@]}" -q -t "$image:$tag" -f "$ctx/Dockerfile" "$ctx" >/dev/null
echo "$image:$tag"
