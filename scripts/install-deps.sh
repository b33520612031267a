#!/usr/bin/env bash
# Installs every Debian 12 package modelwarden needs to build, test, benchmark and demo.
# Idempotent: a second run installs nothing new.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  # toolchain and BPF
  build-essential cmake pkg-config ccache clang llvm libbpf-dev bpftool linux-libc-dev
  # libraries
  libboost-dev libssl-dev openssl libyaml-cpp-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
  libcli11-dev libseccomp-dev libsystemd-dev zlib1g-dev liblzma-dev libbz2-dev
  # tests, fuzzing and benchmarks
  catch2 libbenchmark-dev libclang-rt-14-dev
  # real components the tests and the demo drive
  python3 python3-torch python3-numpy python3-joblib rsyslog rsyslog-openssl auditd iproute2 procps util-linux
  # packaging
  dpkg-dev file
  # metrics tests parse the scrape with the reference Prometheus text parser
  python3-prometheus-client
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all ${#PACKAGES[@]} packages present"
fi
