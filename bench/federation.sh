#!/usr/bin/env bash
# Federation throughput against an in-database baseline measured in the same run.
#
# One PostgreSQL table of N rows is copied three ways:
#   baseline   CREATE TABLE AS inside PostgreSQL (psql), no DVT at all
#   pushdown   the same SQL run by `dvt run` on the table's own target
#   federated  `dvt run` of the model on a second target: extract through the
#              source query, stage as Parquet, compute in DataFusion, COPY into
#              the destination, atomic swap
# It prints seconds, rows per second and each path's ratio to the baseline.
#
# Usage: bench/federation.sh [ROWS]   (default 1000000)
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, db test). Uses
# target/release/dvt (built if missing) unless DVT_BIN points elsewhere;
# numbers from a debug build are not meaningful.
set -euo pipefail

rows=${1:-1000000}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
dvt=${DVT_BIN:-$target_dir/release/dvt}
if [ ! -x "$dvt" ]; then
    echo "building the release binary (about 30 minutes on 2 cores)" >&2
    (cd "$root" && cargo build --release --bin dvt)
fi

psql_q() { psql -h 127.0.0.1 -U postgres -d test -qtAX "$@"; }
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || {
    echo "PostgreSQL is not running on 127.0.0.1:5432; start it with: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
    exit 1
}

id=$(date +%s)$$
src=dvt_bench_src_$id
dst=dvt_bench_dst_$id
work=$(mktemp -d)
cleanup() {
    psql_q -c "drop schema if exists $src cascade; drop schema if exists $dst cascade" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

psql_q -c "create schema $src; create table $src.events as
    select g as id, g % 1000 as customer_id, (g * 7 % 10000) / 100.0 as amount,
           timestamp '2024-01-01' + (g || ' seconds')::interval as at, md5(g::text) as note
    from generate_series(1, $rows) g; analyze $src.events;"

mkdir -p "$work/models"
cat > "$work/dbt_project.yml" <<YAML
name: bench
profile: bench
models:
  bench:
    +materialized: table
YAML
cat > "$work/profiles.yml" <<YAML
bench:
  target: src
  outputs:
    src: {type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: $src}
    dst: {type: postgres, host: 127.0.0.1, user: postgres, dbname: test, schema: $dst}
YAML
cat > "$work/models/sources.yml" <<YAML
version: 2
sources:
  - name: raw
    schema: $src
    connection: src
    tables: [{name: events}]
YAML
select="select id, customer_id, amount, at, note from {{ source('raw', 'events') }}"
echo "$select" > "$work/models/copy_pushdown.sql"
echo "{{ config(target='dst') }}$select" > "$work/models/copy_federated.sql"

now() { date +%s.%N; }
t0=$(now)
psql_q -c "create table $src.baseline_copy as select id, customer_id, amount, at, note from $src.events" >/dev/null
t1=$(now)
"$dvt" run --project-dir "$work" --select copy_pushdown >/dev/null
t2=$(now)
"$dvt" run --project-dir "$work" --select copy_federated >/dev/null
t3=$(now)

count=$(psql_q -c "select count(*) from $dst.copy_federated")
[ "$count" = "$rows" ] || { echo "federated copy has $count rows, expected $rows" >&2; exit 1; }

awk -v rows="$rows" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v t3="$t3" 'BEGIN {
    b = t1 - t0; p = t2 - t1; f = t3 - t2
    printf "rows: %d\n", rows
    printf "%-10s %9s %14s %8s\n", "path", "seconds", "rows/s", "ratio"
    printf "%-10s %9.2f %14.0f %8.2f\n", "baseline", b, rows / b, 1
    printf "%-10s %9.2f %14.0f %8.2f\n", "pushdown", p, rows / p, p / b
    printf "%-10s %9.2f %14.0f %8.2f\n", "federated", f, rows / f, f / b
}'
