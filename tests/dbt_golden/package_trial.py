"""Builds a dbt package's own integration-test project with dbt-core and with DVT on
PostgreSQL, and compares what each produced: the status and failure count of every node
(run_results.json), the compiled SQL of every node (whitespace-normalised), and every
relation (columns, types and rows as multisets).

Not part of CI: the packages (dbt_utils and its kind) are on no registry these machines
reach, so the repository is given by path. See README.md ("Packages' own tests").

    python tests/dbt_golden/package_trial.py --package /path/to/dbt-utils \\
        --dvt target/debug/dvt [--venv ~/.cache/dvt/golden-venv] [--keep] \\
        [--vars '{"stripe_schema": "{schema}"}']

Run with the golden virtualenv's Python (it has dbt-core and psycopg2). Exit 0 when
everything compared is equal, 1 otherwise.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid

import psycopg2


def run(cmd, cwd, env, log):
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    return proc.returncode


def profile_name(project_dir):
    with open(os.path.join(project_dir, "dbt_project.yml")) as f:
        for line in f:
            m = re.match(r"\s*profile:\s*['\"]?([\w-]+)", line)
            if m:
                return m.group(1)
    raise SystemExit("no `profile:` in dbt_project.yml")


def write_profile(project_dir, schema):
    name = profile_name(project_dir)
    with open(os.path.join(project_dir, "profiles.yml"), "w") as f:
        f.write(
            f"{name}:\n  target: postgres\n  outputs:\n    postgres:\n"
            f"      type: postgres\n      host: 127.0.0.1\n      port: 5432\n"
            f"      user: postgres\n      password: ''\n      dbname: test\n"
            f"      schema: {schema}\n      threads: 4\n"
        )


def results(project_dir):
    path = os.path.join(project_dir, "target", "run_results.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        data = json.load(f)
    return {r["unique_id"]: (r["status"], r.get("failures")) for r in data["results"]}


def compiled(project_dir, schema):
    root = os.path.join(project_dir, "target", "compiled")
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            with open(path, errors="replace") as f:
                text = f.read().replace(schema, "<schema>")
            out[os.path.relpath(path, root)] = " ".join(text.split())
    return out


def relations(cur, schema_prefix):
    cur.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema = %s or table_schema like %s",
        (schema_prefix, schema_prefix + "\\_%"),
    )
    return {(s[len(schema_prefix):], t): s for s, t in cur.fetchall()}


def table_text(cur, schema, table, replace):
    cur.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    )
    cols = cur.fetchall()
    exprs = ", ".join(
        f'replace(cast("{c}" as text), %s, %s)' for c, _ in cols
    )
    params = []
    for _ in cols:
        params += [replace, "<schema>"]
    cur.execute(f'select {exprs} from "{schema}"."{table}"', params)
    rows = sorted(repr(r) for r in cur.fetchall())
    return cols, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True, help="the package repository (has integration_tests/)")
    ap.add_argument("--dvt", required=True, help="the dvt binary")
    ap.add_argument("--venv", default=os.environ.get("DVT_GOLDEN_VENV", ""))
    ap.add_argument("--keep", action="store_true", help="keep the work folder and schemas")
    ap.add_argument("--project", default="integration_tests",
                    help="the test project's folder inside the package")
    ap.add_argument("--seed-first", action="store_true",
                    help="run `seed --full-refresh`, then build everything else, as Fivetran's "
                         "CI does (their models test whether the seeded tables exist)")
    ap.add_argument("--vars", default="",
                    help="--vars for both builds; {schema} becomes each side's schema "
                         "(Fivetran packages read their sources from var('<pkg>_schema'))")
    args = ap.parse_args()
    dbt = os.path.join(args.venv, "bin", "dbt") if args.venv else "dbt"
    dvt = os.path.abspath(args.dvt)
    work = tempfile.mkdtemp(prefix="dvt-package-trial-")
    tag = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    env.update({"TZ": "UTC", "PGTZ": "UTC", "DBT_PARTIAL_PARSE": "false",
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
    sides = {}
    for side, tool in (("core", dbt), ("dvt", dvt)):
        repo = os.path.join(work, side)
        shutil.copytree(args.package, repo, ignore=shutil.ignore_patterns(".git", "target", "dbt_packages", "logs"))
        project = os.path.join(repo, args.project)
        # A lock file pins hub packages neither tool can reach here; packages.yml is
        # read instead (point its hub entries at local copies first).
        lock = os.path.join(project, "package-lock.yml")
        if os.path.exists(lock):
            os.remove(lock)
        schema = f"trial_{side}_{tag}"
        write_profile(project, schema)
        side_env = dict(env, DBT_PROFILES_DIR=project)
        deps = run([tool, "deps"], project, side_env, os.path.join(work, f"{side}_deps.log"))
        extra = ["--vars", args.vars.replace("{schema}", schema)] if args.vars else []
        if args.seed_first:
            run([tool, "seed", "--full-refresh"] + extra, project, side_env,
                os.path.join(work, f"{side}_seed.log"))
            # A seed the build reloads would drop (dbt-core: `cascade`) the views
            # already built over it.
            extra += ["--exclude", "resource_type:seed"]
        build = run([tool, "build", "--full-refresh"] + extra, project, side_env,
                    os.path.join(work, f"{side}_build.log"))
        sides[side] = {"project": project, "schema": schema, "deps": deps, "build": build}
        print(f"{side}: deps exit {deps}, build exit {build}")

    core, mine = sides["core"], sides["dvt"]
    failed = core["build"] != mine["build"]

    a, b = results(core["project"]), results(mine["project"])
    same = sum(1 for k in a if b.get(k) == a[k])
    print(f"run results: {same} of {len(a)} nodes with the same status and failures (dvt ran {len(b)})")
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            failed = True
            print(f"  differs: {k}: dbt {a.get(k)} dvt {b.get(k)}")

    ca, cb = compiled(core["project"], core["schema"]), compiled(mine["project"], mine["schema"])
    same = sum(1 for k in ca if cb.get(k) == ca[k])
    print(f"compiled SQL: {same} of {len(ca)} files equal (dvt wrote {len(cb)})")
    for k in sorted(set(ca) | set(cb)):
        if ca.get(k) != cb.get(k):
            failed = True
            print(f"  differs: {k}")

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test")
    cur = conn.cursor()
    ra, rb = relations(cur, core["schema"]), relations(cur, mine["schema"])
    same = 0
    for key in sorted(set(ra) | set(rb)):
        if key not in ra or key not in rb:
            failed = True
            print(f"  relation only in {'dbt' if key in ra else 'dvt'}: {key[1]}")
            continue
        ta = table_text(cur, ra[key], key[1], core["schema"])
        tb = table_text(cur, rb[key], key[1], mine["schema"])
        if ta == tb:
            same += 1
        else:
            failed = True
            print(f"  differs: relation {key[1]} ({'columns' if ta[0] != tb[0] else 'rows'})")
    print(f"relations: {same} of {len(ra)} equal (dvt has {len(rb)})")

    if args.keep:
        print(f"kept {work} and schemas {core['schema']}*, {mine['schema']}*")
    else:
        for side in sides.values():
            cur.execute(
                "select nspname from pg_namespace where nspname = %s or nspname like %s",
                (side["schema"], side["schema"] + "\\_%"),
            )
            for (name,) in cur.fetchall():
                cur.execute(f'drop schema "{name}" cascade')
        conn.commit()
        shutil.rmtree(work, ignore_errors=True)
    print("FAILED" if failed else "OK: dvt matches dbt-core")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
