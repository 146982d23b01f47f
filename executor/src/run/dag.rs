//! The DAG walk: dbt's order over the selected nodes, `--threads` parallel nodes, a
//! failure skipping what depends on it, `--fail-fast` and cancellation. A node that
//! panics fails alone, and `run_results.json` is written whatever happens to the nodes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use dvt_core::artifacts::{RunResult, RunStatus, run_results_json};
use dvt_core::graph::Graph;
use dvt_core::manifest::{Materialization, ResourceType};
use futures::FutureExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::artifacts::{now, write_json_atomic};
use super::runner::{NodeOutcome, NodeReporter};
use super::{RunContext, RunEvent, RunKind, RunOptions, RunSummary};
use crate::error::{Error, Result};

/// What a command runs: the nodes to build (the selection, restricted to its resource
/// types, minus ephemeral models, inlined into their readers), the selected ephemeral
/// models (never built; their compiled SQL is written), the selected exposures and saved
/// queries (`build` lists them) and the selection's notes for the user.
pub(crate) struct Chosen {
    pub(crate) ids: BTreeSet<String>,
    pub(crate) ephemeral: Vec<String>,
    pub(crate) exposures: Vec<String>,
    pub(crate) notes: Vec<dvt_core::select::Note>,
}

pub(crate) fn selected_nodes(ctx: &RunContext, opts: &RunOptions) -> Result<Chosen> {
    let m = &ctx.manifest;
    let kinds: &[ResourceType] = match opts.kind {
        // As in dbt-core (1.11, 1.12): `run` builds models only; functions are built by
        // `build`, which orders them before the models that call them.
        RunKind::Run => &[ResourceType::Model],
        RunKind::Seed => &[ResourceType::Seed],
        RunKind::Test => &[ResourceType::Test],
        RunKind::Snapshot => &[ResourceType::Snapshot],
        RunKind::Clone => &[
            ResourceType::Model,
            ResourceType::Seed,
            ResourceType::Snapshot,
        ],
        RunKind::Build => &[
            ResourceType::Model,
            ResourceType::Seed,
            ResourceType::Snapshot,
            ResourceType::Test,
            ResourceType::Function,
        ],
    };
    // Tests come with the nodes they read as `--indirect-selection` says (dbt's eager
    // mode by default), inside the selection itself.
    let selection = dvt_core::select::resolve(m, &opts.criteria())?;
    // dbt 1.10's `build` lists the selected exposures and saved queries too, each a no-op
    // once its parents are done (skipped when one failed).
    let exposures = if opts.kind == RunKind::Build {
        selection
            .ids
            .iter()
            .filter(|id| {
                m.exposures.contains_key(*id)
                    || m.semantic
                        .get(*id)
                        .is_some_and(|s| s.resource_type == "saved_query")
            })
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let mut ids = selection.nodes(m);
    if let Some(only) = &opts.only {
        ids.retain(|id| only.contains(id));
    }
    let ephemeral: Vec<String> = ids
        .iter()
        .filter(|id| {
            let n = &m.nodes[*id];
            kinds.contains(&n.resource_type) && n.materialized == Materialization::Ephemeral
        })
        .cloned()
        .collect();
    ids.retain(|id| {
        let n = &m.nodes[id];
        kinds.contains(&n.resource_type) && n.materialized != Materialization::Ephemeral
    });
    Ok(Chosen {
        ids,
        ephemeral,
        exposures,
        notes: selection.notes,
    })
}

/// In `dvt build`, a node also waits for the tests of the nodes it reads, so a failing
/// test skips what depends on the tested node. A test is added only when everything it
/// reads comes before the node anyway (a `relationships` test between a node and its
/// parent would otherwise make a cycle).
fn add_test_edges(
    m: &dvt_core::manifest::Manifest,
    ids: &BTreeSet<String>,
    parents: &mut BTreeMap<String, BTreeSet<String>>,
) {
    let tests: Vec<&dvt_core::manifest::Node> = ids
        .iter()
        .map(|id| &m.nodes[id])
        .filter(|n| n.is_test())
        .collect();
    if tests.is_empty() {
        return;
    }
    // A unit test runs on fixtures, not on its model's table: as in dbt, it runs before
    // the model, and a failing one skips the model and what depends on it. It waits for
    // the model's parents, so one of them failing skips it, as dbt does.
    let before_unit_tests = parents.clone();
    // dbt runs a model's unit tests one after another, in the order they are declared,
    // and skips the rest once one fails: each waits for the one before it.
    let mut per_model: BTreeMap<&str, Vec<&dvt_core::manifest::Node>> = BTreeMap::new();
    for t in &tests {
        if let Some(info) = t.test.as_ref().filter(|i| i.unit.is_some())
            && let Some(model) = info.attached_node.as_deref()
        {
            per_model.entry(model).or_default().push(t);
        }
    }
    for chain in per_model.values_mut() {
        chain.sort_by_key(|t| t.test.as_ref().map_or(0, |i| i.declared_at));
        for pair in chain.windows(2) {
            if let Some(own) = parents.get_mut(&pair[1].unique_id) {
                own.insert(pair[0].unique_id.clone());
            }
        }
    }
    for t in &tests {
        let Some(model) = t
            .test
            .as_ref()
            .filter(|info| info.unit.is_some())
            .and_then(|info| info.attached_node.as_ref())
        else {
            continue;
        };
        if !ids.contains(model) {
            continue;
        }
        if let Some(own) = parents.get_mut(&t.unique_id) {
            own.remove(model);
            own.extend(before_unit_tests[model].iter().cloned());
        }
        parents
            .get_mut(model)
            .expect("every selected node has parents")
            .insert(t.unique_id.clone());
    }
    for id in ids {
        if m.nodes[id].is_test() {
            continue;
        }
        let direct = parents[id].clone();
        let ancestors = m.graph.ancestors(id, None);
        // Sources are no nodes of the run, but a failing test of a source skips what
        // reads it, as in dbt; a source is there before anything runs.
        let reads = &m.nodes[id].depends_on;
        let is_source = |d: &String| d.starts_with("source.");
        for t in &tests {
            let tests_a_parent = t
                .depends_on
                .iter()
                .any(|d| direct.contains(d) || (is_source(d) && reads.contains(d)));
            let all_before = t
                .depends_on
                .iter()
                .all(|d| is_source(d) || ancestors.contains(d));
            if tests_a_parent && all_before {
                parents
                    .get_mut(id)
                    .expect("every selected node has parents")
                    .insert(t.unique_id.clone());
            }
        }
    }
}

struct Finished {
    id: String,
    index: usize,
    slot: usize,
    started: Instant,
    started_at: String,
    compiled_at: Option<String>,
    outcome: Result<NodeOutcome>,
}

/// Runs the selected nodes of `ctx` and writes `run_results.json`.
///
/// Events go to `events` as they happen (a dropped receiver is fine). Cancelling `cancel`
/// stops starting nodes and aborts the running ones; their results say so. Returns an
/// error only when the selection is invalid or the results cannot be written; node
/// failures are in the summary.
pub async fn execute(
    ctx: Arc<RunContext>,
    opts: &RunOptions,
    events: UnboundedSender<RunEvent>,
    cancel: CancellationToken,
) -> Result<RunSummary> {
    let started = Instant::now();
    let m = &ctx.manifest;
    let Chosen {
        ids,
        ephemeral,
        exposures,
        notes,
    } = selected_nodes(&ctx, opts)?;
    let mut parents = m.graph.subset_parents(&ids);
    if opts.kind == RunKind::Build {
        add_test_edges(m, &ids, &mut parents);
    }
    let order = Graph::run_order(&parents);
    let threads = opts
        .threads
        .or(m.target(&m.default_target).threads)
        .unwrap_or(1)
        .max(1);
    ctx.registry.set_run_threads(threads);
    let total = order.len() + exposures.len();
    let send = |e: RunEvent| {
        let _ = events.send(e);
    };
    for note in notes {
        send(match note.code {
            Some(code) => RunEvent::RunWarning {
                code: code.to_owned(),
                message: note.message,
            },
            None => RunEvent::RunLog {
                message: note.message,
            },
        });
    }
    send(RunEvent::RunStarted {
        invocation_id: ctx.invocation_id.clone(),
        threads,
        total,
    });
    let collected =
        super::journal::collect_garbage(&ctx.runs_dir(), &ctx.registry, ctx.staging()).await;
    if !collected.runs.is_empty() {
        send(RunEvent::RunLog {
            message: format!(
                "Cleaned up after {} killed run(s): dropped {} staged relation(s){}",
                collected.runs.len(),
                collected.relations.len(),
                if collected.relations.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", collected.relations.join(", "))
                }
            ),
        });
    }

    let flags = serde_json::json!({
        "flags": { "WHICH": opts.kind.as_str(), "FULL_REFRESH": opts.full_refresh },
        // dbt's mapping of the command's arguments (dbt_artifacts records it); `--vars`
        // are left out, as they may hold secrets.
        "invocation_args_dict": { "which": opts.kind.as_str(), "full_refresh": opts.full_refresh },
    });
    // dbt creates the run's schemas before its on-run-start hooks, which may write there.
    let mut schemas: BTreeSet<(String, String)> = BTreeSet::new();
    if !m.project.on_run_start.is_empty() {
        for id in &order {
            let n = &m.nodes[id];
            if n.materialized != Materialization::Ephemeral && n.resource_type != ResourceType::Test
            {
                schemas.insert((n.target.clone(), n.relation.schema.clone()));
            }
        }
    }
    // dbt's `clone` is no run: its hooks do not fire.
    let hooks = opts.kind != RunKind::Clone;
    let (start_results, start_ok) = if hooks {
        Box::pin(project_hooks(&ctx, "on-run-start", &flags, &schemas, &send)).await
    } else {
        (Vec::new(), true)
    };
    // Ephemeral models are never built, but dbt writes their compiled SQL.
    for id in &ephemeral {
        if let Ok(c) = m.compile(id) {
            let _ = super::artifacts::write_compiled(m, id, &c.sql);
        }
    }

    let mut results: BTreeMap<String, RunResult> = BTreeMap::new();
    let mut bad: BTreeSet<String> = BTreeSet::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    // A failed on-run-start hook skips every node, as in dbt.
    let mut pending: Vec<String> = if start_ok {
        order.clone()
    } else {
        for id in &order {
            results.insert(
                id.clone(),
                skipped(&ctx, id, "skipped: an on-run-start hook failed".into()),
            );
        }
        Vec::new()
    };
    let mut running: JoinSet<Finished> = JoinSet::new();
    // Task id -> node, to attribute an aborted task's result.
    let mut running_ids: HashMap<tokio::task::Id, (String, usize, Instant, String)> =
        HashMap::new();
    let mut next_index = 0usize;
    let mut stop = false;
    let mut slots = vec![false; threads];
    loop {
        if cancel.is_cancelled() {
            stop = true;
        }
        let mut i = 0;
        while i < pending.len() && running.len() < threads && !stop {
            let id = pending[i].clone();
            let node_parents = &parents[&id];
            if node_parents.iter().any(|p| bad.contains(p)) {
                pending.remove(i);
                next_index += 1;
                let failed: Vec<&str> = node_parents
                    .iter()
                    .filter(|p| bad.contains(*p))
                    .map(String::as_str)
                    .collect();
                let r = skipped(
                    &ctx,
                    &id,
                    format!(
                        "skipped: upstream `{}` did not succeed",
                        failed.join("`, `")
                    ),
                );
                bad.insert(id.clone());
                send(RunEvent::NodeFinished {
                    index: next_index,
                    total,
                    node: node_info(&ctx, opts.kind, &m.nodes[&id]),
                    result: r.clone(),
                });
                results.insert(id, r);
                continue;
            }
            if !node_parents.iter().all(|p| done.contains(p)) {
                i += 1;
                continue;
            }
            pending.remove(i);
            next_index += 1;
            let slot = slots.iter().position(|b| !*b).unwrap_or(0);
            slots[slot] = true;
            let node = &m.nodes[&id];
            send(RunEvent::NodeStarted {
                index: next_index,
                total,
                node: node_info(&ctx, opts.kind, node),
                thread: thread_name(slot),
            });
            let ctx2 = Arc::clone(&ctx);
            let kind = opts.kind;
            let index = next_index;
            let compiled_at = Arc::new(std::sync::Mutex::new(None));
            let reporter = NodeReporter {
                unique_id: id.clone(),
                events: events.clone(),
                compiled_at: Arc::clone(&compiled_at),
                thread: thread_name(slot),
            };
            let t0 = Instant::now();
            let started_at = now();
            let task_id = id.clone();
            let handle = running.spawn({
                let started_at = started_at.clone();
                async move {
                    let node = &ctx2.manifest.nodes[&task_id];
                    let runner: &dyn super::runner::NodeRunner = if kind == RunKind::Clone {
                        &super::clone::CloneRunner
                    } else {
                        ctx2.runners.runner_for(node)
                    };
                    // A panic in a runner fails this node only.
                    let outcome = std::panic::AssertUnwindSafe(runner.run(&ctx2, node, &reporter))
                        .catch_unwind()
                        .await
                        .unwrap_or_else(|panic| Err(Error::internal(panic_message(&panic))));
                    let compiled_at = compiled_at.lock().unwrap_or_else(|e| e.into_inner()).take();
                    Finished {
                        id: task_id,
                        index,
                        slot,
                        started: t0,
                        started_at,
                        compiled_at,
                        outcome,
                    }
                }
            });
            running_ids.insert(handle.id(), (id, slot, t0, started_at));
        }
        let joined = tokio::select! {
            biased;
            () = cancel.cancelled(), if !stop => {
                stop = true;
                running.abort_all();
                continue;
            }
            j = running.join_next() => j,
        };
        let Some(joined) = joined else {
            // Nothing running and nothing startable: every remaining node waits on one
            // that --fail-fast or a cancel left unstarted.
            for id in pending.drain(..) {
                let r = skipped(&ctx, &id, not_started_reason(&cancel));
                results.insert(id, r);
            }
            break;
        };
        let finished = match joined {
            Ok(f) => f,
            Err(join_error) => {
                // Only an abort (cancel) lands here: panics are caught inside the task.
                let Some((id, slot, t0, started_at)) = running_ids.remove(&join_error.id()) else {
                    continue;
                };
                Finished {
                    id,
                    index: 0,
                    slot,
                    started: t0,
                    started_at,
                    compiled_at: None,
                    outcome: Err(Error::Cancelled),
                }
            }
        };
        running_ids.retain(|_, (id, ..)| *id != finished.id);
        slots[finished.slot] = false;
        let node = &m.nodes[&finished.id];
        let mut rr = base_result(&ctx, &finished.id);
        rr.execution_time = finished.started.elapsed().as_secs_f64();
        rr.thread_id = thread_name(finished.slot);
        rr.started_at = finished.started_at;
        rr.compiled_at = finished.compiled_at;
        rr.completed_at = now();
        match finished.outcome {
            Ok(out) => {
                rr.rows_affected = out.rows;
                rr.compiled_code = out.compiled;
                match out.test {
                    Some(t) => {
                        rr.status = t.status;
                        rr.failures = Some(t.failures);
                        rr.message = Some(t.message);
                        if t.status == RunStatus::Fail {
                            bad.insert(finished.id.clone());
                            if opts.fail_fast {
                                stop = true;
                                running.abort_all();
                            }
                        } else {
                            done.insert(finished.id.clone());
                        }
                    }
                    None => {
                        rr.status = RunStatus::Success;
                        // dbt counts a microbatch model's failed batches here.
                        if node.materialized == Materialization::Incremental
                            && node.config.get("incremental_strategy")
                                == Some(&serde_json::Value::from("microbatch"))
                        {
                            rr.failures = Some(0);
                        }
                        rr.message = Some(match (out.message, out.rows) {
                            (Some(message), _) => message,
                            (None, Some(r)) => format!("OK {r}"),
                            (None, None) => "OK".into(),
                        });
                        done.insert(finished.id.clone());
                    }
                }
            }
            Err(e) => {
                rr.status = RunStatus::Error;
                rr.message = Some(format!("{}: {}", e.code(), e.message_chain()));
                bad.insert(finished.id.clone());
                if opts.fail_fast {
                    stop = true;
                    running.abort_all();
                }
            }
        }
        send(RunEvent::NodeFinished {
            index: finished.index,
            total,
            node: node_info(&ctx, opts.kind, node),
            result: rr.clone(),
        });
        results.insert(finished.id, rr);
    }

    let cancelled = cancel.is_cancelled();
    let done_count = results.len();
    let mut exposure_results = Vec::new();
    let outside: BTreeMap<&String, &Vec<String>> = m.outside_members().collect();
    for (index, id) in (done_count + 1..).zip(exposures.iter().filter(|_| !cancelled)) {
        let (name, kind, file) = match (m.exposures.get(id), m.semantic.get(id)) {
            (Some(e), _) => (&e.name, "exposure", &e.original_file_path),
            (None, Some(s)) => (&s.name, "saved_query", &s.original_file_path),
            (None, None) => continue,
        };
        // A saved query reads models through its metrics and their semantic models.
        let mut nodes = Vec::new();
        let mut todo: Vec<&String> = outside.get(id).into_iter().flat_map(|d| d.iter()).collect();
        let mut seen = BTreeSet::new();
        while let Some(d) = todo.pop() {
            if !seen.insert(d) {
                continue;
            }
            match outside.get(d) {
                Some(more) => todo.extend(more.iter()),
                None => nodes.push(d),
            }
        }
        nodes.sort();
        let blocked = nodes.into_iter().find(|d| {
            results.get(*d).is_some_and(|r| {
                matches!(
                    r.status,
                    RunStatus::Error | RunStatus::Fail | RunStatus::Skipped
                )
            })
        });
        let at = now();
        let rr = RunResult {
            unique_id: id.clone(),
            status: if blocked.is_some() {
                RunStatus::Skipped
            } else {
                RunStatus::NoOp
            },
            execution_time: 0.0,
            thread_id: "main".into(),
            message: Some(match blocked {
                Some(d) => format!("skipped: `{d}` did not succeed"),
                None => "NO-OP".into(),
            }),
            rows_affected: None,
            failures: blocked.is_none().then_some(0),
            compiled_code: None,
            relation_name: None,
            path: kind.into(),
            target: m.default_target.clone(),
            started_at: at.clone(),
            compiled_at: None,
            completed_at: at,
        };
        send(RunEvent::NodeFinished {
            index,
            total,
            node: crate::run::NodeInfo {
                unique_id: id.clone(),
                name: name.clone(),
                resource_type: kind.into(),
                description: kind.replace('_', " "),
                path: kind.into(),
                target: m.default_target.clone(),
                file: file.display().to_string(),
            },
            result: rr.clone(),
        });
        exposure_results.push(rr);
    }
    let node_results: Vec<RunResult> = order
        .iter()
        .filter_map(|id| results.remove(id))
        .chain(exposure_results)
        .collect();
    let end_results = if hooks && start_ok && !cancelled {
        let mut schemas: Vec<String> = node_results
            .iter()
            .filter(|r| r.status != RunStatus::Skipped)
            .filter_map(|r| m.nodes.get(&r.unique_id))
            .filter(|n| n.target == m.default_target && n.resource_type != ResourceType::Test)
            .map(|n| n.relation.schema.clone())
            .collect();
        schemas.sort();
        schemas.dedup();
        // dbt's `results`: each run result with its whole node (dbt_artifacts stores
        // `result.node.config.materialized`, `.schema`, `.alias`, `result.timing`, ...).
        let results_json: Vec<serde_json::Value> = node_results
            .iter()
            .map(|r| {
                let mut j = dvt_core::artifacts::result_json(r);
                j["node"] = m
                    .graph_node(&r.unique_id)
                    .unwrap_or_else(|| serde_json::json!({"unique_id": r.unique_id}));
                j
            })
            .collect();
        let mut extra = flags.clone();
        extra["results"] = serde_json::Value::from(results_json);
        extra["schemas"] = serde_json::Value::from(schemas);
        // Boxed, as the start's: a hook's render is a large state machine.
        Box::pin(project_hooks(
            &ctx,
            "on-run-end",
            &extra,
            &BTreeSet::new(),
            &send,
        ))
        .await
        .0
    } else {
        Vec::new()
    };
    let ordered: Vec<RunResult> = start_results
        .into_iter()
        .chain(node_results)
        .chain(end_results)
        .collect();
    // Hooks that succeed are not nodes: dbt's summary counts them only when they fail.
    let count = |s: RunStatus| {
        ordered
            .iter()
            .filter(|r| r.status == s && !(r.path == "hook" && s == RunStatus::Success))
            .count()
    };
    let elapsed = started.elapsed().as_secs_f64();
    let run_results = ctx.target_dir().join("run_results.json");
    write_json_atomic(
        &run_results,
        &run_results_json(
            &ordered,
            elapsed,
            opts.args_json(threads),
            &ctx.invocation_id,
            &now(),
        ),
    )?;
    let succeeded = !cancelled
        && !ordered
            .iter()
            .any(|r| matches!(r.status, RunStatus::Error | RunStatus::Fail));
    let mut kept_staging = Vec::new();
    for staging in ctx.stagings() {
        if let Some(kept) = staging
            .finish_run(&ctx.invocation_id, succeeded, opts.keep_staging)
            .await
        {
            kept_staging.push(kept);
        }
    }
    if let Some(journal) = &ctx.journal {
        journal.close();
    }
    let summary = RunSummary {
        pass: count(RunStatus::Success) + count(RunStatus::Pass),
        warn: count(RunStatus::Warn),
        error: count(RunStatus::Error) + count(RunStatus::Fail),
        skip: count(RunStatus::Skipped),
        noop: count(RunStatus::NoOp),
        results: ordered,
        elapsed,
        cancelled,
        run_results,
        kept_staging,
    };
    send(RunEvent::RunFinished {
        summary: Box::new(summary.clone()),
    });
    Ok(summary)
}

