#!/usr/bin/env bash
# Runs `bench` of every app given, then prints their `bench:` lines as one table.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
  echo "no app has a bench subcommand yet"
  exit 0
fi
args=()
for app in "$@"; do args+=(-p "$app"); done
"${CARGO:-cargo}" build --release --quiet "${args[@]}"
lines=()
for app in "$@"; do
  echo "== $app bench" >&2
  line=$(target/release/"$app" bench | grep '^bench: ' | tail -n 1) || {
    echo "bench of $app failed" >&2
    exit 1
  }
  lines+=("$line")
done
printf '\n%-16s %-28s %14s  %s\n' app metric value unit
for line in "${lines[@]}"; do
  # bench: app=<app> metric=<metric> value=<number> unit=<unit>
  app=$(sed -E 's/.*app=([^ ]+).*/\1/' <<<"$line")
  metric=$(sed -E 's/.*metric=([^ ]+).*/\1/' <<<"$line")
  value=$(sed -E 's/.*value=([^ ]+).*/\1/' <<<"$line")
  unit=$(sed -E 's/.*unit=([^ ]+).*/\1/' <<<"$line")
  printf '%-16s %-28s %14s  %s\n' "$app" "$metric" "$value" "$unit"
done
