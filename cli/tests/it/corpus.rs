//! The corpus: small broken or unusual projects under `tests/corpus/<case>/`, each with
//! an `expected.yml` saying what `dvt` must do with it.
//!
//! ```yaml
//! command: [build]                # dvt arguments
//! before: [[seed]]                # optional: commands that must succeed first
//! exit: 1                         # 0 success, 1 project/node error, 2 bad flags
//! code: DVT109                    # printed as `error[DVT109]` (required when exit != 0)
//! location: macros/broken.sql:3   # on the same stderr line as the code
//! rows: {main: {"select count(*) from m": 3}}   # SQLite target -> query -> value
//! stdout_contains: ["PASS=3"]
//! stderr_contains: ["warning[DVT002]"]
//! never_printed: ["1.10"]         # in neither stdout nor stderr (as a whole token)
//! env: {DVT_ENV_SECRET_PW: x}     # extra environment of every command
//! max_seconds: 30                 # the command must finish within this
//! known_bug: "one line"           # the outcome is what dvt SHOULD do, but does not yet
//! crashes: true                   # with known_bug: dvt still crashes on this case
//! ```
//!
//! Every case, known bug or not, must finish without a panic, a signal or a hang, and a
//! failing command must print an `error[DVTnnn]` line with a registered code. A case
//! with `known_bug` skips only the assertions on its outcome (exit, code, location,
//! rows, output). A case that also `crashes` is a bug reproducer: it runs only in the
//! ignored test `corpus_known_crashes` (`cargo nextest run -p dvt-cli --run-ignored
//! only corpus`), which fails until the crash is fixed. Cases whose files mention `DVT_CORPUS_PG_SCHEMA` or
//! `DVT_CORPUS_MYSQL_SCHEMA` get a unique schema (database) name in that variable,
//! dropped afterwards. `DVT_CORPUS_CASE=<substring>` runs only the matching cases.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value as Json;

use crate::common::{Cleanup, MARIA_HINT, PG_HINT, repo_root, unique};

/// The fewest cases the corpus may hold (it only grows).
const MIN_CASES: usize = 45;

/// A command running longer than this is a hang.
const HANG_AFTER: Duration = Duration::from_secs(120);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    command: Vec<String>,
    #[serde(default)]
    before: Vec<Vec<String>>,
    exit: i32,
    code: Option<String>,
    location: Option<String>,
    #[serde(default)]
    rows: BTreeMap<String, BTreeMap<String, Json>>,
    #[serde(default)]
    stdout_contains: Vec<String>,
    #[serde(default)]
    stderr_contains: Vec<String>,
    #[serde(default)]
    never_printed: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    max_seconds: Option<u64>,
    known_bug: Option<String>,
    #[serde(default)]
    crashes: bool,
}

/// What one `dvt` invocation did.
struct Outcome {
    args: Vec<String>,
    exit: Option<i32>,
    signal: Option<i32>,
    hung: bool,
    elapsed: Duration,
    stdout: String,
    stderr: String,
}

impl Outcome {
    fn show(&self) -> String {
        format!(
            "`dvt {}`: exit {:?}, signal {:?}, {:.1}s\n--- stdout\n{}--- stderr\n{}---",
            self.args.join(" "),
            self.exit,
            self.signal,
            self.elapsed.as_secs_f64(),
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }

    /// Panics, signals, hangs and uncoded failures: wrong whatever the case expects.
    fn robustness_failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.hung {
            out.push(format!("hung: killed after {}s", HANG_AFTER.as_secs()));
        }
        if self.stderr.contains("panicked") {
            out.push("panicked".into());
        }
        if let Some(sig) = self.signal {
            out.push(format!("killed by signal {sig} (stack overflow or abort?)"));
        }
        if self.exit.is_some_and(|c| c != 0) {
            let codes = error_codes(&self.stderr);
            if codes.is_empty() {
                out.push("failed without an `error[DVTnnn]` line".into());
            }
            for c in codes {
                if dvt_core::codes::lookup(c).is_none() {
                    out.push(format!("printed `{c}`, which is not in `codes::CODES`"));
                }
            }
        }
        out
    }
}

