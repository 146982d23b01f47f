#!/usr/bin/env bash
# Extract-load throughput and memory: local engine vs a Ballista cluster, against the
# raw `\copy | \copy` pipe measured in the same run.
#
# One PostgreSQL table of N rows (default 10,000,000) is copied into another
# PostgreSQL target and into MariaDB:
#   pipe        psql `\copy (...) to stdout` piped into `\copy ... from stdin`
#               (PostgreSQL) or into `LOAD DATA LOCAL INFILE '/dev/stdin'` (MariaDB):
#               the floor, no DVT at all
#   local       `dvt run` with the built-in local engine (extract by ranges, stage as
#               Parquet, compute, bulk-load, swap)
#   ballista-1  `dvt run --compute cluster` on a dvt-scheduler with one dvt-executor
#   ballista-2  the same with two executors (they extract and load in parallel)
# It prints seconds, rows per second, each path's ratio to its pipe, and the peak
# resident memory of the dvt process (and of the largest executor), from
# /usr/bin/time.
#
# Usage: bench/cluster.sh [ROWS]
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, db test) and MariaDB on
# 127.0.0.1:3306 (root, no password, local_infile on). Uses the release binaries in
# target/release (built if missing) unless DVT_BIN_DIR points elsewhere; numbers from a
# debug build are not meaningful.
set -euo pipefail

rows=${1:-10000000}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
bin=${DVT_BIN_DIR:-$target_dir/release}
if [ ! -x "$bin/dvt" ] || [ ! -x "$bin/dvt-executor" ] || [ ! -x "$bin/dvt-scheduler" ]; then
    echo "building the release binaries (about 30 minutes on 2 cores)" >&2
    (cd "$root" && cargo build --release --bin dvt --bin dvt-executor --bin dvt-scheduler)
fi

psql_q() { psql -h 127.0.0.1 -U postgres -d test -qtAX "$@"; }
maria_q() { mariadb -h 127.0.0.1 -u root "$@"; }
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || {
    echo "PostgreSQL is not running on 127.0.0.1:5432; start it with: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
    exit 1
}
maria_q -e "select 1" >/dev/null 2>&1 || {
    echo "MariaDB is not running on 127.0.0.1:3306; start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd" >&2
    exit 1
}

id=$(date +%s)$$
src=dvt_bcl_src_$id
dst=dvt_bcl_dst_$id
work=$(mktemp -d)
pids=()
stop_cluster() {
    # Executors run under /usr/bin/time: signal its child, so time still writes the peak.
    for p in "${pids[@]}"; do pkill -TERM -P "$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
cleanup() {
    stop_cluster
    psql_q -c "drop schema if exists $src cascade; drop schema if exists $dst cascade" >/dev/null 2>&1 || true
    maria_q -e "drop database if exists $dst" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

echo "creating $rows source rows" >&2
psql_q -c "create schema $src; create schema $dst; create table $src.events as
    select g as id, g % 1000 as customer_id, (g * 7 % 10000) / 100.0 as amount,
           timestamp '2024-01-01' + (g || ' seconds')::interval as at, md5(g::text) as note
    from generate_series(1, $rows) g; alter table $src.events add primary key (id); analyze $src.events;"
maria_q -e "create database $dst"
columns="id bigint, customer_id bigint, amount decimal(12,2), at datetime(6), note varchar(32)"

mkdir -p "$work/project/models"
cat > "$work/project/dbt_project.yml" <<YAML
name: bench
profile: bench
models:
  bench:
    +materialized: table
YAML
cat > "$work/project/profiles.yml" <<YAML
bench:
  target: src
  outputs:
    src: {type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: $src}
    dst: {type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: $dst}
    maria: {type: mysql, server: 127.0.0.1, port: 3306, username: root, schema: $dst}
YAML
cat > "$work/project/models/sources.yml" <<YAML
version: 2
sources:
  - name: raw
    schema: $src
    connection: src
    tables: [{name: events}]
YAML
select="select id, customer_id, amount, at, note from {{ source('raw', 'events') }}"
echo "{{ config(target='dst') }}$select" > "$work/project/models/to_pg.sql"
echo "{{ config(target='maria') }}$select" > "$work/project/models/to_maria.sql"
cat > "$work/project/buckets.yml" <<YAML
bench:
  target: shared
  buckets:
    shared: {type: filesystem, path: "$work/staging", shared: true}
YAML

now() { date +%s.%N; }
results=$work/results.tsv
: > "$results"
# record PATH DEST SECONDS PIPE_SECONDS DVT_RSS_KB EXECUTOR_RSS_KB
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$results"; }
peak_kb() { awk -F': ' '/Maximum resident set size/ {print $2}' "$1"; }

# The floor: one process reads, one writes, no staging.
psql_q -c "create table $dst.pipe (like $src.events)"
t0=$(now)
psql_q -c "\\copy (select id, customer_id, amount, at, note from $src.events) to stdout" |
    psql_q -c "\\copy $dst.pipe from stdin"
pipe_pg=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {print b - a}')
maria_q "$dst" -e "create table pipe ($columns)"
t0=$(now)
psql_q -c "\\copy (select id, customer_id, amount, at, note from $src.events) to stdout with (format csv)" |
    maria_q --local-infile=1 "$dst" -e "load data local infile '/dev/stdin' into table pipe fields terminated by ',' optionally enclosed by '\"'"
pipe_maria=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {print b - a}')

check() {
    local got
    case $1 in
        to_pg) got=$(psql_q -c "select count(*) from $dst.to_pg") ;;
        to_maria) got=$(maria_q -N -e "select count(*) from $dst.to_maria") ;;
    esac
    [ "$got" = "$rows" ] || { echo "$1 has $got rows, expected $rows" >&2; exit 1; }
}

