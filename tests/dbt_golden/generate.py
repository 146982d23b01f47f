#!/usr/bin/env python3
"""Produce the dbt-core goldens of the fixture projects under tests/fixtures/dbt/.

Run through regenerate.sh, which installs the pinned dbt-core and dbt-postgres
into a throwaway virtualenv and calls this file with that virtualenv's Python
(PyYAML and psycopg2 come with dbt). The file formats are described in
tests/dbt_golden/README.md.

    generate.py [--fixtures-dir DIR] [--keep] [FIXTURE ...]

Every fixture folder that holds a `steps.yml` is a fixture; with no FIXTURE
argument all of them are regenerated.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import yaml

PG = dict(host="127.0.0.1", port=5432, user="postgres", dbname="test")
DATABASE = PG["dbname"]
NULL = "\\N"
MASK = "*"
STATUSES_WITH_FAILURES = {"pass", "fail", "warn", "error"}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- PostgreSQL


# The text form of values depends on these session settings; the Rust side uses the same.
SESSION = "-c TimeZone=UTC -c DateStyle=ISO,MDY -c IntervalStyle=postgres -c extra_float_digits=1"


def connect():
    conn = psycopg2.connect(options=SESSION, **PG)
    conn.autocommit = True
    return conn


def like_escape(s):
    return s.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def golden_schemas(conn, base):
    """The schemas `base` and `base_*`, sorted."""
    with conn.cursor() as cur:
        cur.execute(
            "select nspname from pg_namespace "
            "where nspname = %s or nspname like %s order by nspname",
            (base, like_escape(base + "_") + "%"),
        )
        return [r[0] for r in cur.fetchall()]


def drop_schemas(conn, base):
    with conn.cursor() as cur:
        for s in golden_schemas(conn, base):
            cur.execute('drop schema "%s" cascade' % s.replace('"', '""'))


def relations(conn, schema):
    """(name, kind) of every table, view, materialized view and partitioned table."""
    with conn.cursor() as cur:
        cur.execute(
            "select c.relname, c.relkind from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind in ('r', 'v', 'm', 'p') "
            "order by c.relname",
            (schema,),
        )
        return cur.fetchall()


def quote_ident(s):
    return '"' + s.replace('"', '""') + '"'


def dump_relation(conn, schema, name, masked):
    """Header and rows (text values, None for NULL) of one relation, sorted."""
    with conn.cursor() as cur:
        cur.execute(
            "select a.attname from pg_attribute a "
            "join pg_class c on c.oid = a.attrelid "
            "join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s and a.attnum > 0 "
            "and not a.attisdropped order by a.attnum",
            (schema, name),
        )
        cols = [r[0] for r in cur.fetchall()]
        if cols:
            select = ", ".join("%s::text" % quote_ident(c) for c in cols)
        else:
            select = ""
        cur.execute(
            "select %s from %s.%s" % (select, quote_ident(schema), quote_ident(name))
        )
        rows = [list(r) for r in cur.fetchall()]
    for i, c in enumerate(cols):
        if c in masked:
            for r in rows:
                if r[i] is not None:
                    r[i] = MASK
    rows.sort(key=lambda r: [(v is None, (v or "").encode()) for v in r])
    return cols, rows


def catalog_entry(conn, schema, name):
    """Lines describing one relation's shape: columns and types, comments, grants,
    constraints and indexes. Index and constraint names are left out (dbt names
    some of them from a timestamp)."""
    out = []
    with conn.cursor() as cur:
        cur.execute(
            "select c.oid, c.relkind, c.relpersistence, obj_description(c.oid, 'pg_class'), "
            "pg_get_userbyid(c.relowner) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relname = %s",
            (schema, name),
        )
        oid, kind, persistence, comment, owner = cur.fetchone()
        out.append("kind %s%s" % (kind, " unlogged" if persistence == "u" else ""))
        if comment is not None:
            out.append("comment %s" % json.dumps(comment))
        cur.execute(
            "select a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "col_description(a.attrelid, a.attnum) from pg_attribute a "
            "where a.attrelid = %s and a.attnum > 0 and not a.attisdropped order by a.attnum",
            (oid,),
        )
        for col, typ, notnull, ccomment in cur.fetchall():
            line = "column %s %s%s" % (json.dumps(col), typ, " not null" if notnull else "")
            if ccomment is not None:
                line += " comment %s" % json.dumps(ccomment)
            out.append(line)
        cur.execute(
            "select grantee, privilege_type from information_schema.role_table_grants "
            "where table_schema = %s and table_name = %s and grantee <> %s "
            "order by 1, 2",
            (schema, name, owner),
        )
        for grantee, priv in cur.fetchall():
            out.append("grant %s %s" % (grantee, priv))
        cur.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where conrelid = %s "
            "order by 1",
            (oid,),
        )
        for (cdef,) in cur.fetchall():
            out.append("constraint %s" % cdef)
        cur.execute(
            "select pg_get_indexdef(indexrelid) from pg_index where indrelid = %s", (oid,)
        )
        idx = []
        for (idef,) in cur.fetchall():
            # CREATE [UNIQUE] INDEX name ON schema.table USING method (cols)
            unique = idef.startswith("CREATE UNIQUE")
            idx.append("index %s%s" % ("unique " if unique else "", idef[idef.index(" USING ") + 1:]))
        out.extend(sorted(idx))
    return out


def csv_field(v):
    if v is None:
        return NULL
    if v == "" or v == NULL or any(ch in v for ch in ',"\r\n'):
        return '"' + v.replace('"', '""') + '"'
    return v


def write_csv(path, cols, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(",".join(csv_field(c) for c in cols) + "\n")
        for r in rows:
            f.write(",".join(csv_field(v) for v in r) + "\n")


def dump_tables(conn, base, out_dir, ignore_columns):
    """Writes tables/@<suffix>.<relation>.csv for every relation of every golden schema.

    `@` stands for the base schema: `golden_<fixture>_dbt_test__audit` is written `@_dbt_test__audit`.
    """
    names = []
    catalog = []
    out_dir.mkdir(parents=True, exist_ok=True)
    for schema in golden_schemas(conn, base):
        suffix = schema[len(base):]
        for name, kind in relations(conn, schema):
            masked = set(ignore_columns.get(name, [])) | set(
                ignore_columns.get("@%s.%s" % (suffix, name), [])
            )
            cols, rows = dump_relation(conn, schema, name, masked)
            write_csv(out_dir / ("@%s.%s.csv" % (suffix, name)), cols, rows)
            names.append("@%s.%s %s %d" % (suffix, name, kind, len(rows)))
            catalog.append("@%s.%s" % (suffix, name))
            catalog.extend("  " + l for l in catalog_entry(conn, schema, name))
    (out_dir.parent / "catalog.txt").write_text("".join(l + "\n" for l in catalog))
    return names


# ---------------------------------------------------------------------- dbt


def profiles_yml(base):
    return yaml.safe_dump(
        {
            "golden": {
                "target": "dev",
                "outputs": {
                    "dev": {
                        "type": "postgres",
                        "host": PG["host"],
                        "port": PG["port"],
                        "user": PG["user"],
                        "password": "",
                        "dbname": DATABASE,
                        "schema": base,
                        "threads": 1,
                    }
                },
            }
        },
        sort_keys=False,
    )


def dbt_env(extra):
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("DBT_") or k.startswith("DVT_GOLDEN_"):
            del env[k]
    env.update(
        {
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_VERSION_CHECK": "false",
            "DBT_USE_COLORS": "false",
            "DBT_PARTIAL_PARSE": "false",
            "DBT_PRINTER_WIDTH": "120",
            "TZ": "UTC",
            "PGTZ": "UTC",
        }
    )
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


def run_dbt(dbt, project, profiles_dir, args, env, logfile):
    cmd = [dbt] + args + ["--project-dir", str(project), "--profiles-dir", str(profiles_dir)]
    with open(logfile, "a", encoding="utf-8") as f:
        f.write("$ %s\n" % " ".join(cmd))
        f.flush()
        p = subprocess.run(cmd, cwd=project, env=env, stdout=f, stderr=subprocess.STDOUT)
        f.write("exit %d\n\n" % p.returncode)
    return p.returncode


def step_args(step):
    args = [step["command"]] + [str(a) for a in step.get("args", [])]
    if step.get("vars"):
        args += ["--vars", json.dumps(step["vars"], sort_keys=True)]
    return args


def copy_compiled(src, dst):
    if not src.exists():
        return 0
    n = 0
    for f in sorted(src.rglob("*.sql")):
        rel = f.relative_to(src)
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, out)
        n += 1
    return n


def copy_test_run_sql(target, project_name, run_results, sdir):
    """The SQL dbt ran for each test (its compiled SQL inside the failure-count
    query, with `limit`, `fail_calc`, `warn_if`/`error_if` and `store_failures`
    applied). Models are left out: their run SQL names temporary relations after
    the clock."""
    mpath = target / "manifest.json"
    if not mpath.exists():
        return 0
    nodes = json.loads(mpath.read_text())["nodes"]
    n = 0
    for r in run_results.get("results", []):
        node = nodes.get(r["unique_id"])
        if node is None or node["resource_type"] != "test" or not node.get("compiled_path"):
            continue
        pkg = node["package_name"]
        rel = Path(node["compiled_path"]).relative_to(Path("target") / "compiled" / pkg)
        src = target / "run" / pkg / rel
        if not src.exists():
            continue
        if pkg == project_name:
            out = sdir / "run_tests" / rel
        else:
            out = sdir / "run_tests_packages" / pkg / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
        n += 1
    return n


def node_results(run_results):
    out = {}
    for r in run_results.get("results", []):
        entry = {"status": r["status"]}
        if r.get("failures") is not None and r["status"] in STATUSES_WITH_FAILURES:
            if r["unique_id"].startswith("test."):
                entry["failures"] = r["failures"]
        out[r["unique_id"]] = entry
    return dict(sorted(out.items()))


def manifest_lines(manifest):
    lines = []
    for uid, node in manifest.get("nodes", {}).items():
        lines.append("%s %s" % (node["resource_type"], uid))
    for uid in manifest.get("sources", {}):
        lines.append("source %s" % uid)
    return sorted(lines)


GOLDEN_TYPES = ("model", "test", "seed", "snapshot")


def run_fixture(name, fixtures_dir, dbt, keep):
    fixture = fixtures_dir / name
    spec = yaml.safe_load((fixture / "steps.yml").read_text())
    base = "golden_" + name
    ignore_columns = spec.get("golden_ignore_columns") or {}
    golden = fixture / "golden"
    tmp = Path(tempfile.mkdtemp(prefix="dvt-golden-%s-" % name))
    log("== %s (work dir %s)" % (name, tmp))
    # The whole fixtures tree is copied, so `local:` packages keep their relative paths.
    shutil.copytree(
        fixtures_dir,
        tmp / "dbt",
        ignore=shutil.ignore_patterns("golden", "target", "dbt_packages", "logs"),
    )
    project = tmp / "dbt" / name
    profiles_dir = tmp / "profiles"
    profiles_dir.mkdir()
    (profiles_dir / "profiles.yml").write_text(profiles_yml(base))
    logfile = tmp / "dbt.log"

    conn = connect()
    drop_schemas(conn, base)
    for stmt in spec.get("setup_sql", []):
        with conn.cursor() as cur:
            cur.execute(stmt)
    if golden.exists():
        shutil.rmtree(golden)
    golden.mkdir()

    results = {"dbt_version": dbt_version(dbt), "steps": []}
    manifest = None
    ok = True
    try:
        if (project / "packages.yml").exists() or (project / "dependencies.yml").exists():
            rc = run_dbt(dbt, project, profiles_dir, ["deps"], dbt_env({}), logfile)
            if rc != 0:
                raise RuntimeError("dbt deps failed, see %s" % logfile)
        for i, step in enumerate(spec["steps"], 1):
            sname = step.get("name", "step%d" % i)
            for dst, src in (step.get("copy") or {}).items():
                shutil.copyfile(project / src, project / dst)
            for path in step.get("delete") or []:
                (project / path).unlink()
            target = project / "target"
            if target.exists():
                shutil.rmtree(target)
            args = step_args(step)
            rc = run_dbt(dbt, project, profiles_dir, args, dbt_env(step.get("env")), logfile)
            rr_path = target / "run_results.json"
            rr = json.loads(rr_path.read_text()) if rr_path.exists() else {"results": []}
            nodes = node_results(rr)
            expect_rc = step.get("expect_exit", 0)
            if rc != expect_rc:
                log("   step %s: dbt exited %d, expected %d" % (sname, rc, expect_rc))
                ok = False
            bad = sorted(u for u, e in nodes.items() if e["status"] == "error")
            expected_errors = sorted(step.get("expect_errors") or [])
            if bad != expected_errors:
                log("   step %s: errors %s, expected %s" % (sname, bad, expected_errors))
                ok = False
            sdir = golden / sname
            project_name = yaml.safe_load((project / "dbt_project.yml").read_text())["name"]
            ncomp = copy_compiled(target / "compiled" / project_name, sdir / "compiled")
            # Files compiled from packages land under their own project names.
            comp_root = target / "compiled"
            if comp_root.exists():
                for d in sorted(comp_root.iterdir()):
                    if d.name != project_name:
                        ncomp += copy_compiled(d, sdir / "compiled_packages" / d.name)
            ncomp += copy_test_run_sql(target, project_name, rr, sdir)
            rels = dump_tables(conn, base, sdir / "tables", ignore_columns)
            (sdir / "relations.txt").write_text("".join(r + "\n" for r in rels))
            results["steps"].append(
                {
                    "name": sname,
                    "command": step["command"],
                    "args": [str(a) for a in step.get("args", [])],
                    "vars": step.get("vars") or {},
                    "env": step.get("env") or {},
                    "exit_code": rc,
                    "nodes": nodes,
                }
            )
            counts = {}
            for e in nodes.values():
                counts[e["status"]] = counts.get(e["status"], 0) + 1
            log(
                "   step %s: %s -> exit %d, %s; %d compiled, %d relations"
                % (sname, " ".join(args), rc, counts, ncomp, len(rels))
            )
            mpath = target / "manifest.json"
            if mpath.exists():
                manifest = json.loads(mpath.read_text())
        if manifest is not None:
            lines = manifest_lines(manifest)
            (golden / "manifest_nodes.txt").write_text("".join(l + "\n" for l in lines))
            n = sum(1 for l in lines if l.split(" ")[0] in GOLDEN_TYPES)
            results["golden_nodes"] = n
            log("   golden nodes: %d" % n)
        (golden / "results.json").write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    finally:
        drop_schemas(conn, base)
        for stmt in spec.get("teardown_sql", []):
            with conn.cursor() as cur:
                cur.execute(stmt)
        conn.close()
        if keep or not ok:
            log("   kept %s" % tmp)
        else:
            shutil.rmtree(tmp)
    return ok, results.get("golden_nodes", 0)


def dbt_version(dbt):
    out = subprocess.run([dbt, "--version"], capture_output=True, text=True, env=dbt_env({})).stdout
    core = plugin = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("- installed:"):
            core = line.split(":", 1)[1].strip()
        elif line.startswith("- postgres:"):
            plugin = line.split(":", 1)[1].strip().split(" ")[0]
    return {"dbt-core": core, "dbt-postgres": plugin}


def main():
    here = Path(__file__).resolve().parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures-dir", default=str(here.parent / "fixtures" / "dbt"))
    ap.add_argument("--dbt", default=str(Path(sys.executable).parent / "dbt"))
    ap.add_argument("--keep", action="store_true", help="keep the work directories")
    ap.add_argument("fixtures", nargs="*")
    a = ap.parse_args()
    fixtures_dir = Path(a.fixtures_dir).resolve()
    names = a.fixtures or sorted(
        d.name for d in fixtures_dir.iterdir() if (d / "steps.yml").exists()
    )
    total = 0
    failed = []
    summary = []
    for name in names:
        ok, n = run_fixture(name, fixtures_dir, a.dbt, a.keep)
        total += n
        summary.append((name, n))
        if not ok:
            failed.append(name)
    for name, n in summary:
        log("%-28s %4d golden nodes" % (name, n))
    log("%-28s %4d golden nodes" % ("total", total))
    if failed:
        log("FAILED: %s" % ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