/// Whether `needle` occurs in `hay` other than inside a longer number or word (so the
/// password `1.10` is not found in a server version `11.10` or a duration `1.105s`).
fn contains_token(hay: &str, needle: &str) -> bool {
    let part_of_token = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '.');
    hay.match_indices(needle).any(|(i, m)| {
        !part_of_token(hay[..i].chars().next_back())
            && !part_of_token(hay[i + m.len()..].chars().next())
    })
}

/// The last lines of an output (a 200-model build prints 400 lines).
fn tail(text: &str) -> String {
    const KEEP: usize = 40;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    if lines.len() > KEEP {
        out.push_str(&format!("[{} lines omitted]\n", lines.len() - KEEP));
    }
    for l in &lines[lines.len().saturating_sub(KEEP)..] {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The codes of the `error[DVTnnn]` lines of `stderr`.
fn error_codes(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("error[")?.split_once(']').map(|(c, _)| c))
        .collect()
}

/// Runs `dvt args` in `project`, with output captured in files (no pipe can fill up)
/// and a kill after [`HANG_AFTER`].
fn run(project: &Path, out_dir: &Path, args: &[String], env: &BTreeMap<String, String>) -> Outcome {
    let stdout_path = out_dir.join("stdout");
    let stderr_path = out_dir.join("stderr");
    let file = |p: &Path| std::fs::File::create(p).expect("create an output file");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dvt"));
    cmd.current_dir(project)
        .args(args)
        .env("HOME", project)
        .env_remove("DVT_PROFILES_DIR")
        .env_remove("DBT_PROFILES_DIR")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(file(&stdout_path))
        .stderr(file(&stderr_path));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("the dvt binary starts");
    let mut hung = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for dvt") {
            break status;
        }
        if start.elapsed() > HANG_AFTER {
            hung = true;
            let _ = child.kill();
            break child.wait().expect("wait for the killed dvt");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Outcome {
        args: args.to_vec(),
        exit: status.code(),
        signal: if hung { None } else { status.signal() },
        hung,
        elapsed: start.elapsed(),
        stdout: read(&stdout_path),
        stderr: read(&stderr_path),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read a corpus folder") {
        let e = e.expect("entry");
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).expect("copy a corpus file");
        }
    }
}

/// Whether any file of the case mentions `needle`.
fn mentions(dir: &Path, needle: &str) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            let p = e.path();
            if p.is_dir() {
                mentions(&p, needle)
            } else {
                String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).contains(needle)
            }
        })
}

