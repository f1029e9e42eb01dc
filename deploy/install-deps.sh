#!/usr/bin/env bash
# Installs the Debian packages onair needs to build, test and run.
# Idempotent: does nothing when every package is already installed.
#   deploy/install-deps.sh           build, test and run dependencies
#   deploy/install-deps.sh --bench   also wrk, nginx-light and jsmn (bench/run.sh)
set -euo pipefail

readonly BASE_PACKAGES=(
  build-essential cmake pkg-config
  libuv1-dev node-llhttp libhiredis-dev libsodium-dev libmbedtls-dev
  libcmocka-dev
  python3 python3-pytest python3-redis
  redis-server
)
readonly BENCH_PACKAGES=(wrk nginx-light curl libjsmn-dev)

die() {
  echo "install-deps: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 [--bench]" >&2
  exit 2
}

# Prints the packages of "$@" that dpkg does not report as installed.
missing_packages() {
  local pkg status
  for pkg in "$@"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "installed" ]]; then
      printf '%s\n' "$pkg"
    fi
  done
}

# Runs "$@" as root: directly when we are root, else through sudo.
as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "not root and sudo is not available; run as root: $*"
  fi
}

main() {
  local packages=("${BASE_PACKAGES[@]}")
  while (($#)); do
    case "$1" in
      --bench) packages+=("${BENCH_PACKAGES[@]}") ;;
      -h | --help) usage ;;
      *) echo "install-deps: unknown argument: $1" >&2; usage ;;
    esac
    shift
  done

  command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script is for Debian"

  local missing
  mapfile -t missing < <(missing_packages "${packages[@]}")
  if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#packages[@]} packages already installed" >&2
    return 0
  fi

  echo "install-deps: installing ${missing[*]}" >&2
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}

main "$@"