run_dvt() { # LABEL MODEL PIPE_SECONDS [dvt args...]
    local label=$1 model=$2 pipe=$3
    shift 3
    local t0 t1 exec_kb=0
    t0=$(now)
    /usr/bin/time -v -o "$work/time.$label.$model" \
        "$bin/dvt" run --project-dir "$work/project" --select "$model" "$@" >"$work/log.$label.$model" 2>&1 ||
        { cat "$work/log.$label.$model" >&2; exit 1; }
    t1=$(now)
    check "$model"
    record "$label" "$model" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$pipe" \
        "$(peak_kb "$work/time.$label.$model")" "$exec_kb"
}

for model in to_pg to_maria; do
    pipe=$pipe_pg
    [ "$model" = to_maria ] && pipe=$pipe_maria
    run_dvt local "$model" "$pipe"
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for executors in 1 2; do
    port=$(free_port)
    cat > "$work/project/computes.yml" <<YAML
bench:
  computes:
    cluster: {type: ballista, scheduler: "df://127.0.0.1:$port"}
YAML
    /usr/bin/time -o /dev/null "$bin/dvt-scheduler" --bind-host 127.0.0.1 --external-host 127.0.0.1 --bind-port "$port" \
        >"$work/scheduler.log" 2>&1 &
    pids+=($!)
    for i in $(seq 1 "$executors"); do
        /usr/bin/time -v -o "$work/time.exec$executors.$i" "$bin/dvt-executor" \
            --scheduler-host 127.0.0.1 --scheduler-port "$port" --bind-host 127.0.0.1 \
            --bind-port "$(free_port)" --bind-grpc-port "$(free_port)" \
            --profiles-dir "$work/project" --profile bench --bucket shared --executor-id "exec-$i" \
            --work-dir "$work/exec$executors.$i" >"$work/executor$i.log" 2>&1 &
        pids+=($!)
    done
    for _ in $(seq 1 300); do
        n=$(grep -c 'id: "exec-' "$work/scheduler.log" || true)
        [ "$n" -ge "$executors" ] && break
        sleep 0.1
    done
    for model in to_pg to_maria; do
        pipe=$pipe_pg
        [ "$model" = to_maria ] && pipe=$pipe_maria
        run_dvt "ballista-$executors" "$model" "$pipe" --compute cluster
    done
    # SIGTERM the executors (through time's child) so their peaks are written.
    stop_cluster
    kb=0
    for i in $(seq 1 "$executors"); do
        k=$(peak_kb "$work/time.exec$executors.$i" 2>/dev/null || echo 0)
        [ -n "$k" ] && [ "$k" -gt "$kb" ] && kb=$k
    done
    sed -i "s/^\\(ballista-$executors\t[^\t]*\t[^\t]*\t[^\t]*\t[^\t]*\t\\)0$/\\1$kb/" "$results"
done

echo "rows: $rows (pipe to PostgreSQL ${pipe_pg}s, to MariaDB ${pipe_maria}s)"
awk -F'\t' -v rows="$rows" 'BEGIN {
    printf "%-11s %-9s %9s %12s %8s %12s %14s\n", "path", "dest", "seconds", "rows/s", "ratio", "dvt peak MiB", "executor MiB"
}
{
    dest = ($2 == "to_pg") ? "postgres" : "mariadb"
    exec = ($6 > 0) ? sprintf("%.0f", $6 / 1024) : "-"
    printf "%-11s %-9s %9.2f %12.0f %8.2f %12.0f %14s\n", $1, dest, $3, rows / $3, $3 / $4, $5 / 1024, exec
}' "$results"
# The local engine streams: its peak stays under 1 GiB whatever the row count.
awk -F'\t' '$1 == "local" && $5 > 1048576 { printf "local %s peaked at %.0f MiB (over 1 GiB)\n", $2, $5 / 1024; bad = 1 } END { exit bad }' "$results"
