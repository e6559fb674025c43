#!/usr/bin/env bash
# Sets up the container engine the test suites start their Postgres and
# RabbitMQ in: podman (with runc) behind its Docker-compatible API service.
# A developer runs it once; .ci/run runs it on every build. Idempotent: on a
# warm machine it only checks that the socket answers (a second or two).
#
# Source it to get DOCKER_HOST and TESTCONTAINERS_RYUK_DISABLED in the calling
# shell (`. scripts/container-engine.sh`), or run it and export them yourself
# (it prints the two lines).
#
# Why these settings (see /work/shared/services.md): the VM forbids raising
# NOFILE/NPROC, so containers get no default ulimits; crun refuses the hybrid
# cgroups here, so runc runs the containers; no registry is reachable, so the
# reaper (Ryuk) is off and the test environment terminates its containers.
set -euo pipefail

sock=/run/podman/podman.sock

need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  echo "container-engine: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi

conf=/etc/containers/containers.conf
want='# written by BookWorm scripts/container-engine.sh
[containers]
default_ulimits = []

[engine]
runtime = "runc"'
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$(dirname "$conf")"
  printf '%s\n' "$want" >"$conf"
fi

answers() { curl -fsS --max-time 3 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }
# A service whose working directory was deleted (started by an older version
# of this script inside a CI clone since removed) answers pings but starts no
# container: replace it.
for pid in $(pgrep -f "podman system service .*unix://$sock" || true); do
  case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in
  *" (deleted)")
    echo "container-engine: replacing the API service whose working directory is gone (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    ;;
  esac
done
if ! answers; then
  mkdir -p "$(dirname "$sock")"
  rm -f "$sock"
  # setsid + nohup: the service outlives this script and the CI step. It runs
  # from / : conmon inherits the service's working directory, and a service
  # started inside a checkout that is later deleted (a CI clone) can start no
  # container ("Failed to get working directory").
  (cd / && setsid nohup podman system service --time=0 "unix://$sock" >/var/log/podman-service.log 2>&1 </dev/null &)
  for _ in $(seq 1 50); do answers && break; sleep 0.2; done
  answers || { echo "container-engine: podman API service did not answer on $sock" >&2; tail -20 /var/log/podman-service.log >&2; exit 1; }
  echo "container-engine: podman API service started on $sock"
fi

export DOCKER_HOST="unix://$sock"
export TESTCONTAINERS_RYUK_DISABLED=true
echo "export DOCKER_HOST=$DOCKER_HOST TESTCONTAINERS_RYUK_DISABLED=true"
