//! The methods that compare with an earlier run (`--state`): `state:`, `result:` and
//! `source_status:`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;

use super::spec::{Criterion, invalid};
use crate::error::Result;
use crate::manifest::{Manifest, Node, ResourceType, State, StateNode};

fn state<'m>(m: &'m Manifest, c: &Criterion) -> Result<&'m State> {
    m.state.as_ref().ok_or_else(|| {
        invalid(
            &c.raw,
            &format!(
                "`{}:` compares with an earlier run: give `--state <folder of its manifest.json>`",
                c.method
            ),
        )
    })
}

/// What a `state:` value asks of each node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    New,
    Old,
    /// `modified`: anything below, or new.
    Modified,
    Unmodified,
    Body,
    Configs,
    Relation,
    PersistedDescriptions,
    Macros,
    Contract,
}

/// `state:new`, `state:old`, `state:modified[.body|.configs|.relation|.macros|.contract|
/// .persisted_descriptions]`, `state:unmodified`, with dbt-core's rules: a node the
/// state lacks counts as modified in every sense; `modified` also takes a moved file
/// (`fqn`), a changed `access`, `latest_version` or `deprecation_date`, and a change to a
/// macro the node calls, directly or through other macros. Sources and exposures are
/// compared on what dbt compares for them (where they are, their `fqn`; an exposure's
/// owner, type, url, maturity, label, description and what it reads).
pub(super) fn modified(
    m: &Manifest,
    c: &Criterion,
    add: &mut impl FnMut(&String),
    notes: &mut Vec<super::Note>,
) -> Result<()> {
    let state = state(m, c)?;
    let check = match c.value.as_str() {
        "new" => Check::New,
        "old" => Check::Old,
        "modified" => Check::Modified,
        "unmodified" => Check::Unmodified,
        "modified.body" => Check::Body,
        "modified.configs" => Check::Configs,
        "modified.relation" => Check::Relation,
        "modified.persisted_descriptions" => Check::PersistedDescriptions,
        "modified.macros" => Check::Macros,
        "modified.contract" => Check::Contract,
        _ => {
            return Err(invalid(
                &c.raw,
                "`state:` takes `new`, `old`, `modified`, `unmodified`, `modified.body`, `modified.configs`, `modified.relation`, `modified.persisted_descriptions`, `modified.macros` or `modified.contract`",
            ));
        }
    };
    let macros = MacroChanges::new(m, state);
    // A contracted model the state had and this project no longer builds (deleted,
    // renamed or disabled) breaks its readers too; dbt forgives a version past its
    // deprecation date.
    if matches!(check, Check::Modified | Check::Contract) {
        for (id, b) in &state.nodes {
            let contracted = b.entry["resource_type"] == "model"
                && crate::manifest::contract_enforced(b.entry["config"].get("contract"));
            let deprecated = b.entry["deprecation_date"]
                .as_str()
                .and_then(crate::manifest::parse_instant)
                .is_some_and(|at| at < chrono::Utc::now());
            if !contracted || deprecated || m.nodes.contains_key(id) {
                continue;
            }
            let file = b.entry["original_file_path"].as_str().unwrap_or_default();
            report_breaking_change(
                notes,
                id,
                crate::error::Location::file(file),
                !b.entry["version"].is_null(),
                &["the contracted model was deleted, renamed or disabled".to_owned()],
            )?;
        }
    }
    for (id, n) in &m.nodes {
        let before = state.nodes.get(id);
        // dbt checks a contract the state enforced for breaking changes while it
        // compares contracts: a warning for an unversioned model, an error for a version.
        if let (Check::Modified | Check::Contract, Some(b)) = (check, before) {
            let changes = breaking_changes(n, b);
            if !changes.is_empty() {
                let location = crate::error::Location::file(
                    n.patch_path.as_ref().unwrap_or(&n.original_file_path),
                );
                report_breaking_change(notes, id, location, n.version.is_some(), &changes)?;
            }
        }
        let hit = match (check, before) {
            (Check::New, before) => before.is_none(),
            (Check::Old, before) => before.is_some(),
            (Check::Macros, _) => macros.reaches(&n.parsed_macro_deps()),
            (_, None) => check != Check::Unmodified,
            (Check::Modified | Check::Unmodified, Some(b)) => {
                let changed = !same_body(m, n, b)
                    || !same_configs(state, n, b)
                    || !same_persisted_descriptions(n, b)
                    || b.entry["fqn"] != Json::from(n.fqn.clone())
                    || !same_relation(n, b)
                    || !same_contract(n, b)
                    || !same_ref_representation(n, b)
                    || macros.reaches(&n.parsed_macro_deps());
                changed == (check == Check::Modified)
            }
            (Check::Body, Some(b)) => !same_body(m, n, b),
            (Check::Configs, Some(b)) => !same_configs(state, n, b),
            (Check::Relation, Some(b)) => !same_relation(n, b),
            (Check::PersistedDescriptions, Some(b)) => !same_persisted_descriptions(n, b),
            (Check::Contract, Some(b)) => !same_contract(n, b),
        };
        if hit {
            add(id);
        }
    }
    // Sources and exposures: dbt-core counts a new one as not modified (only `new`).
    let others = m
        .sources
        .keys()
        .map(|id| (id, crate::artifacts::source_json(m, id)))
        .chain(m.exposures.iter().map(|(id, e)| (id, e.to_json(m))));
    for (id, now) in others {
        let before = state.others.get(id);
        let differs = |keys: &[&str]| before.is_some_and(|b| keys.iter().any(|k| b[*k] != now[*k]));
        let exposure = now["resource_type"] == "exposure";
        let changed = if exposure {
            differs(&[
                "fqn",
                "type",
                "owner",
                "maturity",
                "url",
                "description",
                "label",
            ]) || before.is_some_and(|b| {
                let set = |j: &Json| -> BTreeSet<String> {
                    j["depends_on"]["nodes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                };
                set(b) != set(&now)
            })
        } else {
            differs(&["database", "schema", "identifier", "fqn", "loaded_at_field"])
        };
        let hit = match check {
            Check::New => before.is_none(),
            Check::Old => before.is_some(),
            Check::Modified => changed,
            Check::Unmodified => !changed,
            Check::Relation if !exposure => differs(&["database", "schema", "identifier"]),
            _ => false,
        };
        if hit {
            add(id);
        }
    }
    Ok(())
}

fn same_body(m: &Manifest, n: &Node, b: &StateNode) -> bool {
    b.checksum.as_deref() == Some(n.checksum(&m.project.root).1.as_str())
}

/// The target a run builds on (`--target prod` for the state, the default in
/// development) is where, not what: as dbt compares the configs as written, not the
/// schema they resolve to. A dbt-core manifest's `config` lists every config with its
/// default, so against one the configs as written (its `unrendered_config`) compare,
/// with the materialization each side resolved.
fn same_configs(state: &State, n: &Node, b: &StateNode) -> bool {
    let mut now = crate::artifacts::node_config(n);
    now.remove("target");
    if state.by_dvt {
        let mut before = b.config.clone();
        if let Some(c) = before.as_object_mut() {
            c.remove("target");
        }
        return before == Json::Object(now);
    }
    let materialized = now.remove("materialized");
    let mut before = b.entry["unrendered_config"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    before.remove("materialized");
    materialized.as_ref() == b.config.get("materialized") && before == now
}

fn same_relation(n: &Node, b: &StateNode) -> bool {
    b.relation
        .as_ref()
        .is_some_and(|r| r.identifier == n.relation.identifier)
}

/// Descriptions count only where `persist_docs` writes them to the database.
fn same_persisted_descriptions(n: &Node, b: &StateNode) -> bool {
    let persist = |key: &str| {
        n.config
            .get("persist_docs")
            .and_then(|p| p.get(key))
            .and_then(Json::as_bool)
            .unwrap_or(false)
    };
    if persist("relation") && b.entry["description"].as_str().unwrap_or("") != n.description {
        return false;
    }
    if persist("columns") {
        let described = |columns: Option<&serde_json::Map<String, Json>>| {
            columns
                .into_iter()
                .flatten()
                .map(|(name, c)| {
                    (
                        name.clone(),
                        c["description"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect::<BTreeMap<_, _>>()
        };
        if described(b.entry["columns"].as_object()) != described(Some(&n.columns)) {
            return false;
        }
    }
    true
}

/// dbt-core's contract comparison, made on the columns themselves rather than on its
/// checksum of them (which only dbt-core writes): enforced on neither side is the same;
/// otherwise the columns' names, types and constraints, and for materializations that
/// build the constraints, the materialization and the model's own constraints.
fn same_contract(n: &Node, b: &StateNode) -> bool {
    let before = crate::manifest::contract_enforced(b.entry["config"].get("contract"));
    let now = n.contract_enforced();
    if !before && !now {
        return true;
    }
    if before != now {
        return false;
    }
    let shape = |columns: Option<&serde_json::Map<String, Json>>| {
        columns
            .into_iter()
            .flatten()
            .map(|(name, c)| {
                let constraints = constraints_of(&c["constraints"], false);
                (name.clone(), (c["data_type"].clone(), constraints))
            })
            .collect::<BTreeMap<_, _>>()
    };
    let materialized_before = b.entry["config"]["materialized"].as_str().unwrap_or("");
    let materialized_now = n.materialized.as_str();
    let enforcing = builds_constraints(materialized_now);
    shape(b.entry["columns"].as_object()) == shape(Some(&n.columns))
        && builds_constraints(materialized_before) == enforcing
        && (!enforcing
            || (materialized_before == materialized_now
                && constraints_of(&b.entry["constraints"], true)
                    == constraints_of(&Json::Array(n.constraints.clone()), true)))
}

/// The materializations whose DDL carries the constraints (dbt's
/// `materialization_enforces_constraints`).
fn builds_constraints(materialized: &str) -> bool {
    matches!(materialized, "table" | "incremental")
}

/// Constraints in dbt's full shape, so that written defaults and omitted ones compare
/// equal (a manifest holds the full shape, a property file what was written).
fn constraints_of(list: &Json, model_level: bool) -> Vec<Json> {
    crate::parse::constraints_shape(
        list.as_array().map(Vec::as_slice).unwrap_or(&[]),
        model_level,
    )
}

/// A breaking change to model `id`'s contract: an error for a versioned model, else a
/// DVT009 warning (once, however many criteria compare contracts).
fn report_breaking_change(
    notes: &mut Vec<super::Note>,
    id: &str,
    location: crate::error::Location,
    versioned: bool,
    changes: &[String],
) -> Result<()> {
    let changes = changes.join("; ");
    if versioned {
        return Err(crate::error::Error::ContractBreakingChange {
            location,
            node: id.to_owned(),
            changes,
        });
    }
    let message = format!(
        "{location}: breaking change to the enforced contract of unversioned model `{id}` (compared with `--state`): {changes}"
    );
    if !notes.iter().any(|note| note.message == message) {
        notes.push(super::Note {
            code: Some("DVT009"),
            message,
        });
    }
    Ok(())
}

/// What breaks readers of a model whose contract the state enforced, in dbt-core's
/// terms: enforcement removed, columns removed, column types changed, a constraint the
/// database enforced removed (from a column or the model; DVT's databases enforce every
/// type, see `crate::constraints`), or a materialization that built constraints changed
/// to one that does not.
fn breaking_changes(n: &Node, b: &StateNode) -> Vec<String> {
    if !crate::manifest::contract_enforced(b.entry["config"].get("contract")) {
        return Vec::new();
    }
    if !n.contract_enforced() {
        return vec!["contract enforcement was removed".into()];
    }
    let label = |c: &Json| {
        c["name"]
            .as_str()
            .unwrap_or_else(|| crate::constraints::kind(c))
            .to_owned()
    };
    let materialized_before = b.entry["config"]["materialized"].as_str().unwrap_or("");
    let built_before = builds_constraints(materialized_before);
    let mut out = Vec::new();
    let before = b.entry["columns"].as_object().cloned().unwrap_or_default();
    let removed: Vec<&str> = before
        .keys()
        .filter(|c| !n.columns.contains_key(*c))
        .map(String::as_str)
        .collect();
    if !removed.is_empty() {
        out.push(format!("columns removed: {}", removed.join(", ")));
    }
    let retyped: Vec<String> = before
        .iter()
        .filter_map(|(name, col)| {
            let now = n.columns.get(name)?;
            let (was, is) = (&col["data_type"], &now["data_type"]);
            (was != is).then(|| {
                let text = |j: &Json| j.as_str().unwrap_or("none").to_owned();
                format!("{name} ({} -> {})", text(was), text(is))
            })
        })
        .collect();
    if !retyped.is_empty() {
        out.push(format!("column types changed: {}", retyped.join(", ")));
    }
    let mut column_constraints_existed = false;
    let mut dropped = Vec::new();
    for (name, col) in &before {
        let was = constraints_of(&col["constraints"], false);
        column_constraints_existed |= !was.is_empty();
        let Some(now) = n.columns.get(name) else {
            continue;
        };
        let is = constraints_of(&now["constraints"], false);
        if built_before {
            for c in was.iter().filter(|c| !is.contains(c)) {
                dropped.push(format!("'{}' constraint on column {name}", label(c)));
            }
        }
    }
    if !dropped.is_empty() {
        out.push(format!(
            "enforced column constraints removed: {}",
            dropped.join(", ")
        ));
    }
    let model_before = constraints_of(&b.entry["constraints"], true);
    let model_now = constraints_of(&Json::Array(n.constraints.clone()), true);
    if built_before {
        let dropped: Vec<String> = model_before
            .iter()
            .filter(|c| !model_now.contains(c))
            .map(|c| format!("'{}' constraint on columns {}", label(c), c["columns"]))
            .collect();
        if !dropped.is_empty() {
            out.push(format!(
                "enforced model constraints removed: {}",
                dropped.join(", ")
            ));
        }
    }
    if built_before
        && !builds_constraints(n.materialized.as_str())
        && (!model_before.is_empty() || column_constraints_existed)
    {
        out.push(format!(
            "materialization changed with enforced constraints: {materialized_before} -> {}",
            n.materialized.as_str()
        ));
    }
    out
}

/// What `ref()` to a model may depend on: its latest version, access, deprecation date.
fn same_ref_representation(n: &Node, b: &StateNode) -> bool {
    if n.resource_type != ResourceType::Model {
        return true;
    }
    let access = n
        .config
        .get("access")
        .cloned()
        .unwrap_or_else(|| Json::from("protected"));
    let before_access = match &b.entry["access"] {
        Json::Null => Json::from("protected"),
        a => a.clone(),
    };
    before_access == access
        && b.entry["latest_version"] == serde_json::to_value(&n.latest_version).unwrap_or_default()
        && b.entry["deprecation_date"]
            == serde_json::to_value(&n.deprecation_date).unwrap_or_default()
}

/// The macros whose text differs from the state's (new, changed or removed), with
/// what each macro calls, to follow a node's calls through macros to a changed one.
struct MacroChanges {
    changed: BTreeSet<String>,
    calls: BTreeMap<String, Vec<String>>,
}

impl MacroChanges {
    fn new(m: &Manifest, state: &State) -> MacroChanges {
        let adapter = m.target(&m.default_target).adapter_type().name();
        let defs = m.jinja.macro_dependencies(adapter);
        let mut changed = BTreeSet::new();
        if let Some(before) = &state.macros {
            // A dbt-core manifest's own macros (`dbt`, `dbt_postgres`, ...) are not
            // DVT's built-ins: only the project's and its packages' compare.
            let compared = |package: &str| {
                state.by_dvt || package == m.project.name || m.packages.contains_key(package)
            };
            for (def, _) in defs.iter().filter(|(d, _)| compared(&d.package)) {
                let id = def.unique_id();
                if before.get(&id) != Some(&def.sql) {
                    changed.insert(id);
                }
            }
            let now: BTreeSet<String> = defs.iter().map(|(d, _)| d.unique_id()).collect();
            for id in before.keys().filter(|id| !now.contains(*id)) {
                let package = id.split('.').nth(1).unwrap_or("");
                if compared(package) {
                    changed.insert(id.clone());
                }
            }
        }
        let calls = defs
            .into_iter()
            .map(|(def, deps)| (def.unique_id(), deps))
            .collect();
        MacroChanges { changed, calls }
    }

    /// Whether a changed macro is among `macros` or what they call, at any depth.
    fn reaches(&self, macros: &[String]) -> bool {
        if self.changed.is_empty() {
            return false;
        }
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = macros.iter().collect();
        while let Some(id) = todo.pop() {
            if !seen.insert(id) {
                continue;
            }
            if self.changed.contains(id) {
                return true;
            }
            todo.extend(self.calls.get(id).into_iter().flatten());
        }
        false
    }
}

/// `result:<status>`: the nodes whose result in the state's `run_results.json` had that
/// status (`success`, `error`, `fail`, `warn`, `pass`, `skipped`).
pub(super) fn result(m: &Manifest, c: &Criterion, add: &mut impl FnMut(&String)) -> Result<()> {
    let Some(results) = &state(m, c)?.results else {
        return Err(invalid(
            &c.raw,
            "`result:` reads the earlier run's results: the `--state` folder has no run_results.json",
        ));
    };
    for (id, status) in results {
        if *status == c.value && (m.nodes.contains_key(id) || m.sources.contains_key(id)) {
            add(id);
        }
    }
    Ok(())
}

/// `source_status:fresher`: the sources loaded since the state's `sources.json` was
/// written, by this project's own `sources.json` (`dvt source freshness` first).
pub(super) fn source_status(
    m: &Manifest,
    c: &Criterion,
    add: &mut impl FnMut(&String),
) -> Result<()> {
    if c.value != "fresher" {
        return Err(invalid(&c.raw, "`source_status:` takes `fresher`"));
    }
    let state = state(m, c)?;
    let (Some(before), Some(now)) = (&state.sources, &state.sources_current) else {
        return Err(invalid(
            &c.raw,
            "`source_status:fresher` compares two freshness runs: the `--state` folder and this project's target path each need a sources.json (`dvt source freshness`)",
        ));
    };
    for (id, loaded) in &now.loaded {
        let newer = before.loaded.get(id).is_none_or(|then| loaded > then);
        if newer
            && !before.failed.contains(id)
            && !now.failed.contains(id)
            && m.sources.contains_key(id)
        {
            add(id);
        }
    }
    Ok(())
}
