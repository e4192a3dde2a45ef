# shellcheck shell=bash
# Installing Debian packages from the project's scripts: as root, or through passwordless
# sudo; retried once after refreshing the package lists. Source this file.

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if ! as_root apt-get install -y -q -o DPkg::Lock::Timeout=300 "$@"; then
    as_root apt-get update -q -o DPkg::Lock::Timeout=300
    as_root apt-get install -y -q -o DPkg::Lock::Timeout=300 "$@"
  fi
}

# ensure_command COMMAND PACKAGE...: installs the packages when COMMAND is missing.
ensure_command() {
  local command="$1"
  shift
  if command -v "$command" >/dev/null 2>&1; then
    return 0
  fi
  echo "installing $* (for $command)"
  apt_install "$@"
  command -v "$command" >/dev/null 2>&1 || { echo "$command is still missing after installing $*" >&2; return 1; }
}

# ensure_build_packages: what the workspace's C dependencies build with (the bundled librdkafka
# of the Kafka transport, tansu): a C/C++ toolchain, cmake, pkg-config and the curl, OpenSSL and
# zlib headers. dpkg knows what is installed; apt only runs for what is missing.
ensure_build_packages() {
  local package missing=()
  for package in cmake libcurl4-openssl-dev libssl-dev zlib1g-dev pkg-config; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$package")
    fi
  done
  if ! command -v c++ >/dev/null 2>&1; then
    missing+=(build-essential)
  fi
  if ((${#missing[@]} > 0)); then
    echo "installing ${missing[*]} (to build the C dependencies)"
    apt_install "${missing[@]}"
  fi
}

# The newest installed PostgreSQL server's bin folder (Debian keeps them outside PATH).
postgres_bindir() {
  local dir
  dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n1)"
  if [[ -n "$dir" && -x "$dir/initdb" ]]; then echo "$dir"; return 0; fi
  command -v initdb >/dev/null 2>&1 && dirname "$(command -v initdb)"
}
