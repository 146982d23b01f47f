//! The dbt tasks run locally: one runner per node, DAG order, `--threads` parallelism,
//! descendants of a failure skipped. DVT's extension point is [`run_node`]: a model is
//! handed to the pushdown runner or the federation runner by its resolved path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use dvt_core::manifest::{LoadOptions, Manifest, ResourceType};
use dvt_core::profile::{ProfileLookup, parse_cli_vars};
use dvt_core::resolve::ExecPath;
use dvt_executor::federation::{Compute, FederatedQuery, FederationEngine};
use dvt_executor::registry::TargetRegistry;
use dvt_executor::run::{
    EngineKey, RunContext, RunEvent, RunKind, RunOptions, write_compiled, write_manifest,
};
use dvt_executor::staging::Staging;
use tokio_util::sync::CancellationToken;

use crate::args::{Command, Common, DocsCommand, Execution, Selection, SourceCommand};
use crate::printer;

pub(crate) async fn dispatch(cli: crate::Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init { name } => crate::init::init(&name).map(|_| ExitCode::SUCCESS),
        Command::Deps { project_dir } => {
            let installed = dvt_core::packages::install(&project_dir)?;
            if installed.is_empty() {
                printer::log("No packages to install (no packages.yml or dependencies.yml)");
            }
            for p in &installed {
                printer::log(&format!(
                    "Installed {} from {}{} into {}",
                    p.name,
                    p.source.describe(),
                    p.commit
                        .as_deref()
                        .map(|c| format!(" (commit {c})"))
                        .unwrap_or_default(),
                    p.path.display()
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Clean {
            project_dir,
            no_clean_project_files_only,
            ..
        } => {
            let removed = dvt_core::packages::clean(&project_dir, !no_clean_project_files_only)?;
            if removed.is_empty() {
                printer::log("Nothing to clean");
            }
            for dir in removed {
                printer::log(&format!("Removed {}", dir.display()));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Debug { common } => debug(&common).await,
        Command::Parse { common } => {
            let m = load(&common)?;
            write_manifest(&m, &invocation_id())?;
            printer::out(&format!(
                "Parsed {} models, {}{}{}{} data tests, {} seeds, {} sources, {} macros into {}",
                count(&m, ResourceType::Model),
                match count(&m, ResourceType::Analysis) {
                    0 => String::new(),
                    n => format!("{n} analyses, "),
                },
                match count(&m, ResourceType::Snapshot) {
                    0 => String::new(),
                    n => format!("{n} snapshots, "),
                },
                match count(&m, ResourceType::Function) {
                    0 => String::new(),
                    n => format!("{n} functions, "),
                },
                count(&m, ResourceType::Test),
                count(&m, ResourceType::Seed),
                m.sources.len(),
                m.macros.len(),
                m.path(Path::new(&m.project.target_path))
                    .join("manifest.json")
                    .display()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Compile {
            common,
            selection,
            inline,
            empty,
        } => compile(&common, &selection, inline.as_deref(), empty),
        Command::Retry { common } => retry(&common).await,
        Command::Docs {
            command:
                DocsCommand::Generate {
                    common,
                    empty_catalog,
                    no_compile: _,
                    static_page,
                },
        } => docs_generate(&common, empty_catalog, static_page).await,
        Command::Docs {
            command:
                DocsCommand::Serve {
                    common,
                    port,
                    host,
                    browser: _,
                    no_browser: _,
                },
        } => docs_serve(&common, &host, port),
        Command::Source {
            command:
                SourceCommand::Freshness {
                    common,
                    selection,
                    output,
                },
        } => source_freshness(&common, &selection, output.as_deref()).await,
        Command::RunOperation {
            common,
            macro_name,
            args,
        } => run_operation(&common, &macro_name, args.as_deref()),
        Command::Ls {
            common,
            selection,
            resource_types,
            output,
        } => ls(&common, &selection, &resource_types, &output),
        Command::Run {
            common,
            selection,
            execution,
        } => build(&common, &selection, &execution, RunKind::Run, None).await,
        Command::Seed {
            common,
            selection,
            execution,
        } => build(&common, &selection, &execution, RunKind::Seed, None).await,
        Command::Build {
            common,
            selection,
            execution,
        } => build(&common, &selection, &execution, RunKind::Build, None).await,
        Command::Test {
            common,
            selection,
            execution,
        } => build(&common, &selection, &execution, RunKind::Test, None).await,
        Command::Snapshot {
            common,
            selection,
            execution,
        } => build(&common, &selection, &execution, RunKind::Snapshot, None).await,
        Command::Clone {
            common,
            selection,
            execution,
        } => {
            if selection.state.is_none() {
                printer::error(
                    dvt_core::codes::USAGE,
                    "clone makes views of what an earlier run built: give --state <folder of its manifest.json>",
                );
                return Ok(ExitCode::from(2));
            }
            build(&common, &selection, &execution, RunKind::Clone, None).await
        }
        Command::Show {
            common,
            selection,
            inline,
            limit,
            compute,
            bucket,
        } => {
            let place = (compute.as_deref(), bucket.as_deref());
            show(&common, &selection, inline.as_deref(), limit, place).await
        }
        Command::Sync { common } => sync(&common).await,
    }
}

fn invocation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn count(m: &Manifest, kind: ResourceType) -> usize {
    m.nodes.values().filter(|n| n.resource_type == kind).count()
}

/// Loads the project and prints its warnings.
/// [`load`], with `--state`'s manifest read for `state:` selectors.
fn load_selecting(common: &Common, sel: &Selection) -> Result<Manifest> {
    let mut m = load(common)?;
    if let Some(dir) = &sel.state {
        let mut state = dvt_core::manifest::State::load(dir)?;
        // `source_status:` compares the state's freshness with this project's latest.
        let current = m
            .path(Path::new(&m.project.target_path))
            .join("sources.json");
        state.sources_current = dvt_core::manifest::SourceFreshness::load(&current)?;
        m.state = Some(state);
    }
    Ok(m)
}

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
    check_computes(&m)?;
    for w in &m.warnings {
        printer::warn(w.code, &w.message);
    }
    Ok(m)
}

/// A model's `compute:` and `bucket:` must name entries of `computes.yml` and
/// `buckets.yml` (parse-time errors, at the model's file, as any config).
fn check_computes(m: &Manifest) -> Result<()> {
    let fed = dvt_core::compute::FederationConfig::load(&m.profile, &m.project.root)?;
    for node in m.nodes.values() {
        let at = || dvt_core::error::Location::file(&node.original_file_path);
        for key in ["compute", "bucket"] {
            let Some(value) = node.config.get(key) else {
                continue;
            };
            let Some(name) = value.as_str() else {
                return Err(dvt_core::error::Error::InvalidConfig {
                    location: at(),
                    key: key.into(),
                    message: format!("expected a name of {key}s.yml, found `{value}`"),
                }
                .into());
            };
            if key == "compute" {
                fed.computes.resolve_at(Some(name), at())?;
            } else {
                fed.buckets.resolve_at(Some(name), at())?;
            }
        }
    }
    Ok(())
}

/// The federation engine of one compute, staging into `bucket` (after checking the
/// pair: a cluster needs a bucket every executor reaches).
fn engine_for(
    registry: &Arc<TargetRegistry>,
    compute: &dvt_core::compute::ComputeConfig,
    bucket: &dvt_core::compute::BucketConfig,
) -> Result<FederationEngine> {
    use dvt_core::compute::ComputeKind;
    dvt_core::compute::check_pairing(compute, bucket)?;
    let staging = Staging::from_bucket(bucket)?;
    Ok(match &compute.kind {
        ComputeKind::Local {
            threads,
            memory_limit,
            spill_dir,
        } => {
            let mut local = dvt_executor::federation::LocalOptions::default();
            local.threads = *threads;
            local.memory_limit = *memory_limit;
            local.spill_dir = spill_dir.clone();
            FederationEngine::new(Arc::clone(registry), staging, Compute::Local)
                .with_local_options(local)
        }
        ComputeKind::Ballista { scheduler } => FederationEngine::new(
            Arc::clone(registry),
            staging,
            Compute::Ballista(scheduler.clone()),
        ),
    })
}

fn path_label(m: &Manifest, id: &str) -> String {
    dvt_executor::run::path_label(m, &m.nodes[id])
}

/// What `sel` selects, its notes (the default selector used, criteria matching
/// nothing) printed on stderr.
fn choose(m: &Manifest, sel: &Selection) -> Result<dvt_core::select::Selection> {
    let selection = dvt_core::select::resolve(m, &sel.criteria())?;
    for note in &selection.notes {
        match note.code {
            Some(code) => printer::warn(code, &note.message),
            None => printer::log_aside(&note.message),
        }
    }
    Ok(selection)
}

fn selected(m: &Manifest, sel: &Selection, kinds: &[ResourceType]) -> Result<BTreeSet<String>> {
    let mut ids = choose(m, sel)?.nodes(m);
    ids.retain(|id| kinds.contains(&m.nodes[id].resource_type));
    Ok(ids)
}

fn ls(
    common: &Common,
    sel: &Selection,
    resource_types: &[String],
    output: &str,
) -> Result<ExitCode> {
    let m = load_selecting(common, sel)?;
    // As `dbt ls`, analyses only when asked for by `--resource-type analysis`.
    let kinds: Vec<ResourceType> = [
        ResourceType::Model,
        ResourceType::Seed,
        ResourceType::Snapshot,
        ResourceType::Test,
        ResourceType::Function,
        ResourceType::Analysis,
    ]
    .into_iter()
    .filter(|k| {
        let named = resource_types.iter().any(|r| r == k.as_str());
        named || (resource_types.is_empty() && *k != ResourceType::Analysis)
    })
    .collect();
    let selection = choose(&m, sel)?;
    let mut ids = selection.nodes(&m);
    ids.retain(|id| kinds.contains(&m.nodes[id].resource_type));
    let wants = |kind: &str| resource_types.is_empty() || resource_types.iter().any(|r| r == kind);
    // (unique id, line): DVT's table in build order, dbt's forms by unique id as
    // `dbt ls` prints them.
    let mut lines: Vec<(String, String)> = Vec::new();
    for id in m.graph.topo_order(&ids) {
        let n = &m.nodes[&id];
        let unit = n.test.as_ref().is_some_and(|t| t.unit.is_some());
        let line = match output {
            "selector" if unit => format!("unit_test:{}.{}", n.package_name, n.name),
            "selector" => n.fqn.join("."),
            "name" => n.name.clone(),
            "path" => m.package_file_path(n).display().to_string(),
            "json" => serde_json::json!({
                "name": n.name,
                "resource_type": if unit { "unit_test" } else { n.resource_type.as_str() },
                "package_name": n.package_name,
                "original_file_path": m.package_file_path(n),
                "unique_id": n.unique_id,
                "alias": n.relation.identifier,
                "config": n.config,
                "tags": n.tags,
                "depends_on": {"nodes": n.depends_on},
                "dvt": {"target": n.target, "path": path_label(&m, &id)},
            })
            .to_string(),
            _ => format!(
                "{:<48} {:<6} {:<7} target={:<12} path={}",
                n.fqn.join("."),
                n.resource_type.as_str(),
                n.materialized.as_str(),
                n.target,
                path_label(&m, &id)
            ),
        };
        lines.push((id, line));
    }
    // Sources, exposures and the semantic layer: (id, kind, selector, name, file, json,
    // DVT's table tail).
    let mut others: Vec<(
        &String,
        &str,
        String,
        String,
        &Path,
        serde_json::Value,
        String,
    )> = Vec::new();
    for id in &selection.ids {
        if let Some(s) = m.sources.get(id) {
            others.push((
                id,
                "source",
                format!("source:{}.{}.{}", s.package_name, s.source_name, s.name),
                format!("{}.{}", s.source_name, s.name),
                &s.original_file_path,
                serde_json::json!({"name": s.name, "source_name": s.source_name, "tags": s.tags, "dvt": {"target": s.connection}}),
                format!("source target={}", s.connection),
            ));
        } else if let Some(e) = m.exposures.get(id) {
            others.push((
                id,
                "exposure",
                format!("exposure:{}.{}", e.package_name, e.name),
                e.name.clone(),
                &e.original_file_path,
                serde_json::json!({"name": e.name, "depends_on": {"nodes": e.depends_on}}),
                format!("exposure {}", e.kind),
            ));
        } else if let Some(n) = m.semantic.get(id) {
            others.push((
                id,
                n.resource_type,
                format!("{}:{}.{}", n.resource_type, n.package_name, n.name),
                n.name.clone(),
                &n.original_file_path,
                serde_json::json!({"name": n.name, "tags": n.tags, "depends_on": {"nodes": n.depends_on}}),
                n.resource_type.to_owned(),
            ));
        }
    }
    for (id, kind, selector, name, file, mut json, table) in others {
        if !wants(kind) {
            continue;
        }
        let line = match output {
            "selector" => selector,
            "name" => name,
            "path" => file.display().to_string(),
            "json" => {
                json["resource_type"] = serde_json::json!(kind);
                json["unique_id"] = serde_json::json!(id);
                json["original_file_path"] = serde_json::json!(file);
                json.to_string()
            }
            _ => format!("{selector:<48} {table}"),
        };
        lines.push((id.clone(), line));
    }
    if output != "table" {
        lines.sort();
    }
    for (_, line) in lines {
        printer::out(&line);
    }
    Ok(ExitCode::SUCCESS)
}

fn compile(
    common: &Common,
    sel: &Selection,
    inline: Option<&str>,
    empty: bool,
) -> Result<ExitCode> {
    let mut m = load_selecting(common, sel)?;
    m.set_flags("compile", false);
    let invocation = invocation_id();
    write_manifest(&m, &invocation)?;
    // As `dbt compile` does, Jinja that queries the database (`run_query`, introspection)
    // runs against each node's target; connections open only when a node asks.
    let mut opts = dvt_core::compile::CompileOptions::default();
    opts.database = Some(Arc::new(dvt_executor::introspect::RegistryDatabase::new(
        registry(&m),
    )));
    opts.empty = empty;
    if let Some(sql) = inline {
        // dbt's `compile --inline`: the query compiled as a model would be, printed.
        let id = m.add_inline(sql)?;
        let c = m.compile_with(&id, &opts)?;
        for w in &c.warnings {
            printer::warn(w.code, &w.message);
        }
        printer::out(&c.sql);
        return Ok(ExitCode::SUCCESS);
    }
    let ids = selected(
        &m,
        sel,
        &[
            ResourceType::Model,
            ResourceType::Snapshot,
            ResourceType::Test,
            ResourceType::Function,
            ResourceType::Analysis,
        ],
    )?;
    let order = m.graph.topo_order(&ids);
    for id in &order {
        let c = m.compile_with(id, &opts)?;
        for w in &c.warnings {
            printer::warn(w.code, &w.message);
        }
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

/// `dvt run-operation`: calls the macro with `args` (a YAML mapping) as keyword
/// arguments, its queries on the target; prints what it logs. Its output is dropped, as
/// dbt drops it.
fn run_operation(common: &Common, macro_name: &str, args: Option<&str>) -> Result<ExitCode> {
    let mut m = load(common)?;
    m.set_flags("run-operation", false);
    let target = m
        .target_override
        .clone()
        .unwrap_or(m.default_target.clone());
    let args = match args {
        Some(text) => parse_cli_vars(text).map_err(|e| match e {
            dvt_core::error::Error::InvalidVars { message } => {
                dvt_core::error::Error::InvalidVars {
                    message: format!("(here `--args`) {message}"),
                }
            }
            other => other,
        })?,
        None => serde_json::Map::new(),
    };
    let is_name = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let file = Path::new("<run-operation>");
    let defined = macro_name.split('.').count() <= 2
        && macro_name.split('.').all(is_name)
        && m.render_operation(
            &format!("{{{{ {macro_name} is defined }}}}"),
            &target,
            &serde_json::json!({}),
            None,
            file,
        )
        .is_ok_and(|(out, _)| out == "True");
    if !defined {
        let hint = match macro_name.rsplit_once('.') {
            None if m.macros.keys().any(|k| k.eq_ignore_ascii_case(macro_name)) => {
                " (names are case-sensitive)".to_owned()
            }
            None => String::new(),
            Some((package, _)) if !m.packages.contains_key(package) => {
                format!(" (no installed package is named `{package}`; run `dvt deps`?)")
            }
            Some(_) => String::new(),
        };
        return Err(dvt_core::error::Error::UnknownMacro {
            name: macro_name.to_owned(),
            hint,
        }
        .into());
    }
    let keywords: Vec<String> = args
        .keys()
        .filter(|k| is_name(k))
        .map(|k| {
            format!(
                "{k}=__dvt_run_args[{}]",
                serde_json::Value::from(k.as_str())
            )
        })
        .collect();
    if let Some(bad) = args.keys().find(|k| !is_name(k)) {
        return Err(dvt_core::error::Error::InvalidVars {
            message: format!("(here `--args`) `{bad}` is not an argument name"),
        }
        .into());
    }
    let call = format!("{{{{ {macro_name}({}) }}}}", keywords.join(", "));
    let database = Arc::new(dvt_executor::introspect::RegistryDatabase::new(registry(
        &m,
    )));
    printer::log(&format!("Running macro {macro_name} on target {target}"));
    let started = std::time::Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let outcome = m.render_operation(
        &call,
        &target,
        &serde_json::json!({ "__dvt_run_args": args }),
        Some(database),
        file,
    );
    // dbt records the operation in run_results.json as `macro.<package>.<name>`, a
    // success or an error. The arguments are not written: they may hold secrets.
    let package = match macro_name.split_once('.') {
        Some((package, _)) => package.to_owned(),
        None => m
            .macros
            .get(macro_name)
            .and_then(|(file, _)| {
                let mut parts = file.components();
                (parts.next()?.as_os_str() == "dbt_packages")
                    .then(|| parts.next())
                    .flatten()
                    .map(|p| p.as_os_str().to_string_lossy().into_owned())
            })
            .unwrap_or_else(|| m.project.name.clone()),
    };
    let short = macro_name.rsplit('.').next().unwrap_or(macro_name);
    let result = dvt_core::artifacts::RunResult {
        unique_id: format!("macro.{package}.{short}"),
        status: if outcome.is_ok() {
            dvt_core::artifacts::RunStatus::Success
        } else {
            dvt_core::artifacts::RunStatus::Error
        },
        execution_time: started.elapsed().as_secs_f64(),
        thread_id: "MainThread".into(),
        message: outcome.as_ref().err().map(|e| format!("{} {e}", e.code())),
        rows_affected: None,
        failures: Some(0),
        compiled_code: None,
        relation_name: None,
        path: "operation".into(),
        target: target.clone(),
        started_at,
        compiled_at: None,
        completed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    };
    let path = m
        .path(Path::new(&m.project.target_path))
        .join("run_results.json");
    dvt_executor::run::write_json_atomic(
        &path,
        &dvt_core::artifacts::run_results_json(
            &[result],
            started.elapsed().as_secs_f64(),
            serde_json::json!({ "which": "run-operation", "macro": macro_name }),
            &invocation_id(),
            &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ),
    )?;
    let (_, logs) = outcome?;
    for line in logs {
        printer::log(&line);
    }
    Ok(ExitCode::SUCCESS)
}

fn registry(m: &Manifest) -> Arc<TargetRegistry> {
    Arc::new(TargetRegistry::new(m.profile.outputs.clone()))
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
    // dbt reads only the target it uses; `debug` checks them all, so an output DVT
    // cannot read (an unset variable, an adapter it lacks) is reported with its code.
    for name in m.profile.unusable_outputs() {
        if let Err(e) = m
            .profile
            .check_target(name, dvt_core::error::Location::file(&m.profile.file))
        {
            failed = true;
            printer::out(&format!("[FAIL] {name}: {} {e}", e.code()));
            printer::report(&anyhow::Error::from(e));
        }
    }
    failed |= check_federation(&m).await?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Checks every compute (a Ballista scheduler answers, with how many executors) and
/// every bucket (a filesystem bucket is writable) of `computes.yml`/`buckets.yml`.
/// Returns whether one failed.
async fn check_federation(m: &Manifest) -> Result<bool> {
    use dvt_core::compute::{BucketKind, ComputeKind};
    let fed = dvt_core::compute::FederationConfig::load(&m.profile, &m.project.root)?;
    let mut failed = false;
    for (name, c) in &fed.computes.by_name {
        let default = if *name == fed.computes.default {
            ", default"
        } else {
            ""
        };
        match &c.kind {
            ComputeKind::Local { threads, .. } => printer::out(&format!(
                "[OK]   compute {name} (local{default}): {} threads",
                threads.map_or_else(|| "all".to_owned(), |t| t.to_string())
            )),
            ComputeKind::Ballista { scheduler } => {
                match dvt_executor::process::scheduler_executors(
                    scheduler,
                    std::time::Duration::from_secs(5),
                )
                .await
                {
                    Ok(0) => {
                        failed = true;
                        printer::out(&format!(
                            "[FAIL] compute {name} (ballista{default}): {scheduler} answers but has no executor"
                        ));
                    }
                    Ok(n) => printer::out(&format!(
                        "[OK]   compute {name} (ballista{default}): {scheduler}, {n} executor{}",
                        if n == 1 { "" } else { "s" }
                    )),
                    Err(e) => {
                        failed = true;
                        printer::out(&format!(
                            "[FAIL] compute {name} (ballista{default}): {} {e}",
                            e.code()
                        ));
                    }
                }
            }
        }
    }
    for (name, b) in &fed.buckets.by_name {
        let default = if *name == fed.buckets.default {
            ", default"
        } else {
            ""
        };
        match &b.kind {
            BucketKind::Filesystem { path } => {
                let probe = path.join(format!(".dvt-probe-{}", std::process::id()));
                let ok = std::fs::create_dir_all(path)
                    .and_then(|()| std::fs::write(&probe, b"probe"))
                    .and_then(|()| std::fs::remove_file(&probe));
                match ok {
                    Ok(()) => printer::out(&format!(
                        "[OK]   bucket {name} (filesystem{default}{}): {}",
                        if b.shared { ", shared" } else { "" },
                        path.display()
                    )),
                    Err(e) => {
                        failed = true;
                        printer::out(&format!(
                            "[FAIL] bucket {name} (filesystem{default}): {} is not writable: {e}",
                            path.display()
                        ));
                    }
                }
            }
            BucketKind::S3 { .. } => {
                // A probe object, within a bound: the client retries an unreachable
                // endpoint for minutes.
                let probe = async {
                    let staging = Staging::from_bucket(b)?;
                    staging.probe().await?;
                    Ok::<_, dvt_executor::Error>(staging.location())
                };
                match tokio::time::timeout(std::time::Duration::from_secs(15), probe).await {
                    Ok(Ok(location)) => printer::out(&format!(
                        "[OK]   bucket {name} (s3{default}): {location} writable"
                    )),
                    Ok(Err(e)) => {
                        failed = true;
                        printer::out(&format!(
                            "[FAIL] bucket {name} (s3{default}): {} {e}",
                            e.code()
                        ));
                    }
                    Err(_) => {
                        failed = true;
                        printer::out(&format!(
                            "[FAIL] bucket {name} (s3{default}): no answer within 15 s"
                        ));
                    }
                }
            }
            other => printer::out(&format!(
                "[WARN] bucket {name} ({}{default}): accepted, but runs stage only into `filesystem` and `s3` buckets today",
                other.type_name()
            )),
        }
    }
    Ok(failed)
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
            match dvt_executor::adapter::replace::ensure_schema(&*adapter, s).await {
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
    failed |= check_federation(&m).await?;
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
    (compute, bucket): (Option<&str>, Option<&str>),
) -> Result<ExitCode> {
    let mut m = load_selecting(common, sel)?;
    m.set_flags("show", false);
    let id = match inline {
        Some(sql) => m.add_inline(sql)?,
        None => {
            let ids = selected(
                &m,
                sel,
                &[
                    ResourceType::Model,
                    ResourceType::Seed,
                    ResourceType::Analysis,
                ],
            )?;
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
                let sql = dvt_core::sql::limit_query(adapter.dialect(), &c.sql, limit);
                collect(adapter.query(&sql).await?).await?
            }
            ExecPath::Federated => {
                let run_id = format!("show-{}", invocation_id());
                // As `dvt run` would place it: the flag, else the node's config, else
                // the files' defaults.
                let fed = dvt_core::compute::FederationConfig::load(&m.profile, &m.project.root)?;
                let own = EngineKey::of(node);
                let compute = compute.or(own.as_ref().and_then(|k| k.compute.as_deref()));
                let bucket = bucket.or(own.as_ref().and_then(|k| k.bucket.as_deref()));
                let eng = engine_for(
                    &reg,
                    fed.computes.resolve(compute)?,
                    fed.buckets.resolve(bucket)?,
                )?;
                let out = eng
                    .collect(&run_id, &FederatedQuery::for_node(&c, &m), Some(limit))
                    .await;
                let kept = eng
                    .environment()
                    .staging
                    .finish_run(&run_id, out.is_ok(), false)
                    .await;
                if let Some(kept) = &kept {
                    printer::kept_staging(kept);
                }
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

/// `dvt docs generate`: the manifest and the catalog of every relation the project
/// builds or reads, each asked of its own target.
async fn docs_generate(
    common: &Common,
    empty_catalog: bool,
    static_page: bool,
) -> Result<ExitCode> {
    let mut m = load(common)?;
    m.set_flags("generate", false);
    let invocation = invocation_id();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    // Built once: written as manifest.json and read for the website.
    let manifest_json = dvt_core::artifacts::manifest_json(&m, &invocation, &now);
    let manifest = m
        .path(Path::new(&m.project.target_path))
        .join("manifest.json");
    dvt_executor::run::write_json_atomic(&manifest, &manifest_json)?;
    dvt_executor::run::write_semantic_manifest(&m)?;
    let catalog = if empty_catalog {
        dvt_executor::catalog::empty_catalog_json(&invocation, &now)
    } else {
        dvt_executor::catalog::catalog_json(&m, &registry(&m), &invocation, &now).await
    };
    let path = m
        .path(Path::new(&m.project.target_path))
        .join("catalog.json");
    dvt_executor::run::write_json_atomic(&path, &catalog)?;
    let count = |key: &str| catalog[key].as_object().map_or(0, serde_json::Map::len);
    let page = crate::docs_site::index_html(&manifest_json, &catalog);
    let dir = m.path(Path::new(&m.project.target_path));
    let mut pages = vec![dir.join("index.html")];
    if static_page {
        pages.push(dir.join("static_index.html"));
    }
    for p in &pages {
        std::fs::write(p, &page).map_err(|source| dvt_core::error::Error::Io {
            path: p.clone(),
            source,
        })?;
    }
    printer::log(&format!("Wrote {}", manifest.display()));
    printer::log(&format!(
        "Wrote {} ({} nodes, {} sources)",
        path.display(),
        count("nodes"),
        count("sources")
    ));
    let mut failed = false;
    for e in catalog["errors"].as_array().into_iter().flatten() {
        failed = true;
        printer::log(&format!(
            "  could not describe {}",
            e.as_str().unwrap_or_default()
        ));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `dvt docs serve`: the target folder over HTTP, as `dbt docs serve` serves it.
fn docs_serve(common: &Common, host: &str, port: u16) -> Result<ExitCode> {
    let project = dvt_core::project::ProjectConfig::load(&common.project_dir)?;
    let dir = project.root.join(&project.target_path);
    if !dir.join("index.html").is_file() {
        printer::error(
            dvt_core::codes::USAGE,
            &format!(
                "{} has no index.html: run `dvt docs generate` first",
                dir.display()
            ),
        );
        return Ok(ExitCode::from(2));
    }
    let listener =
        std::net::TcpListener::bind((host, port)).map_err(|source| dvt_core::error::Error::Io {
            path: std::path::PathBuf::from(format!("{host}:{port}")),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| dvt_core::error::Error::Io {
            path: std::path::PathBuf::from(format!("{host}:{port}")),
            source,
        })?;
    // A closed stdout (a script that read the address and went away) must not stop
    // the server, as `println!` would.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Serving docs at http://{addr}");
        let _ = writeln!(out, "Press Ctrl+C to exit.");
        let _ = out.flush();
    }
    crate::docs_site::serve(&dir, listener).map_err(|source| dvt_core::error::Error::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `dvt source freshness`: each selected source table with a freshness rule, checked on
/// its target; prints dbt's progress lines and writes `sources.json`. Exits 1 when a
/// table is stale past `error_after` or cannot be checked.
async fn source_freshness(
    common: &Common,
    sel: &Selection,
    output: Option<&Path>,
) -> Result<ExitCode> {
    use dvt_executor::freshness::{FreshnessStatus, check, sources_json};
    let mut m = load_selecting(common, sel)?;
    m.set_flags("freshness", false);
    let started = std::time::Instant::now();
    let ids: BTreeSet<String> = choose(&m, sel)?
        .ids
        .into_iter()
        .filter(|id| m.sources.contains_key(id))
        .collect();
    let tables: Vec<_> = ids
        .iter()
        .map(|id| &m.sources[id])
        .filter(|s| s.freshness.is_some())
        .collect();
    let reg = registry(&m);
    let total = tables.len();
    printer::log(&format!(
        "Found {total} source tables with a freshness rule"
    ));
    let mut results = Vec::new();
    for (i, s) in tables.into_iter().enumerate() {
        let what = format!("freshness of {}.{}", s.source_name, s.name);
        let index = i + 1;
        printer::log(&printer::dots(
            &format!("{index} of {total} START {what} [{}]", s.connection),
            "[RUN]",
        ));
        let r = check(&m, &reg, s).await;
        let secs = r.execution_time;
        let (word, tag) = match r.status {
            FreshnessStatus::Pass => ("PASS", "PASS"),
            FreshnessStatus::Warn => ("WARN", "WARN"),
            FreshnessStatus::Error => ("ERROR STALE", "ERROR STALE"),
            FreshnessStatus::RuntimeError => ("ERROR", "ERROR"),
        };
        printer::log(&printer::dots(
            &format!("{index} of {total} {word} {what}"),
            &format!("[{tag} in {secs:.2}s]"),
        ));
        if let Some(e) = &r.error {
            printer::log(&format!("  {}: {e}", s.unique_id));
        } else if let (Some(at), Some(age)) = (&r.max_loaded_at, r.age_seconds) {
            printer::log(&format!("  newest row loaded at {at}, {age:.0}s ago"));
        }
        results.push(r);
    }
    let path = match output {
        Some(p) => p.to_path_buf(),
        None => m
            .path(Path::new(&m.project.target_path))
            .join("sources.json"),
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    dvt_executor::run::write_json_atomic(
        &path,
        &sources_json(
            &results,
            started.elapsed().as_secs_f64(),
            &invocation_id(),
            &now,
        ),
    )?;
    let count = |st: FreshnessStatus| results.iter().filter(|r| r.status == st).count();
    let errors = count(FreshnessStatus::Error) + count(FreshnessStatus::RuntimeError);
    printer::log(&format!(
        "Done. PASS={} WARN={} ERROR={errors} TOTAL={total}",
        count(FreshnessStatus::Pass),
        count(FreshnessStatus::Warn)
    ));
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `dvt retry`: the last run's command again, with its flags, on the nodes that ended in
/// `error`, `fail` or `skipped` (dbt's retry).
async fn retry(common: &Common) -> Result<ExitCode> {
    use dvt_core::error::Error as CoreError;
    let m = load(common)?;
    let file = m
        .path(Path::new(&m.project.target_path))
        .join("run_results.json");
    let nothing = |why: String| CoreError::NothingToRetry { why };
    let text = std::fs::read_to_string(&file).map_err(|_| {
        nothing(format!(
            "{} does not exist; run a command first",
            file.display()
        ))
    })?;
    let last: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| nothing(format!("{} is not JSON: {e}", file.display())))?;
    let args = &last["args"];
    let which = args["which"].as_str().unwrap_or_default();
    let kind = RunKind::from_name(which).ok_or_else(|| {
        nothing(format!(
            "the last command (`{which}`) is not one retry repeats (run, seed, test, snapshot, build)"
        ))
    })?;
    let ids: BTreeSet<String> = last["results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| matches!(r["status"].as_str(), Some("error" | "fail" | "skipped")))
        .filter_map(|r| r["unique_id"].as_str().map(str::to_owned))
        .filter(|id| m.nodes.contains_key(id))
        .collect();
    if ids.is_empty() {
        printer::log(&format!(
            "Nothing to retry: no node of the last `{which}` failed or was skipped"
        ));
        return Ok(ExitCode::SUCCESS);
    }
    printer::log(&format!(
        "Retrying {} node(s) of the last `{which}`",
        ids.len()
    ));
    let strings = |key: &str| -> Vec<String> {
        args[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    let text = |key: &str| args[key].as_str().map(str::to_owned);
    let when = |key: &str| {
        text(key).and_then(|t| chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S").ok())
    };
    let sel = Selection {
        select: strings("select"),
        exclude: strings("exclude"),
        selector: text("selector"),
        indirect_selection: text("indirect_selection")
            .and_then(|t| dvt_core::select::Indirect::parse(&t))
            .unwrap_or_default(),
        state: text("state").map(std::path::PathBuf::from),
    };
    let exec = Execution {
        threads: args["threads"].as_u64().map(|n| n.max(1) as usize),
        full_refresh: args["full_refresh"].as_bool().unwrap_or(false),
        compute: text("compute"),
        bucket: text("bucket"),
        event_time_start: when("event_time_start"),
        event_time_end: when("event_time_end"),
        fail_fast: args["fail_fast"].as_bool().unwrap_or(false),
        keep_staging: args["keep_staging"].as_bool().unwrap_or(false),
        empty: args["empty"].as_bool().unwrap_or(false),
        defer: args["defer"].as_bool().unwrap_or(false),
        favor_state: args["favor_state"].as_bool().unwrap_or(false),
    };
    let mut common = common.clone();
    if common.target.is_none() {
        common.target = text("target");
    }
    build(&common, &sel, &exec, kind, Some(ids)).await
}

async fn build(
    common: &Common,
    sel: &Selection,
    exec: &Execution,
    kind: RunKind,
    only: Option<BTreeSet<String>>,
) -> Result<ExitCode> {
    let mut m = load_selecting(common, sel)?;
    m.set_flags(kind.as_str(), exec.full_refresh);
    let warnings = m.warnings.len();
    let invocation = invocation_id();
    write_manifest(&m, &invocation)?;
    if let (Some(start), Some(end)) = (exec.event_time_start, exec.event_time_end)
        && start >= end
    {
        printer::error(
            dvt_core::codes::USAGE,
            &format!("--event-time-start ({start}) must be before --event-time-end ({end})"),
        );
        return Ok(ExitCode::from(2));
    }
    let fed = dvt_core::compute::FederationConfig::load(&m.profile, &m.project.root)?;
    let mut ctx = RunContext::new(m, invocation)?;
    let bucket = fed.buckets.resolve(exec.bucket.as_deref())?;
    let compute = fed.computes.resolve(exec.compute.as_deref())?;
    ctx.engine = engine_for(&ctx.registry, compute, bucket)?;
    // Models that choose their own compute or bucket get an engine per pair; the
    // other half of the pair is the run's (`--compute` / `--bucket` or the default).
    let keys: BTreeSet<EngineKey> = ctx
        .manifest
        .nodes
        .values()
        .filter_map(EngineKey::of)
        .collect();
    for key in keys {
        let c = match &key.compute {
            Some(name) => fed.computes.resolve(Some(name))?,
            None => compute,
        };
        let b = match &key.bucket {
            Some(name) => fed.buckets.resolve(Some(name))?,
            None => bucket,
        };
        let engine = engine_for(&ctx.registry, c, b)?;
        ctx.engines.insert(key, engine);
    }
    ctx.flags.full_refresh = exec.full_refresh;
    ctx.flags.event_time_start = exec.event_time_start;
    ctx.flags.event_time_end = exec.event_time_end;
    ctx.flags.empty = exec.empty;
    if exec.defer {
        let Some(state) = ctx.manifest.state.clone() else {
            printer::error(
                dvt_core::codes::USAGE,
                "--defer reads unbuilt parents from an earlier run: give --state <folder of its manifest.json>",
            );
            return Ok(ExitCode::from(2));
        };
        ctx.flags.defer = Some(Arc::new(dvt_core::manifest::Defer {
            state,
            selected: dvt_core::select::resolve(&ctx.manifest, &sel.criteria())?
                .nodes(&ctx.manifest),
            favor_state: exec.favor_state,
        }));
    }
    let ctx = Arc::new(ctx);
    let mut opts = RunOptions::new(kind);
    opts.select = sel.select.clone();
    opts.exclude = sel.exclude.clone();
    opts.selector = sel.selector.clone();
    opts.indirect_selection = sel.indirect_selection;
    opts.threads = exec.threads;
    opts.fail_fast = exec.fail_fast;
    opts.full_refresh = exec.full_refresh;
    opts.keep_staging = exec.keep_staging;
    opts.target = common.target.clone();
    opts.only = only;
    let recorded = [
        ("compute", exec.compute.clone()),
        ("bucket", exec.bucket.clone()),
        (
            "event_time_start",
            exec.event_time_start.map(|t| t.to_string()),
        ),
        ("event_time_end", exec.event_time_end.map(|t| t.to_string())),
    ];
    for (key, value) in recorded {
        opts.recorded
            .insert(key.into(), serde_json::Value::from(value));
    }
    opts.recorded
        .insert("keep_staging".into(), exec.keep_staging.into());
    opts.recorded.insert("empty".into(), exec.empty.into());
    opts.recorded.insert("defer".into(), exec.defer.into());
    opts.recorded
        .insert("favor_state".into(), exec.favor_state.into());
    opts.recorded.insert(
        "state".into(),
        serde_json::Value::from(sel.state.as_ref().map(|p| p.display().to_string())),
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let on_interrupt = cancel.clone();
    let interrupt = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.cancel();
        }
    });
    let run = tokio::spawn({
        let ctx = Arc::clone(&ctx);
        async move { dvt_executor::run::execute(ctx, &opts, tx, cancel).await }
    });
    let mut warnings = warnings;
    while let Some(event) = rx.recv().await {
        if let RunEvent::NodeWarning { .. } | RunEvent::RunWarning { .. } = event {
            warnings += 1;
        }
        printer::event(&event, warnings);
    }
    interrupt.abort();
    let summary = run.await.context("the run loop stopped unexpectedly")??;
    Ok(if summary.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
