#!/usr/bin/env bash
# Runs the registro benchmark suite against `registro serve` (embedded backend) and writes
# bench/results/<UTC date>-<short commit>.jsonl (a header line, then one line per measurement).
#
#   bench/run.sh                         # full suite (about 2½ minutes)
#   bench/run.sh --sustained 100 60      # only an open-loop 100 req/s for 60 s, then the
#                                        # pipeline latency of what it submitted
#
# Options:
#   --slow CLIENTS             instead of the suite: c=32 for --duration on a fresh server, then
#                              the same with CLIENTS slow 6 MB uploads on another (item 4)
#   --sustained RATE DURATION  open-loop constant arrival rate instead of the suite
#   --scenario NAME            scenario of --sustained (default: unique)
#   --duration SECS            length of each closed-loop level (default: 10)
#   --pipeline-wait SECS       longest wait for the pipeline to finish after the open-loop
#                              load before pipeline-latency measures anyway (default: 30)
#   --keep-data                keep the work directory (data dirs, server logs) on exit
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
pipeline_wait=30
keep_data=0
label="embedded"
slow_clients=""
out=""
build=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --slow)
      [[ $# -ge 2 ]] || { echo "usage: --slow CLIENTS" >&2; exit 2; }
      slow_clients="$2"; shift 2 ;;
    --sustained)
      [[ $# -ge 3 ]] || { echo "usage: --sustained RATE DURATION" >&2; exit 2; }
      sustained_rate="$2"; sustained_secs="$3"; shift 3 ;;
    --scenario) sustained_scenario="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --pipeline-wait) pipeline_wait="$2"; shift 2 ;;
    --keep-data) keep_data=1; shift ;;
    --label) label="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
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
server_data=""
target=""

# SIGTERM, up to 10 s for the bounded shutdown, then SIGKILL.
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  [[ -n "$server_pid" ]] && { wait "$server_pid" 2>/dev/null || true; }
  server_pid=""
}
cleanup() {
  stop_server
  if [[ $keep_data -eq 1 ]]; then
    echo "kept $work (data directories and server logs)" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The generator posts from one address; make sure the per-client limit is off.
export REGISTRO_RATE_LIMIT_PER_MINUTE=0

# Starts `registro serve` on a fresh data directory $work/$1; sets server_pid, server_data,
# target.
start_server() {
  local name="$1" log="$work/$1.log" err="$work/$1.err" addr=""
  server_data="$work/$name"
  mkdir -p "$server_data"
  "$registro" serve --addr 127.0.0.1:0 --data-dir "$server_data" >"$log" 2>"$err" &
  server_pid=$!
  # Port 0: the server names its address in the `listening` log line.
  for _ in $(seq 300); do
    addr="$(grep -m1 '"listening"' "$log" 2>/dev/null \
      | sed -n 's/.*"addr": *"\([^"]*\)".*/\1/p' || true)"
    [[ -n "$addr" ]] && break
    kill -0 "$server_pid" 2>/dev/null || { echo "server exited:" >&2; cat "$err" >&2; exit 1; }
    sleep 0.1
  done
  [[ -n "$addr" ]] || { echo "server did not log its address" >&2; exit 1; }
  target="http://$addr"
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "$target/healthz" && break
    sleep 0.1
  done
  curl -fsS -o /dev/null "$target/healthz" || { echo "$target/healthz never answered" >&2; exit 1; }
  echo "server $target (pid $server_pid, data $server_data), results -> $out" >&2
}

# Samples the server's VmRSS every 0.5 s into $work/rss.max (the largest sample) until stopped.
start_rss_sampler() {
  echo 0 >"$work/rss.max"
  (
    max=0
    while kill -0 "$server_pid" 2>/dev/null; do
      rss="$(awk '/^VmRSS:/{print $2}' "/proc/$server_pid/status" 2>/dev/null || echo 0)"
      [[ -n "$rss" && "$rss" -gt "$max" ]] && { max="$rss"; echo "$max" >"$work/rss.max"; }
      sleep 0.5
    done
  ) &
  sampler_pid=$!
}

# The largest sampled VmRSS, the final VmHWM and the VmRSS now, as a server_rss line.
peak_rss() { # $1 = phase
  local hwm now
  hwm="$(awk '/^VmHWM:/{print $2}' "/proc/$server_pid/status")"
  now="$(awk '/^VmRSS:/{print $2}' "/proc/$server_pid/status")"
  kill "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
  printf '{"kind":"server_rss","label":"%s","after":"%s","rss_kib":%s,"hwm_kib":%s,"rss_after_kib":%s}\n' \
    "$1" "$1" "$(cat "$work/rss.max")" "$hwm" "$now" | tee -a "$out"
}

# Hardening item 4: normal posts at c=32 on a fresh server, then the same with N slow 6 MB
# uploads alongside on another fresh server; peak RSS of each (the ratio of accepted/s is the
# figure).
slow_suite() { # CLIENTS
  start_server "normal"
  start_rss_sampler
  "$bench" --target "$target" --scenario unique --concurrency 32 --duration-secs "$duration" \
    --label normal --out "$out"
  peak_rss normal
  stop_server
  start_server "slow"
  start_rss_sampler
  "$bench" --target "$target" --scenario unique --concurrency 32 --duration-secs "$duration" \
    --slow-clients "$1" --label "slow-$1" --out "$out"
  peak_rss "slow-$1"
  stop_server
}

server_rss() { # $1 = when
  local rss hwm
  rss="$(awk '/^VmRSS:/{print $2}' "/proc/$server_pid/status")"
  hwm="$(awk '/^VmHWM:/{print $2}' "/proc/$server_pid/status")"
  printf '{"kind":"server_rss","label":"%s","after":"%s","rss_kib":%s,"hwm_kib":%s}\n' \
    "$label" "$1" "$rss" "$hwm" | tee -a "$out"
}

load() { "$bench" --target "$target" --label "$label" --out "$out" "$@"; }

# Open loop on a server of its own, then the acceptance → confirmation e-mail latency of every
# submission it took. The server keeps running meanwhile: its worker finishes the pipeline.
sustained() { # RATE DURATION SCENARIO
  start_server "sustained"
  load --scenario "$3" --rate "$1" --duration-secs "$2" --concurrency 256
  server_rss sustained
  "$bench" pipeline-latency --registro-bin "$registro" --data-dir "$server_data" \
    --wait-secs "$pipeline_wait" --label "$label" --out "$out"
  stop_server
}

"$bench" machine --commit "$commit_label" --date "$date_utc" --out "$out" >/dev/null

if [[ -n "$slow_clients" ]]; then
  slow_suite "$slow_clients"
elif [[ -n "$sustained_rate" ]]; then
  sustained "$sustained_rate" "$sustained_secs" "$sustained_scenario"
else
  start_server "data"
  server_rss idle
  load --scenario unique --concurrency 1,8,32 --duration-secs "$duration"
  load --scenario replay --concurrency 32 --duration-secs "$duration"
  load --scenario invalid --concurrency 32 --duration-secs "$duration"
  load --scenario mixed --concurrency 32 --duration-secs "$duration"
  server_rss load
  # The load server is stopped first so the startup runs have the machine to themselves.
  stop_server
  "$bench" startup --registro-bin "$registro" --data-dir "$work/startup" --runs 5 \
    --label "$label" --out "$out"
  sustained 100 60 unique
fi
echo "results appended to $out" >&2
