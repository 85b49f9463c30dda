#!/bin/bash
# Profiles one operation of `jiceng bench` against a seeded PostgreSQL district: a 24 s run, and
# in its middle ten seconds a system-wide CPU profile (perf) and the wait events of the
# district's PostgreSQL backends sampled every 20 ms (what the backends wait for when not on a
# CPU: a lock, a WAL flush, the client).
#
#   scripts/profile_bench.sh OP RATE OUT_DIR
#     OP    an operation of `jiceng bench --op` (e.g. points-award)
#     RATE  calls a second to offer, or `peak` for a closed loop
#   JICENG_BENCH_DATA_DIR (default /tmp/pgkeys) and JICENG_DATABASE_URL (default
#   postgres://postgres@127.0.0.1:5432/jiceng_bench) name the district `jiceng seed` made.
#
# Writes OUT_DIR/OP.bench (the bench's table), OP.comm (CPU by process), OP.sym (CPU by
# symbol) and OP.waits (wait events by count). Needs perf and psql; run as root or with
# kernel.perf_event_paranoid <= 0, on an otherwise idle machine.
set -euo pipefail

op=$1
rate=$2
out=$3
data_dir=${JICENG_BENCH_DATA_DIR:-/tmp/pgkeys}
url=${JICENG_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/jiceng_bench}
database=${url##*/}
jiceng=${JICENG_BIN:-./target/release/jiceng}
mkdir -p "$out"

rate_args=()
if [ "$rate" != peak ]; then
    rate_args=(--rate "$rate")
fi
"$jiceng" bench --data-dir "$data_dir" --database-url "$url" --op "$op" "${rate_args[@]}" \
    --duration-secs 24 --warmup-secs 2 --no-baseline >"$out/$op.bench" 2>&1 &
bench=$!
sleep 9

waits_query="SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') || ':'
  || left(regexp_replace(query, '\\s+', ' ', 'g'), 70) FROM pg_stat_activity
  WHERE datname = '$database' AND state = 'active' AND pid <> pg_backend_pid()"
printf '%s \\watch 0.02\n' "$waits_query" |
    timeout 10 psql "$url" -At >"$out/$op.waits.raw" 2>/dev/null &
sampler=$!
perf record -a -g -F 499 -o "$out/$op.perf" -- sleep 10 >/dev/null 2>&1
wait "$sampler" || true
wait "$bench"

grep -v '^$' "$out/$op.waits.raw" | sort | uniq -c | sort -rn >"$out/$op.waits"
perf report -i "$out/$op.perf" --no-children --sort comm -q -g none 2>/dev/null >"$out/$op.comm"
perf report -i "$out/$op.perf" --no-children --sort comm,dso,sym -q -g none 2>/dev/null |
    head -60 >"$out/$op.sym"
grep '^|' "$out/$op.bench" | tail -1
head -5 "$out/$op.comm"
head -8 "$out/$op.waits"
