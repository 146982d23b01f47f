//! The dbt tasks run locally: one runner per node, DAG order, `--threads` parallelism,
//! descendants of a failure skipped. DVT's extension point is [`run_node`]: a model is
//! handed to the pushdown runner or the federation runner by its resolved path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use dvt_core::artifacts::{RunResult, RunStatus, manifest_json, run_results_json};
use dvt_core::manifest::{LoadOptions, Manifest, Materialization, ResourceType};
use dvt_core::profile::{ProfileLookup, parse_cli_vars};
use dvt_core::resolve::ExecPath;
use dvt_core::seed::load_seed;
use dvt_executor::federation::{Compute, FederatedQuery, FederationEngine};
use dvt_executor::registry::TargetRegistry;
use dvt_executor::staging::Staging;
use serde_json::{Value as Json, json};
use tokio::task::JoinSet;

use crate::args::{Command, Common, Execution, Selection};
use crate::printer;

/// Which nodes a building task takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Run,
    Seed,
    Build,
}

pub(crate) async fn dispatch(cli: crate::Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init { name } => crate::init::init(&name).map(|_| ExitCode::SUCCESS),
        Command::Debug { common } => debug(&common).await,
        Command::Parse { common } => {
            let m = load(&common)?;
            write_manifest(&m, &invocation_id())?;
            printer::out(&format!(
                "Parsed {} models, {} seeds, {} sources, {} macros into {}",
                count(&m, ResourceType::Model),
                count(&m, ResourceType::Seed),
                m.sources.len(),
                m.macros.len(),
                m.path(Path::new(&m.project.target_path))
                    .join("manifest.json")
                    .display()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Compile { common, selection } => compile(&common, &selection),
        Command::Ls { common, selection } => ls(&common, &selection),
        Command::Run {
            common,
            selection,
            execution,
        } => build(&common, &selection, &execution, Kind::Run).await,
        Command::Seed {
            common,
            selection,
            execution,
        } => build(&common, &selection, &execution, Kind::Seed).await,
        Command::Build {
            common,
            selection,
            execution,
        } => build(&common, &selection, &execution, Kind::Build).await,
        Command::Show {
            common,
            selection,
            inline,
            limit,
        } => show(&common, &selection, inline.as_deref(), limit).await,
        Command::Sync { common } => sync(&common).await,
    }
}

fn invocation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn count(m: &Manifest, kind: ResourceType) -> usize {
    m.nodes.values().filter(|n| n.resource_type == kind).count()
}

/// Loads the project and prints its warnings.
fn load(common: &Common) -> Result<Manifest> {
    let vars = match &common.vars {
        Some(v) => parse_cli_vars(v)?,
        None => Default::default(),
    };
    let opts = LoadOptions {
        project_dir: common.project_dir.clone(),
        profiles: ProfileLookup::from_env(common.profiles_dir.clone()),
        target: common.target.clone(),
        vars,
    };
    let m = Manifest::load(&opts)?;
    for w in &m.warnings {
        printer::warn(w.code, &w.message);
    }
    Ok(m)
}

fn target_dir(m: &Manifest) -> PathBuf {
    m.path(Path::new(&m.project.target_path))
}

fn write_json(path: &Path, value: &Json) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(value)?;
    // Write then rename, so a reader never sees half an artifact.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

fn write_manifest(m: &Manifest, invocation: &str) -> Result<()> {
    write_json(
        &target_dir(m).join("manifest.json"),
        &manifest_json(m, invocation, &now()),
    )
}

fn write_compiled(m: &Manifest, id: &str, sql: &str) -> Result<()> {
    let node = &m.nodes[id];
    let path = target_dir(m)
        .join("compiled")
        .join(&m.project.name)
        .join(&node.original_file_path);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    std::fs::write(&path, format!("{sql}\n"))
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    Ok(())
}

fn path_label(m: &Manifest, id: &str) -> String {
    let n = &m.nodes[id];
    match (n.resource_type, n.path) {
        (ResourceType::Seed, _) => "seed".into(),
        (_, ExecPath::Federated) => "federated".into(),
        (_, ExecPath::Pushdown) if n.target != m.default_target => {
            "pushdown (non-default target)".into()
        }
        (_, ExecPath::Pushdown) => "pushdown".into(),
    }
}

fn selected(m: &Manifest, sel: &Selection, kinds: &[ResourceType]) -> Result<BTreeSet<String>> {
    let mut ids = dvt_core::select::select(m, &sel.select, &sel.exclude)?;
    ids.retain(|id| kinds.contains(&m.nodes[id].resource_type));
    Ok(ids)
}

fn ls(common: &Common, sel: &Selection) -> Result<ExitCode> {
    let m = load(common)?;
    let ids = selected(&m, sel, &[ResourceType::Model, ResourceType::Seed])?;
    for id in m.graph.topo_order(&ids) {
        let n = &m.nodes[&id];
        printer::out(&format!(
            "{:<48} {:<6} {:<7} target={:<12} path={}",
            n.fqn.join("."),
            n.resource_type.as_str(),
            n.materialized.as_str(),
            n.target,
            path_label(&m, &id)
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn compile(common: &Common, sel: &Selection) -> Result<ExitCode> {
    let m = load(common)?;
    let invocation = invocation_id();
    write_manifest(&m, &invocation)?;
    let ids = selected(&m, sel, &[ResourceType::Model])?;
    let order = m.graph.topo_order(&ids);
    for id in &order {
        let c = m.compile(id)?;
        write_compiled(&m, id, &c.sql)?;
        let n = &m.nodes[id];
        printer::out(&format!(
            "{:<40} target={:<12} path={}",
            n.unique_id,
            n.target,
            path_label(&m, id)
        ));
        if order.len() == 1 {
            printer::out("");
            printer::out(&c.sql);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn registry(m: &Manifest) -> Arc<TargetRegistry> {
    Arc::new(TargetRegistry::new(m.profile.outputs.clone()))
}

fn engine(m: &Manifest, registry: &Arc<TargetRegistry>) -> Result<FederationEngine> {
    let staging = Staging::local(m.path(Path::new(".dvt/staging")))?;
    Ok(FederationEngine::new(
        Arc::clone(registry),
        staging,
        Compute::Local,
    ))
}

async fn debug(common: &Common) -> Result<ExitCode> {
    let m = load(common)?;
    printer::out(&format!(
        "project: {} ({})",
        m.project.name,
        m.project.root.join(&m.project.file).display()
    ));
    printer::out(&format!(
        "profile: {} ({})",
        m.profile.name,
        m.profile.file.display()
    ));
    printer::out(&format!("default target: {}", m.default_target));
    let reg = registry(&m);
    let mut failed = false;
    for (name, t) in &m.profile.outputs {
        let res = async { reg.adapter(name).await?.server_version().await }.await;
        match res {
            Ok(v) => printer::out(&format!("[OK]   {name} ({}): {v}", t.adapter_type().name())),
            Err(e) => {
                failed = true;
                printer::out(&format!(
                    "[FAIL] {name} ({}): {} {e}",
                    t.adapter_type().name(),
                    e.code()
                ));
            }
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn sync(common: &Common) -> Result<ExitCode> {
    let m = load(common)?;
    let reg = registry(&m);
    let mut failed = false;
    let mut schemas: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for n in m.nodes.values() {
        schemas
            .entry(n.target.clone())
            .or_default()
            .insert(n.relation.schema.clone());
    }
    for (name, t) in &m.profile.outputs {
        schemas
            .entry(name.clone())
            .or_default()
            .insert(t.schema.clone());
    }
    for (name, wanted) in &schemas {
        let adapter = match reg.adapter(name).await {
            Ok(a) => a,
            Err(e) => {
                failed = true;
                printer::out(&format!("[FAIL] target {name}: {} {e}", e.code()));
                continue;
            }
        };
        match adapter.server_version().await {
            Ok(v) => printer::out(&format!("[OK]   target {name} reachable: {v}")),
            Err(e) => {
                failed = true;
                printer::out(&format!("[FAIL] target {name}: {} {e}", e.code()));
                continue;
            }
        }
        for s in wanted {
            match adapter.create_schema_if_missing(s).await {
                Ok(()) => printer::out(&format!("[OK]   schema {name}.{s} exists")),
                Err(e) => {
                    failed = true;
                    printer::out(&format!("[FAIL] schema {name}.{s}: {} {e}", e.code()));
                }
            }
        }
    }
    let staging_root = m.path(Path::new(".dvt/staging"));
    let probe = staging_root.join(".dvt_write_probe");
    let res = std::fs::create_dir_all(&staging_root)
        .and_then(|_| std::fs::write(&probe, b"ok"))
        .and_then(|_| std::fs::remove_file(&probe));
    match res {
        Ok(()) => printer::out(&format!(
            "[OK]   staging bucket {} writable",
            staging_root.display()
        )),
        Err(e) => {
            failed = true;
            printer::out(&format!(
                "[FAIL] staging bucket {}: {e}",
                staging_root.display()
            ));
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn show(
    common: &Common,
    sel: &Selection,
    inline: Option<&str>,
    limit: usize,
) -> Result<ExitCode> {
    let mut m = load(common)?;
    let id = match inline {
        Some(sql) => m.add_inline(sql)?,
        None => {
            let ids = selected(&m, sel, &[ResourceType::Model, ResourceType::Seed])?;
            match ids.len() {
                1 => ids.into_iter().next().unwrap_or_default(),
                0 => anyhow::bail!(dvt_core::error::Error::InvalidSelector {
                    selector: sel.select.join(" "),
                    reason: "`dvt show` needs `--select` naming one node, or `--inline`".into(),
                }),
                n => anyhow::bail!(dvt_core::error::Error::InvalidSelector {
                    selector: sel.select.join(" "),
                    reason: format!("`dvt show` previews one node; this selects {n}"),
                }),
            }
        }
    };
    let reg = registry(&m);
    let node = &m.nodes[&id];
    let batches = if node.resource_type == ResourceType::Seed {
        let adapter = reg.adapter(&node.target).await?;
        let sql = format!(
            "select * from {} limit {limit}",
            adapter.dialect().render(&node.relation)
        );
        collect(adapter.query(&sql).await?).await?
    } else {
        let c = m.compile(&id)?;
        match node.path {
            ExecPath::Pushdown => {
                let adapter = reg.adapter(&node.target).await?;
                let sql = format!(
                    "select * from ({}) as dvt_show limit {limit}",
                    c.sql.trim_end_matches(';')
                );
                collect(adapter.query(&sql).await?).await?
            }
            ExecPath::Federated => {
                let run_id = format!("show-{}", invocation_id());
                let eng = engine(&m, &reg)?;
                let out = eng
                    .collect(&run_id, &FederatedQuery::from(&c), Some(limit))
                    .await;
                let _ = eng.environment().staging.remove_run(&run_id).await;
                out?
            }
        }
    };
    printer::out(&format!(
        "Previewing {} ({}, target {}):",
        node.name,
        path_label(&m, &id),
        node.target
    ));
    let table = arrow::util::pretty::pretty_format_batches(&batches)?;
    printer::out(&table.to_string());
    Ok(ExitCode::SUCCESS)
}

async fn collect<S, E>(stream: S) -> Result<Vec<arrow::record_batch::RecordBatch>>
where
    S: futures::Stream<Item = std::result::Result<arrow::record_batch::RecordBatch, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    use futures::TryStreamExt;
    Ok(stream.try_collect().await?)
}

/// The outcome of one node.
struct NodeOutcome {
    rows: Option<u64>,
    compiled: Option<String>,
}

struct Ctx {
    manifest: Manifest,
    registry: Arc<TargetRegistry>,
    engine: FederationEngine,
    run_id: String,
}

async fn build(common: &Common, sel: &Selection, exec: &Execution, kind: Kind) -> Result<ExitCode> {
    let started = Instant::now();
    let m = load(common)?;
    let invocation = invocation_id();
    write_manifest(&m, &invocation)?;
    let kinds: &[ResourceType] = match kind {
        Kind::Run => &[ResourceType::Model],
        Kind::Seed => &[ResourceType::Seed],
        Kind::Build => &[ResourceType::Model, ResourceType::Seed],
    };
    let mut ids = selected(&m, sel, kinds)?;
    // Ephemeral models are never built: they are inlined into the models reading them.
    ids.retain(|id| m.nodes[id].materialized != Materialization::Ephemeral);
    let order = m.graph.topo_order(&ids);
    let threads = exec
        .threads
        .or(m.target(&m.default_target).threads)
        .unwrap_or(1)
        .max(1);
    let total = order.len();
    let reg = registry(&m);
    let engine = engine(&m, &reg)?;
    let ctx = Arc::new(Ctx {
        manifest: m,
        registry: reg,
        engine,
        run_id: invocation.clone(),
    });
    printer::log(&format!(
        "Running with dvt={} threads={threads}",
        env!("CARGO_PKG_VERSION")
    ));
    printer::log(&format!("Found {total} nodes to build"));
    printer::out("");

    let mut results: BTreeMap<String, RunResult> = BTreeMap::new();
    let mut failed_or_skipped: BTreeSet<String> = BTreeSet::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<String> = order.clone();
    let mut running: JoinSet<(String, usize, String, Instant, String, Result<NodeOutcome>)> =
        JoinSet::new();
    let mut next_index = 0usize;
    let mut stop = false;
    let mut thread_slots: Vec<bool> = vec![false; threads];
    loop {
        // Start every pending node whose selected parents are all finished.
        let mut i = 0;
        while i < pending.len() && running.len() < threads && !stop {
            let id = pending[i].clone();
            let parents: Vec<&String> = ctx.manifest.nodes[&id]
                .depends_on
                .iter()
                .filter(|p| ids.contains(*p))
                .collect();
            if parents.iter().any(|p| failed_or_skipped.contains(*p)) {
                pending.remove(i);
                next_index += 1;
                let n = &ctx.manifest.nodes[&id];
                printer::log(&printer::dots(
                    &format!(
                        "{next_index} of {total} SKIP {} {}",
                        n.resource_type.as_str(),
                        n.name
                    ),
                    "[SKIP]",
                ));
                failed_or_skipped.insert(id.clone());
                results.insert(id.clone(), skipped(&ctx.manifest, &id));
                continue;
            }
            if parents.iter().all(|p| done.contains(*p)) {
                pending.remove(i);
                next_index += 1;
                let slot = thread_slots.iter().position(|b| !*b).unwrap_or(0);
                thread_slots[slot] = true;
                let thread = format!("Thread-{}", slot + 1);
                let n = &ctx.manifest.nodes[&id];
                printer::log(&printer::dots(
                    &format!(
                        "{next_index} of {total} START {} {} [{} -> {}]",
                        describe(n.materialized),
                        n.name,
                        path_label(&ctx.manifest, &id),
                        n.target
                    ),
                    "[RUN]",
                ));
                let ctx2 = Arc::clone(&ctx);
                let index = next_index;
                running.spawn(async move {
                    let t0 = Instant::now();
                    let start = now();
                    let res = run_node(&ctx2, &id).await;
                    (id, index, thread, t0, start, res)
                });
                continue;
            }
            i += 1;
        }
        let Some(joined) = running.join_next().await else {
            // Nothing running and nothing startable: either all done, or every
            // remaining node waits on a node left unstarted by --fail-fast.
            for id in pending.drain(..) {
                failed_or_skipped.insert(id.clone());
                results.insert(id.clone(), skipped(&ctx.manifest, &id));
            }
            break;
        };
        let (id, index, thread, t0, start, res) = joined.context("a node task panicked")?;
        if let Some(slot) = thread
            .strip_prefix("Thread-")
            .and_then(|s| s.parse::<usize>().ok())
        {
            thread_slots[slot - 1] = false;
        }
        let secs = t0.elapsed().as_secs_f64();
        let n = &ctx.manifest.nodes[&id];
        let label = format!("{index} of {total} {} {}", describe(n.materialized), n.name);
        let mut rr = RunResult {
            unique_id: id.clone(),
            status: RunStatus::Success,
            execution_time: secs,
            thread_id: thread,
            message: None,
            rows_affected: None,
            compiled_code: None,
            relation_name: Some(ctx.manifest.target(&n.target).dialect().render(&n.relation)),
            path: path_label(&ctx.manifest, &id),
            target: n.target.clone(),
            started_at: start,
            completed_at: now(),
        };
        match res {
            Ok(out) => {
                let rows = out.rows.map(|r| format!("{r} ")).unwrap_or_default();
                printer::log(&printer::dots(
                    &format!("{label} [{}]", path_label(&ctx.manifest, &id)),
                    &format!("[OK {rows}in {secs:.2}s]"),
                ));
                rr.rows_affected = out.rows;
                rr.compiled_code = out.compiled;
                rr.message = Some(match out.rows {
                    Some(r) => format!("OK {r}"),
                    None => "OK".into(),
                });
                done.insert(id.clone());
            }
            Err(e) => {
                let code = printer::code_of(&e);
                printer::log(&printer::dots(
                    &format!("{label} [{}]", path_label(&ctx.manifest, &id)),
                    &format!("[ERROR in {secs:.2}s]"),
                ));
                rr.status = RunStatus::Error;
                rr.message = Some(format!("{code}: {}", printer::message(&e)));
                failed_or_skipped.insert(id.clone());
                if exec.fail_fast {
                    stop = true;
                }
            }
        }
        results.insert(id, rr);
    }

    let elapsed = started.elapsed().as_secs_f64();
    let ordered: Vec<RunResult> = order.iter().filter_map(|id| results.remove(id)).collect();
    let args = json!({
        "which": match kind { Kind::Run => "run", Kind::Seed => "seed", Kind::Build => "build" },
        "select": sel.select,
        "exclude": sel.exclude,
        "target": common.target,
        "threads": threads,
        "full_refresh": exec.full_refresh,
    });
    write_json(
        &target_dir(&ctx.manifest).join("run_results.json"),
        &run_results_json(&ordered, elapsed, args, &invocation, &now()),
    )?;
    let count_of = |s: RunStatus| ordered.iter().filter(|r| r.status == s).count();
    let (pass, error, skip) = (
        count_of(RunStatus::Success),
        count_of(RunStatus::Error),
        count_of(RunStatus::Skipped),
    );
    printer::out("");
    printer::log(&format!("Finished running {total} nodes in {elapsed:.2}s."));
    if error > 0 {
        printer::out("");
        printer::log("Completed with errors:");
        for r in ordered.iter().filter(|r| r.status == RunStatus::Error) {
            let n = &ctx.manifest.nodes[&r.unique_id];
            printer::out(&format!(
                "  {} {} ({}): {}",
                n.resource_type.as_str(),
                n.name,
                n.original_file_path.display(),
                r.message.as_deref().unwrap_or_default()
            ));
            if let Some(msg) = &r.message
                && let Some((code, text)) = msg.split_once(": ")
            {
                printer::error(
                    code,
                    &format!("{} `{}`: {text}", n.resource_type.as_str(), n.name),
                );
            }
        }
    } else {
        let _ = ctx
            .engine
            .environment()
            .staging
            .remove_run(&ctx.run_id)
            .await;
    }
    printer::out("");
    printer::log(&format!(
        "Done. PASS={pass} WARN={} ERROR={error} SKIP={skip} TOTAL={total}",
        ctx.manifest.warnings.len()
    ));
    Ok(if error > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn describe(m: Materialization) -> &'static str {
    match m {
        Materialization::Table => "table model",
        Materialization::View => "view model",
        Materialization::Ephemeral => "ephemeral model",
        Materialization::Seed => "seed file",
    }
}

fn skipped(m: &Manifest, id: &str) -> RunResult {
    let n = &m.nodes[id];
    RunResult {
        unique_id: id.to_owned(),
        status: RunStatus::Skipped,
        execution_time: 0.0,
        thread_id: String::new(),
        message: Some("skipped: an upstream node failed".into()),
        rows_affected: None,
        compiled_code: None,
        relation_name: Some(m.target(&n.target).dialect().render(&n.relation)),
        path: path_label(m, id),
        target: n.target.clone(),
        started_at: now(),
        completed_at: now(),
    }
}

/// Runs one node with the runner its resolved path calls for.
async fn run_node(ctx: &Ctx, id: &str) -> Result<NodeOutcome> {
    let m = &ctx.manifest;
    let n = &m.nodes[id];
    let adapter = ctx.registry.adapter(&n.target).await?;
    adapter.create_schema_if_missing(&n.relation.schema).await?;
    match n.resource_type {
        ResourceType::Seed => {
            let data = load_seed(
                &m.path(&n.original_file_path),
                &n.original_file_path,
                &n.seed_options(),
            )?;
            let column_types = dvt_executor::seed::seed_column_types(&data);
            let stream = dvt_executor::seed::seed_stream(&data)?;
            let rows = adapter
                .replace_table_from_stream(&n.relation, stream, &column_types)
                .await?;
            Ok(NodeOutcome {
                rows: Some(rows),
                compiled: None,
            })
        }
        ResourceType::Model => {
            let c = m.compile(id)?;
            for l in &c.logs {
                printer::log(l);
            }
            write_compiled(m, id, &c.sql)?;
            let rows = match (n.path, n.materialized) {
                (ExecPath::Pushdown, Materialization::View) => {
                    adapter.replace_view_as(&n.relation, &c.sql).await?;
                    None
                }
                (ExecPath::Pushdown, _) => adapter.replace_table_as(&n.relation, &c.sql).await?,
                (ExecPath::Federated, _) => Some(
                    ctx.engine
                        .run_into(
                            &ctx.run_id,
                            &FederatedQuery::from(&c),
                            &n.target,
                            &n.relation,
                            &BTreeMap::new(),
                        )
                        .await?,
                ),
            };
            Ok(NodeOutcome {
                rows,
                compiled: Some(c.sql),
            })
        }
    }
}
