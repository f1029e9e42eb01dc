#!/usr/bin/env bash
# The one-command start on a fresh Debian machine: installs what is missing,
# builds, starts a private redis-server (data and unix socket under ./var/redis)
# and onair in front of it, and stops both cleanly on Ctrl-C or SIGTERM.
#
#   deploy/run.sh                              serve 127.0.0.1:8080
#   ONAIR_LISTEN=127.0.0.1:9000 deploy/run.sh  another address
#   ONAIR_BIN=/path/to/onair deploy/run.sh     use that binary, do not build
#
# Every other ONAIR_* variable passes through to onair (see README.md).
# shellcheck disable=SC2317  # shellcheck 0.9 thinks functions run from traps are unreachable
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly VAR_DIR="$ROOT/var"
readonly REDIS_DIR="$VAR_DIR/redis"
readonly REDIS_SOCK="$REDIS_DIR/redis.sock"
readonly LISTEN="${ONAIR_LISTEN:-127.0.0.1:8080}"
readonly START_TIMEOUT_S=15
readonly STOP_TIMEOUT_S=30

redis_pid=""
onair_pid=""
stopping=0

log() {
  echo "run.sh: $*" >&2
}

die() {
  log "$*"
  exit 1
}

# Waits up to $2 seconds for process $1 to exit; 0 when it did.
wait_exit() {
  local pid=$1 deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# Stops onair: SIGTERM (it finishes in-flight requests, bounded), then waits.
# Returns onair's exit status, or 1 if it had to be killed.
stop_onair() {
  local pid=$onair_pid rc=0
  [[ -n "$pid" ]] || return 0
  onair_pid=""
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping onair (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_exit "$pid" "$STOP_TIMEOUT_S"; then
      log "onair did not exit within ${STOP_TIMEOUT_S}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 1
    fi
  fi
  wait "$pid" 2>/dev/null || rc=$?
  ((rc == 0)) || log "onair exited with status $rc"
  return "$rc"
}

# Stops redis-server: SHUTDOWN (flushes the AOF), SIGTERM if that fails.
stop_redis() {
  local pid=$redis_pid rc=0
  [[ -n "$pid" ]] || return 0
  redis_pid=""
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping redis-server (pid $pid)"
    redis-cli -s "$REDIS_SOCK" shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    if ! wait_exit "$pid" "$STOP_TIMEOUT_S"; then
      log "redis-server did not exit within ${STOP_TIMEOUT_S}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 1
    fi
  fi
  wait "$pid" 2>/dev/null || rc=$?
  ((rc == 0)) || log "redis-server exited with status $rc"
  return "$rc"
}

# EXIT trap: onair first (it may still be writing to Redis), then Redis.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_onair || rc=1
  stop_redis || rc=1
  exit "$rc"
}

on_signal() {
  stopping=1
  log "$1 received"
  exit 0
}

build() {
  if [[ -n "${ONAIR_BIN:-}" ]]; then
    [[ -x "$ONAIR_BIN" ]] || die "ONAIR_BIN=$ONAIR_BIN is not an executable"
    return 0
  fi
  log "building (Release)"
  (cd "$ROOT" && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >&2 &&
    cmake --build build -j "$(nproc)" >&2)
}

# Raises the open-file limit so onair can hold many connections.
raise_nofile() {
  local want=65536 hard
  hard=$(ulimit -Hn)
  if [[ "$hard" != unlimited ]] && ((hard < want)); then
    ulimit -Hn "$want" 2>/dev/null || want=$hard
  fi
  ulimit -Sn "$want" 2>/dev/null || log "could not raise the open-file limit to $want (now $(ulimit -Sn))"
}

start_redis() {
  mkdir -p "$REDIS_DIR"
  chmod 700 "$REDIS_DIR"
  if redis-cli -s "$REDIS_SOCK" ping >/dev/null 2>&1; then
    die "a redis-server already answers on $REDIS_SOCK (another run.sh?)"
  fi
  # setsid: a terminal's Ctrl-C reaches only this script, which then stops
  # onair before Redis instead of both at once.
  setsid redis-server "$ROOT/deploy/redis.conf" \
    --dir "$REDIS_DIR" --unixsocket "$REDIS_SOCK" --pidfile "" \
    --logfile "$REDIS_DIR/redis.log" </dev/null &
  redis_pid=$!
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until redis-cli -s "$REDIS_SOCK" ping 2>/dev/null | grep -q PONG; do
    if ! kill -0 "$redis_pid" 2>/dev/null; then
      tail -n 20 "$REDIS_DIR/redis.log" >&2 2>/dev/null || true
      die "redis-server failed to start (log: $REDIS_DIR/redis.log)"
    fi
    ((SECONDS < deadline)) || die "redis-server did not answer PING within ${START_TIMEOUT_S}s"
    sleep 0.1
  done
  log "redis-server (pid $redis_pid) ready on $REDIS_SOCK"
}

# Splits the first address of $LISTEN into the host and port clients use.
probe_address() {
  local first=${LISTEN%%,*} host port
  port=${first##*:}
  host=${first%:*}
  host=${host#[}
  host=${host%]}
  case "$host" in
    0.0.0.0 | "") host=127.0.0.1 ;;
    ::) host=::1 ;;
  esac
  printf '%s %s\n' "$host" "$port"
}

# True when GET /health on $1:$2 answers 200.
health_ok() {
  # shellcheck disable=SC2016  # $0 and $1 expand in the inner shell
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" &&
    printf "GET /health HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$0" >&3 &&
    head -c 12 <&3' "$1" "$2" 2>/dev/null | grep -q '^HTTP/1\.[01] 200'
}

start_onair() {
  local bin=${ONAIR_BIN:-$ROOT/build/onair} host port
  read -r host port < <(probe_address)
  setsid "$bin" --listen "$LISTEN" --redis "unix://$REDIS_SOCK" </dev/null &
  onair_pid=$!
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until health_ok "$host" "$port"; do
    if ! kill -0 "$onair_pid" 2>/dev/null; then
      local rc=0
      wait "$onair_pid" || rc=$?
      onair_pid=""
      die "onair failed to start (exit status $rc)"
    fi
    ((SECONDS < deadline)) || die "onair did not answer GET /health within ${START_TIMEOUT_S}s"
    sleep 0.1
  done
  [[ "$host" == *:* ]] && host="[$host]"
  log "onair (pid $onair_pid) serving $LISTEN; try:"
  echo "  curl http://$host:$port/health"
  log "Ctrl-C stops onair, then redis-server"
}

main() {
  trap cleanup EXIT
  trap 'on_signal SIGINT' INT
  trap 'on_signal SIGTERM' TERM
  "$ROOT/deploy/install-deps.sh"
  build
  mkdir -p "$VAR_DIR"
  raise_nofile
  start_redis
  start_onair
  local rc=0
  wait "$onair_pid" || rc=$?
  ((stopping)) && exit 0
  onair_pid=""
  log "onair exited on its own with status $rc"
  exit "$rc"
}

main "$@"
