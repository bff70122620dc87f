#!/usr/bin/env bash
# Runs the registro benchmark suite against `registro serve` (embedded backend) and writes
# bench/results/<UTC date>-<short commit>.jsonl (a header line, then one line per measurement).
#
#   bench/run.sh                         # full suite (about 2 minutes)
#   bench/run.sh --sustained 100 60      # only an open-loop 100 req/s for 60 s
#
# Options:
#   --sustained RATE DURATION  open-loop constant arrival rate instead of the suite
#   --scenario NAME            scenario of --sustained (default: unique)
#   --duration SECS            length of each closed-loop level (default: 10)
#   --label TEXT               label copied into every line (default: embedded)
#   --out FILE                 results file (default: bench/results/<date>-<commit>.jsonl)
#   --no-build                 use the binaries already in target/release
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

sustained_rate=""
sustained_secs=""
sustained_scenario="unique"
duration=10
label="embedded"
out=""
build=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sustained)
      [[ $# -ge 3 ]] || { echo "usage: --sustained RATE DURATION" >&2; exit 2; }
      sustained_rate="$2"; sustained_secs="$3"; shift 3 ;;
    --scenario) sustained_scenario="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --label) label="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

command -v curl >/dev/null || { echo "run.sh needs curl" >&2; exit 1; }

if [[ $build -eq 1 ]]; then
  cargo build --release -p registro -p registro-bench
fi
target_dir="${CARGO_TARGET_DIR:-$root/target}"
registro="$target_dir/release/registro"
bench="$target_dir/release/registro-bench"

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
commit_label="$commit"
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  commit_label="$commit+dirty"
fi
date_utc="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [[ -z "$out" ]]; then
  mkdir -p bench/results
  out="bench/results/$(date -u +%Y-%m-%d)-$commit.jsonl"
fi

work="$(mktemp -d -t registro-bench.XXXXXX)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The generator posts from one address; make sure the per-client limit is off.
export REGISTRO_RATE_LIMIT_PER_MINUTE=0

mkdir -p "$work/data"
"$registro" serve --addr 127.0.0.1:0 --data-dir "$work/data" >"$work/server.log" 2>"$work/server.err" &
server_pid=$!

# Port 0: the server names its address in the `listening` log line.
addr=""
for _ in $(seq 300); do
  addr="$(grep -m1 '"listening"' "$work/server.log" 2>/dev/null \
    | sed -n 's/.*"addr": *"\([^"]*\)".*/\1/p' || true)"
  [[ -n "$addr" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { echo "server exited:" >&2; cat "$work/server.err" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$addr" ]] || { echo "server did not log its address" >&2; exit 1; }
target="http://$addr"
for _ in $(seq 300); do
  curl -fsS -o /dev/null "$target/healthz" && break
  sleep 0.1
done
curl -fsS -o /dev/null "$target/healthz" || { echo "$target/healthz never answered" >&2; exit 1; }
echo "server $target (pid $server_pid), results -> $out" >&2

"$bench" machine --commit "$commit_label" --date "$date_utc" --out "$out" >/dev/null

server_rss() { # $1 = when
  local rss hwm
  rss="$(awk '/^VmRSS:/{print $2}' "/proc/$server_pid/status")"
  hwm="$(awk '/^VmHWM:/{print $2}' "/proc/$server_pid/status")"
  printf '{"kind":"server_rss","label":"%s","after":"%s","rss_kib":%s,"hwm_kib":%s}\n' \
    "$label" "$1" "$rss" "$hwm" | tee -a "$out"
}

load() { "$bench" --target "$target" --label "$label" --out "$out" "$@"; }

if [[ -n "$sustained_rate" ]]; then
  load --scenario "$sustained_scenario" --rate "$sustained_rate" \
    --duration-secs "$sustained_secs" --concurrency 256
  server_rss sustained
else
  server_rss idle
  load --scenario unique --concurrency 1,8,32 --duration-secs "$duration"
  load --scenario replay --concurrency 32 --duration-secs "$duration"
  load --scenario invalid --concurrency 32 --duration-secs "$duration"
  load --scenario mixed --concurrency 32 --duration-secs "$duration"
  server_rss load
  # The load server is stopped first so the startup runs have the machine to themselves.
  kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""
  "$bench" startup --registro-bin "$registro" --data-dir "$work/startup" --runs 5 \
    --label "$label" --out "$out"
fi
echo "results appended to $out" >&2
