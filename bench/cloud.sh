#!/usr/bin/env bash
# registro-api on the emulators (Firestore, fake-gcs-server): the Google Cloud backend's figures
# (issue 9). Writes to bench/results/<UTC date>-<short commit>.jsonl like run.sh:
#   - unique, replay and invalid at concurrency 1, 8, 32 (10 s each, --duration to change);
#   - server RSS idle and after the load;
#   - start → first answer: from exec to the first 200 of /healthz, and to the first accepted
#     submission, 5 fresh starts;
#   - Firestore and Cloud Storage operations per accepted submission are counted by the store's
#     own test (firestore-store: 2 reads, 3 writes, 1 transaction) and the upload (1 object write).
# It uses the emulators named by FIRESTORE_/STORAGE_EMULATOR_HOST, or starts its own
# (scripts/emulators) and stops them on exit.
#
#   bench/cloud.sh [--duration SECS] [--no-build] [--out FILE]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
duration=10
build=1
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --out) out="$2"; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
command -v curl >/dev/null || { echo "cloud.sh needs curl" >&2; exit 1; }

work="$(mktemp -d -t registro-cloud-bench.XXXXXX)"
server_pid=""
own_emulators=0
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
  [[ $own_emulators -eq 1 ]] && REGISTRO_EMULATORS_DIR="$work/emulators" scripts/emulators stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "${FIRESTORE_EMULATOR_HOST:-}" || -z "${STORAGE_EMULATOR_HOST:-}" ]]; then
  eval "$(REGISTRO_EMULATORS_DIR="$work/emulators" scripts/emulators start)"
  own_emulators=1
fi
if [[ $build -eq 1 ]]; then
  cargo build --release --locked -p registro -p registro-bench
fi
target_dir="${CARGO_TARGET_DIR:-$root/target}"
api="$target_dir/release/registro-api"
bench="$target_dir/release/registro-bench"

commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] && commit="$commit+dirty"
if [[ -z "$out" ]]; then
  mkdir -p bench/results
  out="bench/results/$(date -u +%Y-%m-%d)-${commit%+dirty}.jsonl"
fi
storage="$STORAGE_EMULATOR_HOST"
[[ "$storage" == *://* ]] || storage="http://$storage"
run="bench$(date +%s)"
bucket="$run-comprobantes"
curl -fsS -o /dev/null -X POST "$storage/storage/v1/b?project=${GOOGLE_CLOUD_PROJECT:-demo-registro}" \
  -H 'content-type: application/json' -d "{\"name\":\"$bucket\"}"

export GOOGLE_CLOUD_PROJECT="${GOOGLE_CLOUD_PROJECT:-demo-registro}"
export FIRESTORE_COLLECTION_NAME="${run}_inscripciones"
export IDEMPOTENCY_COLLECTION_NAME="${run}_inscripciones_idempotencia"
export OUTBOX_COLLECTION_NAME="${run}_inscripciones_outbox"
export COMPROBANTES_BUCKET_NAME="$bucket"
export REGISTRO_FRONTEND_URL=http://localhost:5173
export REGISTRO_ALLOWED_ORIGINS=http://localhost:5173
export REGISTRO_RATE_LIMIT_PER_MINUTE=0
export REGISTRO_PUBLIC_URL=http://127.0.0.1:1
export RECEIPT_LINK_KEY=0202020202020202020202020202020202020202020202020202020202020202
export REGISTRO_CATALOG="$root/catalog/example.json"
export REGISTRO_HOST=127.0.0.1 PORT=0 LOG_LEVEL=warn

# Starts registro-api; sets addr, t_exec (ns) and health_ms once /healthz answers.
addr=""
t_exec=0
health_ms=0
start_api() {
  local log="$work/api.log"
  addr=""
  t_exec="$(date +%s%N)"
  LOG_LEVEL=info "$api" >"$log" 2>"$work/api.err" &
  server_pid=$!
  for _ in $(seq 2000); do
    addr="$(grep -m1 '"listening"' "$log" 2>/dev/null | sed -n 's/.*"addr": *"\([^"]*\)".*/\1/p' || true)"
    if [[ -n "$addr" ]] && curl -fsS -o /dev/null "http://$addr/healthz" 2>/dev/null; then
      health_ms=$(( ($(date +%s%N) - t_exec) / 1000000 ))
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/api.err" >&2; exit 1; }
    sleep 0.005
  done
  echo "registro-api did not answer" >&2; exit 1
}

rss() { # $1 = when
  printf '{"kind":"server_rss","label":"cloud-emulators","after":"%s","rss_kib":%s,"hwm_kib":%s}\n' "$1" \
    "$(awk '/^VmRSS:/{print $2}' "/proc/$server_pid/status")" \
    "$(awk '/^VmHWM:/{print $2}' "/proc/$server_pid/status")" | tee -a "$out"
}

"$bench" machine --commit "$commit" --date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --note "registro-api on the Firestore emulator and fake-gcs-server (the emulators share the 2 cores)" \
  --out "$out" >/dev/null

# Start → first answer, five fresh processes (the Firestore client dials at startup).
for i in 1 2 3 4 5; do
  start_api
  "$bench" --target "http://$addr" --scenario unique --concurrency 1 --requests 1 \
    --label startup-probe --out "$work/probe.jsonl" >/dev/null
  first_ms=$(( ($(date +%s%N) - t_exec) / 1000000 ))
  printf '{"kind":"startup","label":"cloud-emulators","run":%s,"exec_to_health_ms":%s,"first_submission_ms":%s}\n' \
    "$i" "$health_ms" "$first_ms" | tee -a "$out"
  stop_server
done

start_api
rss idle
for scenario in unique replay invalid; do
  "$bench" --target "http://$addr" --scenario "$scenario" --concurrency 1,8,32 \
    --duration-secs "$duration" --label cloud-emulators --out "$out"
done
rss load
stop_server
echo "results appended to $out" >&2