/// The node as the run's events show it: a clone is a view of the state's relation,
/// whatever the node builds otherwise.
fn node_info(
    ctx: &RunContext,
    kind: RunKind,
    node: &dvt_core::manifest::Node,
) -> crate::run::NodeInfo {
    let mut info = ctx.node_info(node);
    if kind == RunKind::Clone {
        info.description = format!("clone of {}", node.resource_type.as_str());
    }
    info
}

/// Runs the project's `on-run-start` or `on-run-end` hooks (`kind`) on the default
/// target, in order, each recorded as dbt records it
/// (`operation.<project>.<project>-<kind>-<i>`, compiled under
/// `compiled/<project>/dbt_project.yml/hooks/`). Stops at the first failure; returns the
/// results and whether every hook succeeded.
async fn project_hooks(
    ctx: &RunContext,
    kind: &str,
    extra: &serde_json::Value,
    schemas: &BTreeSet<(String, String)>,
    send: &impl Fn(RunEvent),
) -> (Vec<RunResult>, bool) {
    let m = &ctx.manifest;
    for (target, schema) in schemas {
        let ready = async {
            let adapter = ctx.registry.adapter(target).await?;
            crate::adapter::replace::ensure_schema(&*adapter, schema).await
        };
        // A schema that cannot be created fails the node that needs it, with its error.
        if let Err(e) = ready.await {
            tracing::warn!(error = %e, target, schema, "cannot create the schema before on-run-start");
        }
    }
    // dbt's order: the root project's hooks, then each package's, packages by name.
    fn of<'p>(p: &'p dvt_core::project::ProjectConfig, kind: &str) -> &'p [String] {
        match kind {
            "on-run-start" => &p.on_run_start,
            _ => &p.on_run_end,
        }
    }
    let hooks: Vec<(&str, usize, &String)> = std::iter::once(&m.project)
        .chain(m.packages.values())
        .flat_map(|p| {
            of(p, kind)
                .iter()
                .enumerate()
                .map(|(i, text)| (p.name.as_str(), i, text))
        })
        .collect();
    let mut out = Vec::new();
    // One connection for the hooks of a kind, as dbt runs them: what one leaves in the
    // session (a temporary table) the next one reads.
    let database = Arc::new(crate::introspect::RegistryDatabase::new(Arc::clone(
        &ctx.registry,
    )));
    for (package, i, text) in hooks {
        let name = format!("{package}-{kind}-{i}");
        let started_at = now();
        let clock = Instant::now();
        let outcome: Result<String> = async {
            let (sql, logs) = m.compile_project_hook(
                text,
                package,
                extra,
                Some(Arc::clone(&database) as Arc<dyn dvt_core::jinja::Database>),
            )?;
            for message in logs {
                send(RunEvent::RunLog { message });
            }
            let file = ctx
                .target_dir()
                .join("compiled")
                .join(package)
                .join("dbt_project.yml/hooks")
                .join(format!("{name}.sql"));
            super::artifacts::write_text(&file, &sql)?;
            if !sql.is_empty() {
                database.execute(&m.default_target, &sql).await?;
            }
            Ok(sql)
        }
        .await;
        let (status, message, compiled) = match outcome {
            Ok(sql) => (
                RunStatus::Success,
                format!("{kind} hook {name}: OK"),
                Some(sql),
            ),
            Err(e) => (
                RunStatus::Error,
                format!("{}: {}", e.code(), e.message_chain()),
                None,
            ),
        };
        send(RunEvent::RunLog {
            message: match status {
                RunStatus::Success => format!("{kind} hook {name} ... [OK]"),
                _ => format!("{kind} hook {name} ... [ERROR] {message}"),
            },
        });
        let failed = status == RunStatus::Error;
        out.push(RunResult {
            unique_id: format!("operation.{package}.{name}"),
            status,
            execution_time: clock.elapsed().as_secs_f64(),
            thread_id: "main".into(),
            message: Some(message),
            rows_affected: None,
            // dbt records a hook that ran with no failures.
            failures: (!failed).then_some(0),
            compiled_code: compiled,
            relation_name: None,
            path: "hook".into(),
            target: m.default_target.clone(),
            started_at,
            compiled_at: None,
            completed_at: now(),
        });
        if failed {
            return (out, false);
        }
    }
    (out, true)
}

fn thread_name(slot: usize) -> String {
    format!("Thread-{}", slot + 1)
}

fn not_started_reason(cancel: &CancellationToken) -> String {
    if cancel.is_cancelled() {
        "skipped: the run was cancelled".into()
    } else {
        "skipped: --fail-fast stopped the run after a failure".into()
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("the node's runner panicked: {text}")
}

fn base_result(ctx: &RunContext, id: &str) -> RunResult {
    let n = &ctx.manifest.nodes[id];
    let info = ctx.node_info(n);
    RunResult {
        unique_id: id.to_owned(),
        status: RunStatus::Skipped,
        execution_time: 0.0,
        thread_id: String::new(),
        message: None,
        rows_affected: None,
        failures: None,
        compiled_code: None,
        relation_name: Some(ctx.manifest.target(&n.target).dialect().render(&n.relation)),
        path: info.path,
        target: n.target.clone(),
        started_at: String::new(),
        compiled_at: None,
        completed_at: String::new(),
    }
}

fn skipped(ctx: &RunContext, id: &str, message: String) -> RunResult {
    let mut r = base_result(ctx, id);
    r.message = Some(message);
    let t = now();
    r.started_at = t.clone();
    r.completed_at = t;
    r
}
