#!/usr/bin/env bash
# Real servers for the tests of evented's backends, on a bare Debian machine
# as root, without systemd: installed from Debian packages when missing, bound
# to 127.0.0.1 on fixed non-default ports, data in one temp dir, stopped by
# PID (never by name). See SERVICES.md for the facts this script encodes.
#
# Call it:
#   eval "$(bash .ci/services.sh start)"     # install + start all, export the test variables
#   bash .ci/services.sh start nats          # only some services
#   bash .ci/services.sh stop [service...]   # needs CI_SERVICES_DIR (exported by start)
#   bash .ci/services.sh restart rabbitmq
#   bash .ci/services.sh rabbitmq stop       # same as "stop rabbitmq" (how tests call it)
#   bash .ci/services.sh env                 # print the export lines again
# or source it and call the functions (install_nats, start_nats, stop_nats,
# restart_nats, env_nats, and the same for rabbitmq, postgres and redis).
#
# Adding a service X: write install_X, start_X, stop_X, env_X (restart_X is
# stop then start unless defined) and add X to SERVICES.
#
# Only the export lines go to standard output, so eval "$(… start)" works;
# progress goes to standard error.

SERVICES=(rabbitmq nats postgres redis)

# Fixed ports, away from the defaults so a developer's own broker is not hit,
# and below Linux's ephemeral range (32768+): there, an outgoing connection
# (rabbitmqctl polling epmd) can hold the port and the broker's listen fails
# with eaddrinuse — seen here.
: "${RABBITMQ_TEST_PORT:=17672}"      # AMQP
: "${RABBITMQ_TEST_DIST_PORT:=17673}" # Erlang distribution (rabbitmqctl talks to it)
: "${RABBITMQ_TEST_EPMD_PORT:=14369}" # epmd, started by us so we own its PID
: "${NATS_TEST_PORT:=14222}"
: "${POSTGRES_TEST_PORT:=15432}"
: "${REDIS_TEST_PORT:=16379}"

SERVICES_SCRIPT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# services_dir is the one directory holding every service's data, logs and PID
# files. start creates it; later calls (stop, restart — possibly from a test
# process) find it through CI_SERVICES_DIR.
services_dir() {
  if [ -z "${CI_SERVICES_DIR:-}" ]; then
    CI_SERVICES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/evented-services.XXXXXX")
    chmod 755 "$CI_SERVICES_DIR"
    export CI_SERVICES_DIR
    log "data in $CI_SERVICES_DIR"
  fi
  printf '%s' "$CI_SERVICES_DIR"
}

need_dir() {
  [ -n "${CI_SERVICES_DIR:-}" ] && [ -d "$CI_SERVICES_DIR" ] ||
    die "CI_SERVICES_DIR is not set or gone; it is exported by '$0 start'"
}

# ---------------------------------------------------------------- packages

