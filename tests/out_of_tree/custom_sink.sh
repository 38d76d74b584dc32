#!/usr/bin/env bash
# custom_sink.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir="$1"
source_dir="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
# A plugin author needs the SDK alone: the core's libraries are kept out of sight. The plugin is
# built with the compiler invalidator was built with, as the plugin host requires.
compiler="$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "$build_dir/CMakeCache.txt")"
cmake -S "$source_dir/examples/custom_sink" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" \
  ${compiler:+-DCMAKE_CXX_COMPILER="$compiler"} \
  -DCMAKE_DISABLE_FIND_PACKAGE_spdlog=TRUE -DCMAKE_DISABLE_FIND_PACKAGE_tomlplusplus=TRUE \
  -DCMAKE_DISABLE_FIND_PACKAGE_simdjson=TRUE >/dev/null
cmake --build "$work/build"
ctest --test-dir "$work/build" --output-on-failure

bin="$work/prefix/bin/invalidator"
export INVALIDATOR_PLUGIN_PATH="$work/build/plugins"
listing="$("$bin" plugins)"
echo "$listing"
grep -q "sink     filecache" <<<"$listing"
# The installed binary finds the installed plugins beside it, not the build tree's.
grep -q "source   file .*$work/prefix/" <<<"$listing"

mkdir "$work/pages"
printf 'stale' >"$work/pages/customer%3A1001"
printf 'stale' >"$work/pages/customer%3A1002"
printf 'fresh' >"$work/pages/customer%3A1003"
printf '%s\n' \
  '{"before":{"id":1001},"after":{"id":1001},"source":{"schema":"public","table":"customers","lsn":1},"op":"u"}' \
  '{"before":{"id":1002},"after":null,"source":{"schema":"public","table":"customers","lsn":2},"op":"d"}' \
  >"$work/events.jsonl"
cat >"$work/pipeline.toml" <<TOML
[sources.events]
type = "file"
path = "$work/events.jsonl"

[sinks.pages]
type = "filecache"
directory = "$work/pages"

[[routes]]
from = ["events"]
table = "public.customers"
keys = ["customer:{id}"]
to = ["pages"]
TOML
"$bin" run -c "$work/pipeline.toml"
test ! -e "$work/pages/customer%3A1001"
test ! -e "$work/pages/customer%3A1002"
test "$(cat "$work/pages/customer%3A1003")" = fresh
echo "out-of-tree plugin: built, conformant, loaded and used by the installed binary"
