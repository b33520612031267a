#!/usr/bin/env bash
# Package test. `contents BUILD_DIR`: stage the install tree, run `cpack -G DEB` on it and check
# the .deb with dpkg-deb (files, control fields, maintainer scripts, conffiles, unit hardening)
# and systemd-analyze. `install BUILD_DIR` (root): also install, upgrade and purge it with dpkg.
set -euo pipefail
mode=$1
build=$(cd "$2" && pwd)
work=$(mktemp -d /tmp/mw-package-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "package test: FAIL: $*" >&2; exit 1; }

has_binary=0
grep -q '^modelwarden:' "$build/Makefile" 2>/dev/null && has_binary=1
if ((has_binary)) && [[ ! -x $build/agent/cli/modelwarden ]]; then
  fail "the modelwarden target exists but is not built in $build (build it first: cmake --build $build --target modelwarden)"
fi

# cpack's own install step would first build every target (preinstall depends on all); stage
# with cmake --install instead and let cpack package that tree with the same CPackConfig.
DESTDIR="$work/stage" cmake --install "$build" --prefix /usr >/dev/null
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" \
  -D CPACK_INSTALL_CMAKE_PROJECTS= -D "CPACK_INSTALLED_DIRECTORIES=$work/stage;/" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack -G DEB failed"; }
deb=$(ls "$work"/out/modelwarden_*.deb)
echo "package test: built $(basename "$deb")"

contents=$(dpkg-deb -c "$deb" | awk '{print $1, $2, $6}')
expect_file() { # MODE PATH
  grep -qx -- "$1 root/root ./$2" <<<"$contents" || fail "expected $1 ./$2 in the package; have:
$contents"
}
expect_file -rw-r--r-- etc/modelwarden/config.yaml
for p in $(ls "$work"/stage/etc/modelwarden/policies/); do
  expect_file -rw-r--r-- "etc/modelwarden/policies/$p"
done
[[ -n $(ls "$work"/stage/etc/modelwarden/policies/) ]] || fail "no default policies staged"
expect_file -rw-r--r-- lib/systemd/system/modelwarden.service
expect_file -rw-r--r-- usr/share/man/man8/modelwarden.8.gz
expect_file -rw-r--r-- usr/share/doc/modelwarden/copyright
((has_binary)) && expect_file -rwxr-xr-x usr/sbin/modelwarden

info=$(dpkg-deb -I "$deb")
grep -q '^ Package: modelwarden$' <<<"$info" || fail "Package field"
grep -q '^ Section: admin$' <<<"$info" || fail "Section field"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libbpf1 libssl3 libyaml-cpp0.7 libspdlog1.10 libfmt9 libseccomp2 libsystemd0; do
  if ((has_binary)); then
    # shlibdeps lists what the binary really links; libraries it does not link are not required.
    ldd "$build/agent/cli/modelwarden" 2>/dev/null | grep -q "${lib%%[0-9.]*}" || continue
  fi
  # Debian may name a library's runtime package with a suffix for its ABI (libspdlog1.10-fmt9).
  grep -Eq "(^|, )$lib(-[a-z0-9.]+)?( |,|$)" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
echo "package test: Depends: $depends"

dpkg-deb -e "$deb" "$work/control"
for s in postinst prerm postrm; do
  [[ $(stat -c %a "$work/control/$s") == 755 ]] || fail "$s is not mode 0755"
  sh -n "$work/control/$s" || fail "$s has a syntax error"
done
grep -q 'install -d -m 0700 -o root -g root /var/lib/modelwarden' "$work/control/postinst" || fail "postinst state dir"
grep -q 'systemctl daemon-reload' "$work/control/postinst" || fail "postinst daemon-reload"
grep -q 'rm -rf /var/lib/modelwarden /var/log/modelwarden' "$work/control/postrm" || fail "postrm purge"
grep -qx '/etc/modelwarden/config.yaml' "$work/control/conffiles" || fail "config.yaml is not a conffile"