APT_UPDATED=
apt_install() {
  if [ -z "$APT_UPDATED" ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  # Without systemd, a package's postinst would start its service through
  # invoke-rc.d on the default port on all interfaces; policy-rc.d exit 101
  # forbids that for the duration of the install.
  local made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  log "apt-get install $*"
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 || rc=$?
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
  return $rc
}

# wait_for tries "$@" every half second until it succeeds, seconds pass, or
# the process whose PID is in pidfile has exited (a failed boot).
wait_for() {
  local seconds=$1 what=$2 pidfile=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$pidfile"; then
      log "$what exited while starting"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$what not ready after ${seconds}s"
      return 1
    fi
    sleep 0.5
  done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid sends signal to the PID in file and waits (bounded) for it to exit.
stop_pid() {
  local file=$1 sig=${2:-TERM} seconds=${3:-30}
  pid_alive "$file" || { rm -f "$file"; return 0; }
  local pid
  pid=$(cat "$file")
  # It may exit between the check and the signal: then it is stopped.
  kill "-$sig" "$pid" 2>/dev/null || { rm -f "$file"; return 0; }
  local deadline=$((SECONDS + seconds))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "PID $pid did not exit after SIG$sig within ${seconds}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$file"
}

# ---------------------------------------------------------------- RabbitMQ

install_rabbitmq() {
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
}

# The programs themselves, not Debian's /usr/sbin wrappers: those cd to
# /var/lib/rabbitmq, send output to /var/log/rabbitmq and may reset HOME,
# which points rabbitmqctl at another Erlang cookie than our node's.
RABBITMQ_BIN=/usr/lib/rabbitmq/bin

# rabbitmq_env runs "$@" as user rabbitmq with the environment that pins the
# node to 127.0.0.1, our ports and our directory. rabbitmqctl needs the same
# HOME (Erlang cookie), node name and epmd port as the server.
rabbitmq_env() {
  local d=$CI_SERVICES_DIR/rabbitmq
  (cd "$d" && runuser -u rabbitmq -- env \
    HOME="$d" \
    RABBITMQ_NODENAME=evented@localhost \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$RABBITMQ_TEST_PORT" \
    RABBITMQ_DIST_PORT="$RABBITMQ_TEST_DIST_PORT" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    ERL_EPMD_PORT="$RABBITMQ_TEST_EPMD_PORT" \
    RABBITMQ_MNESIA_BASE="$d/mnesia" \
    RABBITMQ_LOG_BASE="$d/log" \
    RABBITMQ_PID_FILE="$d/rabbitmq.pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
    RABBITMQ_CONFIG_FILE="$d/rabbitmq.conf" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='-kernel inet_dist_use_interface {127,0,0,1}' \
    "$@")
}

start_rabbitmq() {
  need_dir
  local d=$CI_SERVICES_DIR/rabbitmq
  if pid_alive "$d/rabbitmq.pid" && rabbitmq_env "$RABBITMQ_BIN/rabbitmqctl" -q status >/dev/null 2>&1; then
    log "rabbitmq already running"
    return 0
  fi
  mkdir -p "$d/mnesia" "$d/log"
  [ -e "$d/enabled_plugins" ] || echo '[].' >"$d/enabled_plugins"
  [ -e "$d/rabbitmq.conf" ] || echo 'loopback_users = none' >"$d/rabbitmq.conf"
  chown -R rabbitmq:rabbitmq "$d"

  # Our own epmd, on 127.0.0.1 and our port, so that we can stop it by PID.
  if ! pid_alive "$d/epmd.pid"; then
    ERL_EPMD_ADDRESS=127.0.0.1 epmd -port "$RABBITMQ_TEST_EPMD_PORT" >>"$d/log/epmd.out" 2>&1 &
    echo $! >"$d/epmd.pid"
    wait_for 10 epmd "$d/epmd.pid" port_open "$RABBITMQ_TEST_EPMD_PORT" || die "epmd did not start"
  fi

  log "starting rabbitmq on 127.0.0.1:$RABBITMQ_TEST_PORT"
  rabbitmq_env "$RABBITMQ_BIN/rabbitmq-server" >>"$d/log/server.out" 2>&1 &
  echo $! >"$d/runuser.pid"
  # Boots in about 25 s; 90 s covers a slow machine.
  if ! wait_for 90 rabbitmq "$d/runuser.pid" rabbitmq_env "$RABBITMQ_BIN/rabbitmqctl" -q await_startup --timeout 5; then
    tail -n 30 "$d/log/server.out" >&2
    die "rabbitmq did not start"
  fi
  wait_for 10 "rabbitmq amqp port" "$d/runuser.pid" port_open "$RABBITMQ_TEST_PORT" || die "rabbitmq port closed"
  log "rabbitmq ready"
}

stop_rabbitmq() {
  need_dir
  local d=$CI_SERVICES_DIR/rabbitmq
  [ -d "$d" ] || return 0
  if pid_alive "$d/rabbitmq.pid"; then
    log "stopping rabbitmq (PID $(cat "$d/rabbitmq.pid"))"
    # With the PID file, rabbitmqctl stop waits until the node has exited.
    rabbitmq_env "$RABBITMQ_BIN/rabbitmqctl" -q stop "$d/rabbitmq.pid" >&2 ||
      stop_pid "$d/rabbitmq.pid" TERM 30
  fi
  stop_pid "$d/runuser.pid" TERM 30
  # epmd stays up between a stop and a start (restart); a plain "stop" with
  # no service named stops it too.
}

stop_epmd() {
  [ -n "${CI_SERVICES_DIR:-}" ] && stop_pid "$CI_SERVICES_DIR/rabbitmq/epmd.pid" TERM 10
  return 0
}

env_rabbitmq() {
  echo "export AMQP_TEST_URL=amqp://guest:guest@127.0.0.1:$RABBITMQ_TEST_PORT/"
  echo "export AMQP_TEST_RESTART='CI_SERVICES_DIR=$CI_SERVICES_DIR RABBITMQ_TEST_PORT=$RABBITMQ_TEST_PORT RABBITMQ_TEST_DIST_PORT=$RABBITMQ_TEST_DIST_PORT RABBITMQ_TEST_EPMD_PORT=$RABBITMQ_TEST_EPMD_PORT bash $SERVICES_SCRIPT rabbitmq'"
}

# ---------------------------------------------------------------- NATS

install_nats() {
  command -v nats-server >/dev/null || apt_install nats-server
}

start_nats() {
  need_dir
  local d=$CI_SERVICES_DIR/nats
  if pid_alive "$d/nats.pid"; then
    log "nats already running"
    return 0
  fi
  mkdir -p "$d/jetstream"
  log "starting nats on 127.0.0.1:$NATS_TEST_PORT"
  nats-server -a 127.0.0.1 -p "$NATS_TEST_PORT" -js -sd "$d/jetstream" >>"$d/server.out" 2>&1 &
  echo $! >"$d/nats.pid"
  if ! wait_for 20 nats "$d/nats.pid" port_open "$NATS_TEST_PORT"; then
    tail -n 30 "$d/server.out" >&2
    die "nats did not start"
  fi
  log "nats ready"
}

stop_nats() {
  need_dir
  [ -e "$CI_SERVICES_DIR/nats/nats.pid" ] || return 0
  log "stopping nats (PID $(cat "$CI_SERVICES_DIR/nats/nats.pid"))"
  stop_pid "$CI_SERVICES_DIR/nats/nats.pid" TERM 30
}

env_nats() {
  echo "export NATS_TEST_URL=nats://127.0.0.1:$NATS_TEST_PORT"
  echo "export NATS_TEST_RESTART='CI_SERVICES_DIR=$CI_SERVICES_DIR NATS_TEST_PORT=$NATS_TEST_PORT bash $SERVICES_SCRIPT nats'"
}

# ---------------------------------------------------------------- PostgreSQL

# postgres_bindir prints the newest installed server's bin directory. Not
# pg_config --bindir: pg_config comes with libpq-dev and answers the same
# path whether or not the server package is installed.
postgres_bindir() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$bin" ] && [ -x "$bin/postgres" ] && [ -x "$bin/initdb" ] && printf '%s' "$bin"
}

install_postgres() {
  postgres_bindir >/dev/null || apt_install postgresql
}

# PostgreSQL refuses to run as root: the cluster belongs to user postgres,
# trusts local connections (test data only) and listens on 127.0.0.1 and a
# socket in its own directory. fsync stays on: the benchmarks measure the
# durable configuration.
start_postgres() {
  need_dir
  local d=$CI_SERVICES_DIR/postgres bin
  bin=$(postgres_bindir) || die "postgres is not installed (install_postgres)"
  if pid_alive "$d/postgres.pid" && "$bin/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_TEST_PORT"; then
    log "postgres already running"
    return 0
  fi
  mkdir -p "$d"
  chown postgres:postgres "$d"
  if [ ! -s "$d/data/PG_VERSION" ]; then
    log "initdb in $d/data"
    runuser -u postgres -- "$bin/initdb" -D "$d/data" -A trust -U postgres -E UTF8 >>"$d/initdb.out" 2>&1 ||
      { tail -n 30 "$d/initdb.out" >&2; die "initdb failed"; }
  fi
  log "starting postgres on 127.0.0.1:$POSTGRES_TEST_PORT"
  runuser -u postgres -- "$bin/postgres" -D "$d/data" -c listen_addresses=127.0.0.1 \
    -c port="$POSTGRES_TEST_PORT" -c unix_socket_directories="$d" -c max_connections=200 \
    >>"$d/server.out" 2>&1 &
  echo $! >"$d/runuser.pid"
  if ! wait_for 60 postgres "$d/runuser.pid" "$bin/pg_isready" -q -h 127.0.0.1 -p "$POSTGRES_TEST_PORT"; then
    tail -n 30 "$d/server.out" >&2
    die "postgres did not start"
  fi
  # The postmaster, not runuser, takes the shutdown signal.
  head -n 1 "$d/data/postmaster.pid" >"$d/postgres.pid"
  log "postgres ready"
}

stop_postgres() {
  need_dir
  local d=$CI_SERVICES_DIR/postgres
  [ -e "$d/postgres.pid" ] || return 0
  log "stopping postgres (PID $(cat "$d/postgres.pid"))"
  # SIGINT is the fast shutdown: roll back open transactions, checkpoint, exit.
  stop_pid "$d/postgres.pid" INT 60
  stop_pid "$d/runuser.pid" TERM 10
}

env_postgres() {
  echo "export POSTGRES_TEST_URL=postgres://postgres@127.0.0.1:$POSTGRES_TEST_PORT/postgres?sslmode=disable"
  echo "export POSTGRES_TEST_RESTART='CI_SERVICES_DIR=$CI_SERVICES_DIR POSTGRES_TEST_PORT=$POSTGRES_TEST_PORT bash $SERVICES_SCRIPT postgres'"
}

# ---------------------------------------------------------------- Redis

install_redis() {
  command -v redis-server >/dev/null || apt_install redis-server
}

# Redis runs with the durable settings evented documents for production:
# append-only file, fsynced before each write is acknowledged. No RDB
# snapshots (--save ""): the AOF is the only copy.
start_redis() {
  need_dir
  local d=$CI_SERVICES_DIR/redis
  if pid_alive "$d/redis.pid" && redis-cli -h 127.0.0.1 -p "$REDIS_TEST_PORT" ping 2>/dev/null | grep -q PONG; then
    log "redis already running"
    return 0
  fi
  mkdir -p "$d"
  log "starting redis on 127.0.0.1:$REDIS_TEST_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_TEST_PORT" --dir "$d" --save "" \
    --appendonly yes --appendfsync always --daemonize no >>"$d/server.out" 2>&1 &
  echo $! >"$d/redis.pid"
  if ! wait_for 20 redis "$d/redis.pid" sh -c "redis-cli -h 127.0.0.1 -p $REDIS_TEST_PORT ping | grep -q PONG"; then
    tail -n 30 "$d/server.out" >&2
    die "redis did not start"
  fi
  log "redis ready"
}

stop_redis() {
  need_dir
  [ -e "$CI_SERVICES_DIR/redis/redis.pid" ] || return 0
  log "stopping redis (PID $(cat "$CI_SERVICES_DIR/redis/redis.pid"))"
  stop_pid "$CI_SERVICES_DIR/redis/redis.pid" TERM 30
}

env_redis() {
  echo "export REDIS_TEST_URL=redis://127.0.0.1:$REDIS_TEST_PORT/0"
  echo "export REDIS_TEST_RESTART='CI_SERVICES_DIR=$CI_SERVICES_DIR REDIS_TEST_PORT=$REDIS_TEST_PORT bash $SERVICES_SCRIPT redis'"
}

# ---------------------------------------------------------------- dispatch

is_service() {
  local s
  for s in "${SERVICES[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

restart_service() {
  if declare -F "restart_$1" >/dev/null; then
    "restart_$1"
  else
    "stop_$1" && "start_$1"
  fi
}

services_main() {
  set -euo pipefail
  # "rabbitmq stop" reads as "stop rabbitmq": lets a test append the action.
  if [ $# -ge 2 ] && is_service "$1"; then
    set -- "$2" "$1"
  fi
  local action=${1:-}
  shift || true
  local list=("$@")
  [ ${#list[@]} -gt 0 ] || list=("${SERVICES[@]}")
  local s
  for s in "${list[@]}"; do is_service "$s" || die "unknown service '$s'; known: ${SERVICES[*]}"; done

  case $action in
  install)
    for s in "${list[@]}"; do "install_$s"; done
    ;;
  start)
    [ "$(id -u)" = 0 ] || die "run as root (installs packages, runs brokers as their users)"
    for s in "${list[@]}"; do "install_$s"; done
    services_dir >/dev/null
    for s in "${list[@]}"; do "start_$s"; done
    echo "export CI_SERVICES_DIR=$CI_SERVICES_DIR"
    for s in "${list[@]}"; do "env_$s"; done
    ;;
  stop)
    for s in "${list[@]}"; do "stop_$s"; done
    if [ $# -eq 0 ]; then
      stop_epmd
    fi
    ;;
  restart)
    for s in "${list[@]}"; do restart_service "$s"; done
    ;;
  env)
    need_dir
    echo "export CI_SERVICES_DIR=$CI_SERVICES_DIR"
    for s in "${list[@]}"; do "env_$s"; done
    ;;
  *)
    die "usage: $0 install|start|stop|restart|env [${SERVICES[*]}]"
    ;;
  esac
}

# Executed, not sourced: dispatch.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  services_main "$@"
fi
