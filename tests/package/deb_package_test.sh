#!/usr/bin/env bash
# Builds the Debian package from a built tree (cpack -G DEB), installs it on this machine with
# dpkg -i, runs the installed binary on the installed configuration, checks the systemd unit
# (where systemd-analyze is present), and removes the package, configuration included.
#   tests/package/deb_package_test.sh BUILD_DIR
# Exit 77 (skipped) without root, or when an invalidator package is already installed here:
# the test does not replace someone's own.
set -euo pipefail
build="$1"

if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: installing a package needs root"
  exit 77
fi
if dpkg-query -W -f='${Status}' invalidator 2>/dev/null | grep -q "ok installed"; then
  echo "skipped: an invalidator package is installed already; remove it to run this test"
  exit 77
fi

work="$(mktemp -d /tmp/invalidator-deb-XXXXXX)"
installed=0
cleanup() {
  if [ "$installed" = 1 ]; then dpkg --purge invalidator >/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

(cd "$build" && cpack -G DEB -B "$work" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack -G DEB"; }
deb="$(ls "$work"/invalidator_*.deb)"

# What it holds and what it needs.
contents="$(dpkg-deb -c "$deb" | awk '{print $6}')"
for path in ./usr/bin/invalidator ./usr/lib/invalidator/plugins/libinvalidator_sink_redis.so \
            ./usr/lib/invalidator/plugins/libinvalidator_source_kafka.so \
            ./usr/include/invalidator/sdk/sink.hpp ./usr/lib/cmake/invalidator/invalidatorConfig.cmake \
            ./etc/invalidator/invalidator.toml ./lib/systemd/system/invalidator.service; do
  grep -qx "$path" <<<"$contents" || fail "$path is not in the package"
done
grep -q /usr/local <<<"$contents" && fail "the package installs under /usr/local"
depends="$(dpkg-deb -f "$deb" Depends)"
for library in librdkafka1 libpq5 libhiredis0.14 libmemcached11 libcurl4 libspdlog1.10; do
  grep -q "$library" <<<"$depends" || fail "Depends lacks $library: $depends"
done
dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/invalidator/invalidator.toml "$work/control/conffiles" || fail "the configuration is not a conffile"

dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }
installed=1

plugins="$(/usr/bin/invalidator plugins)"
for plugin in file kafka poll postgres pulsar memcached memory redis webhook; do
  grep -q "/usr/lib/invalidator/plugins/libinvalidator_.*_$plugin.so" <<<"$plugins" ||
    fail "the installed binary does not find the $plugin plugin: $plugins"
done
/usr/bin/invalidator validate -c /etc/invalidator/invalidator.toml || fail "the installed configuration does not validate"

if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/invalidator.service || fail "systemd-analyze verify"
else
  echo "systemd-analyze not present: the unit is not verified"
fi

dpkg --purge invalidator >/dev/null
installed=0
[ ! -e /usr/bin/invalidator ] || fail "/usr/bin/invalidator left after purge"
[ ! -e /etc/invalidator ] || fail "/etc/invalidator left after purge"
echo "ok: $(basename "$deb") installed, ran and removed"