mkdir "$work/root"
dpkg-deb -x "$deb" "$work/root"
unit="$work/root/lib/systemd/system/modelwarden.service"
for line in 'Type=notify' 'WatchdogSec=30s' 'Restart=always' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
  'ProtectHome=read-only' 'PrivateTmp=yes' 'ExecReload=/bin/kill -HUP $MAINPID' \
  'ExecStart=/usr/sbin/modelwarden run --config /etc/modelwarden/config.yaml' \
  'ReadWritePaths=/var/lib/modelwarden /var/log/modelwarden /sys/fs/bpf /sys/fs/cgroup' \
  'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_RESOURCE CAP_SYS_ADMIN CAP_NET_ADMIN CAP_KILL CAP_SYS_PTRACE CAP_DAC_READ_SEARCH'; do
  grep -qxF -- "$line" "$unit" || fail "unit lacks: $line"
done
zcat "$work/root/usr/share/man/man8/modelwarden.8.gz" | grep -q '^.SH NAME' || fail "man page unreadable"

if command -v systemd-analyze >/dev/null; then
  # Only the binary may be missing when the package has none (no modelwarden target yet).
  out=$(systemd-analyze verify --man=no "$unit" 2>&1 || true)
  out=$(grep -v 'Command /usr/sbin/modelwarden is not executable' <<<"$out" || true)
  [[ -z $out ]] || fail "systemd-analyze verify: $out"
  echo "package test: systemd-analyze verify clean"
else
  echo "package test: systemd-analyze not present: unit not verified"
fi

if [[ $mode == install ]]; then
  [[ $(id -u) == 0 ]] || fail "install mode needs root"
  if dpkg-query -W -f='${Status}' modelwarden 2>/dev/null | grep -q installed; then
    fail "modelwarden is already installed on this machine; not touching it"
  fi
  [[ -e /etc/modelwarden || -e /var/lib/modelwarden ]] && fail "/etc/modelwarden or /var/lib/modelwarden already exist"
  dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
  trap 'dpkg --purge modelwarden >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
  [[ $(stat -c %a /var/lib/modelwarden) == 700 ]] || fail "/var/lib/modelwarden is not 0700"
  [[ -d /var/log/modelwarden ]] || fail "/var/log/modelwarden missing"
  cmp -s /etc/modelwarden/config.yaml "$work/root/etc/modelwarden/config.yaml" || fail "config not installed"
  if ((has_binary)); then
    out=$(systemd-analyze verify --man=no /lib/systemd/system/modelwarden.service 2>&1) || fail "systemd-analyze verify: $out"
    # The unit's command line, run directly, must at least parse its arguments and the config.
    /usr/sbin/modelwarden run --help >/dev/null || fail "/usr/sbin/modelwarden run --help"
    /usr/sbin/modelwarden policy check /etc/modelwarden/policies/*.yaml >"$work/check.log" 2>&1 ||
      { cat "$work/check.log"; fail "default policies do not pass modelwarden policy check"; }
  fi
  # Upgrade (reinstall) keeps an operator's config edit.
  echo '# local edit' >>/etc/modelwarden/config.yaml
  touch /var/lib/modelwarden/state-marker
  dpkg -i --force-confold "$deb" >"$work/dpkg2.log" 2>&1 || { cat "$work/dpkg2.log"; fail "upgrade"; }
  tail -1 /etc/modelwarden/config.yaml | grep -qx '# local edit' || fail "upgrade lost the config edit"
  [[ -e /var/lib/modelwarden/state-marker ]] || fail "upgrade lost state"
  # Remove keeps state and conffiles; purge removes everything.
  dpkg -r modelwarden >/dev/null 2>&1 || fail "dpkg -r"
  [[ -e /var/lib/modelwarden/state-marker && -e /etc/modelwarden/config.yaml ]] || fail "remove deleted state or config"
  [[ ! -e /usr/sbin/modelwarden && ! -e /lib/systemd/system/modelwarden.service ]] || fail "remove left files"
  dpkg --purge modelwarden >/dev/null 2>&1 || fail "dpkg --purge"
  for p in /var/lib/modelwarden /var/log/modelwarden /etc/modelwarden; do
    [[ ! -e $p ]] || fail "purge left $p"
  done
  echo "package test: install, upgrade, remove and purge behaved"
fi
echo "package test: OK ($mode)"
