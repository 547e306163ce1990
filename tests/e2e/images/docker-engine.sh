#!/usr/bin/env bash
# A Docker engine for building and checking the end-to-end images.
#
#   docker-engine.sh start   use the engine that answers on DOCKER_HOST (or the default socket);
#                            else start Debian's dockerd in the background under the cache and
#                            print `export DOCKER_HOST=unix://...` on stdout
#   docker-engine.sh stop    stop the engine this script started (its pidfile), nothing else
#   docker-engine.sh host    print the DOCKER_HOST of the engine this script started, if running
#
# The engine runs without iptables rules or a bridge: this machine has no container registry
# and its containers need no network of their own (builds and checks use --network=host).
# Both commands are idempotent: a second start finds the running engine, a second stop finds
# none. Progress and errors go to stderr, so `eval "$(docker-engine.sh start)"` works.
set -euo pipefail

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/orchestration-engine"
DIR="$CACHE/docker"
SOCK="$DIR/docker.sock"
PIDFILE="$DIR/dockerd.pid"
LOG="$DIR/dockerd.log"
OWN_HOST="unix://$SOCK"
START_TIMEOUT="${DOCKER_ENGINE_START_TIMEOUT:-60}"

say() { echo "docker-engine: $*" >&2; }

# The pid in the pidfile, only while that process is a dockerd (a stale file after a reboot
# may name an unrelated process, which must never be signalled).
own_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null)" || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = dockerd ] || return 1
  echo "$pid"
}

answers() { timeout 10 docker ${1:+-H "$1"} info >/dev/null 2>&1; }

start() {
  # An engine this script started earlier (perhaps under another DOCKER_HOST) comes first, so
  # repeated starts report the same socket.
  if own_pid >/dev/null && answers "$OWN_HOST"; then
    echo "export DOCKER_HOST=$OWN_HOST"
    return 0
  fi
  if answers "${DOCKER_HOST:-}"; then
    say "using the running engine at ${DOCKER_HOST:-the default socket}"
    [ -n "${DOCKER_HOST:-}" ] && echo "export DOCKER_HOST=$DOCKER_HOST"
    return 0
  fi
  if ! command -v dockerd >/dev/null; then
    say "dockerd missing: installing Debian's docker.io"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >&2
  fi
  mkdir -p "$DIR/data" "$DIR/exec"
  # A dockerd of ours that no longer answers (or died) leaves a pidfile and socket behind.
  if pid="$(own_pid)"; then
    say "engine $pid does not answer; stopping it"
    stop
  fi
  rm -f "$SOCK" "$PIDFILE"
  say "starting dockerd on $SOCK (log: $LOG)"
  # setsid: the engine outlives this script and is not killed with the caller's process group.
  setsid dockerd --iptables=false --bridge=none \
    --data-root "$DIR/data" --exec-root "$DIR/exec" \
    -H "$OWN_HOST" --pidfile "$PIDFILE" >"$LOG" 2>&1 </dev/null &
  local deadline=$((SECONDS + START_TIMEOUT))
  until answers "$OWN_HOST"; do
    if ((SECONDS > deadline)); then
      say "dockerd did not answer within ${START_TIMEOUT}s; last log lines:"
      tail -20 "$LOG" >&2
      stop
      return 1
    fi
    sleep 0.5
  done
  say "dockerd answers (pid $(own_pid))"
  echo "export DOCKER_HOST=$OWN_HOST"
}

stop() {
  local pid
  if ! pid="$(own_pid)"; then
    rm -f "$PIDFILE"
    return 0
  fi
  say "stopping dockerd $pid"
  kill -TERM "$pid"
  # dockerd stops its containers and containerd first; give it time, then insist.
  for _ in $(seq 1 60); do
    [ -d "/proc/$pid" ] || break
    sleep 0.5
  done
  if [ -d "/proc/$pid" ]; then
    say "dockerd $pid still running after 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

host() {
  own_pid >/dev/null && answers "$OWN_HOST" && echo "$OWN_HOST"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  host) host ;;
  *)
    echo "usage: $0 start|stop|host" >&2
    exit 2
    ;;
esac