fn server_ready(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The single value `sql` returns from the SQLite file of `target`.
fn sqlite_value(project: &Path, target: &str, sql: &str) -> Result<Json, String> {
    use dvt_core::target::Connection;
    let cfg = dvt_core::project::ProjectConfig::load(project).map_err(|e| e.to_string())?;
    let profile =
        dvt_core::profile::Profile::load(&project.join("profiles.yml"), &cfg.profile, &cfg.root)
            .map_err(|e| e.to_string())?;
    let Some(t) = profile.outputs.get(target) else {
        return Err(format!(
            "`rows` names target `{target}`, not in profiles.yml"
        ));
    };
    let Connection::Sqlite(lite) = &t.connection else {
        return Err(format!("`rows` target `{target}` is not SQLite"));
    };
    let conn = rusqlite::Connection::open_with_flags(
        &lite.path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .map_err(|e| format!("open {}: {e}", lite.path.display()))?;
    let v: rusqlite::types::Value = conn
        .query_row(sql, [], |r| r.get(0))
        .map_err(|e| format!("`{sql}` on `{target}`: {e}"))?;
    Ok(match v {
        rusqlite::types::Value::Null => Json::Null,
        rusqlite::types::Value::Integer(i) => Json::from(i),
        rusqlite::types::Value::Real(f) => Json::from(f),
        rusqlite::types::Value::Text(s) => Json::from(s),
        rusqlite::types::Value::Blob(b) => Json::from(String::from_utf8_lossy(&b).into_owned()),
    })
}

fn same_value(want: &Json, got: &Json) -> bool {
    match (want.as_f64(), got.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => want == got,
    }
}

fn load_expected(dir: &Path) -> Result<Expected, String> {
    let text = std::fs::read_to_string(dir.join("expected.yml"))
        .map_err(|e| format!("cannot read expected.yml: {e}"))?;
    dvt_core::yaml::from_yaml(Path::new("expected.yml"), &text)
        .map_err(|e| format!("bad expected.yml: {e}"))
}

/// Runs one case; returns what is wrong with it (empty when it passes) and notes.
fn check_case(dir: &Path, exp: &Expected) -> (Vec<String>, Vec<String>) {
    let mut wrong = Vec::new();
    let mut notes = Vec::new();
    if exp.crashes && exp.known_bug.is_none() {
        wrong.push("expected.yml: `crashes` needs a `known_bug`".into());
    }
    if exp.exit != 0 && exp.code.is_none() {
        wrong.push("expected.yml: `code` is required when `exit` is not 0".into());
    }
    if let Some(code) = &exp.code
        && dvt_core::codes::lookup(code).is_none()
    {
        wrong.push(format!("expected.yml: `{code}` is not in `codes::CODES`"));
    }
    if !wrong.is_empty() {
        return (wrong, notes);
    }

    let tmp = tempfile::tempdir().expect("tempdir");
    let project = tmp.path().join("project");
    let out_dir = tmp.path().join("out");
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    copy_dir(dir, &project);

    let mut env = exp.env.clone();
    let mut cleanup = Cleanup {
        pg_schemas: Vec::new(),
        maria_dbs: Vec::new(),
    };
    if mentions(dir, "DVT_CORPUS_PG_SCHEMA") {
        let args = [
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-c",
            "select 1",
        ];
        if !server_ready("psql", &args) {
            return (vec![PG_HINT.to_owned()], notes);
        }
        let s = unique("dvt_corpus");
        env.insert("DVT_CORPUS_PG_SCHEMA".into(), s.clone());
        cleanup.pg_schemas.push(s);
    }
    if mentions(dir, "DVT_CORPUS_MYSQL_SCHEMA") {
        if !server_ready("mariadb", &["-h127.0.0.1", "-uroot", "-e", "select 1"]) {
            return (vec![MARIA_HINT.to_owned()], notes);
        }
        let s = unique("dvt_corpus");
        env.insert("DVT_CORPUS_MYSQL_SCHEMA".into(), s.clone());
        cleanup.maria_dbs.push(s);
    }

    for args in &exp.before {
        let o = run(&project, &out_dir, args, &env);
        let mut bad = o.robustness_failures();
        if o.exit != Some(0) {
            bad.push("a `before` command failed".into());
        }
        if !bad.is_empty() {
            wrong.push(format!("{}\n{}", bad.join("; "), o.show()));
            return (wrong, notes);
        }
    }

    let o = run(&project, &out_dir, &exp.command, &env);
    let robustness = o.robustness_failures();
    let printed = format!("{}\n{}", o.stdout, o.stderr);
    for secret in &exp.never_printed {
        if contains_token(&printed, secret) {
            wrong.push(format!("printed `{secret}`, which it never may"));
        }
    }

    let mut outcome = Vec::new();
    if o.exit != Some(exp.exit) {
        outcome.push(format!("exit {:?}, expected {}", o.exit, exp.exit));
    }
    if let Some(code) = &exp.code {
        let tag = format!("error[{code}]");
        let lines: Vec<&str> = o.stderr.lines().filter(|l| l.contains(&tag)).collect();
        if lines.is_empty() {
            outcome.push(format!(
                "no `{tag}` line; printed {:?}",
                error_codes(&o.stderr)
            ));
        } else if let Some(loc) = &exp.location
            && !lines.iter().any(|l| l.contains(loc.as_str()))
        {
            outcome.push(format!("the `{tag}` line does not name `{loc}`"));
        }
    }
    for s in &exp.stdout_contains {
        if !o.stdout.contains(s.as_str()) {
            outcome.push(format!("stdout lacks `{s}`"));
        }
    }
    for s in &exp.stderr_contains {
        if !o.stderr.contains(s.as_str()) {
            outcome.push(format!("stderr lacks `{s}`"));
        }
    }
    if let Some(max) = exp.max_seconds
        && o.elapsed > Duration::from_secs(max)
    {
        outcome.push(format!(
            "took {:.1}s, more than {max}s",
            o.elapsed.as_secs_f64()
        ));
    }
    if o.exit == Some(0) {
        for (target, queries) in &exp.rows {
            for (sql, want) in queries {
                match sqlite_value(&project, target, sql) {
                    Ok(got) if same_value(want, &got) => {}
                    Ok(got) => {
                        outcome.push(format!("`{sql}` on `{target}` gave {got}, expected {want}"))
                    }
                    Err(e) => outcome.push(e),
                }
            }
        }
    }

    match &exp.known_bug {
        Some(bug) if outcome.is_empty() => {
            notes.push(format!(
                "known_bug `{bug}` no longer reproduces; remove the marker"
            ));
        }
        Some(_) => {}
        None => wrong.extend(outcome),
    }
    wrong.extend(robustness);
    if !wrong.is_empty() {
        wrong.push(o.show());
    }
    (wrong, notes)
}

/// The case folders, sorted.
fn cases() -> Vec<PathBuf> {
    let root = repo_root().join("tests/corpus");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    out.sort();
    out
}

fn case_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Runs every case (matching `DVT_CORPUS_CASE`, if set), several at a time, and fails
/// naming every case that went wrong.
fn run_corpus() {
    let all = cases();
    assert!(
        all.len() >= MIN_CASES,
        "the corpus holds {} cases, fewer than {MIN_CASES}",
        all.len()
    );
    let filter = std::env::var("DVT_CORPUS_CASE").unwrap_or_default();
    let mut todo = Vec::new();
    let mut bad_files = BTreeMap::new();
    for dir in &all {
        match load_expected(dir) {
            Ok(exp) if exp.crashes => {
                // A crash is fixed, never skipped: the case must run like any other.
                bad_files.insert(
                    case_name(dir),
                    "`crashes: true`: dvt must not crash on any input; fix it".to_owned(),
                );
            }
            Ok(exp) if case_name(dir).contains(&filter) => {
                todo.push((dir, exp));
            }
            Ok(_) => {}
            Err(e) => {
                bad_files.insert(case_name(dir), e);
            }
        }
    }
    assert!(
        bad_files.is_empty(),
        "corpus cases with a bad expected.yml: {bad_files:#?}"
    );
    let next = Mutex::new(todo.iter());
    let failures = Mutex::new(BTreeMap::new());
    let notes = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let Some((dir, exp)) = next.lock().expect("queue").next() else {
                        break;
                    };
                    let name = case_name(dir);
                    let (wrong, n) = check_case(dir, exp);
                    notes
                        .lock()
                        .expect("notes")
                        .extend(n.into_iter().map(|n| format!("{name}: {n}")));
                    if !wrong.is_empty() {
                        failures.lock().expect("failures").insert(name, wrong);
                    }
                }
            });
        }
    });
    for n in notes.into_inner().expect("notes") {
        eprintln!("note: {n}");
    }
    let failures = failures.into_inner().expect("failures");
    let report: Vec<String> = failures
        .iter()
        .map(|(name, wrong)| {
            format!(
                "=== case `{name}` (tests/corpus/{name}):\n{}",
                wrong.join("\n")
            )
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed: {:?}\n\n{}",
        failures.len(),
        todo.len(),
        failures.keys().collect::<Vec<_>>(),
        report.join("\n\n")
    );
}

#[test]
fn corpus_cases_have_their_expected_outcomes() {
    run_corpus();
}

#[test]
fn never_printed_matches_whole_tokens() {
    assert!(contains_token("password 1.10 leaked", "1.10"));
    assert!(contains_token("pw=1.10", "1.10"));
    assert!(contains_token("'1.10'", "1.10"));
    assert!(!contains_token("PostgreSQL 11.10", "1.10"));
    assert!(!contains_token("OK in 1.105s", "1.10"));
    assert!(contains_token("hunter2-corpus", "hunter2-corpus"));
}
