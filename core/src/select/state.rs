//! The methods that compare with an earlier run (`--state`): `state:`, `result:` and
//! `source_status:`.

use serde_json::Value as Json;

use super::spec::{Criterion, invalid};
use crate::error::Result;
use crate::manifest::{Manifest, State};

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

/// `state:new`, `state:old`, `state:modified[.body|.configs|.relation]`.
pub(super) fn modified(m: &Manifest, c: &Criterion, add: &mut impl FnMut(&String)) -> Result<()> {
    let state = state(m, c)?;
    let checks: &[&str] = match c.value.as_str() {
        "new" => &["new"],
        "old" => &["old"],
        "modified" => &["new", "body", "configs", "relation"],
        "modified.body" => &["body"],
        "modified.configs" => &["configs"],
        "modified.relation" => &["relation"],
        _ => {
            return Err(invalid(
                &c.raw,
                "`state:` takes `new`, `old`, `modified`, `modified.body`, `modified.configs` or `modified.relation`",
            ));
        }
    };
    for (id, n) in &m.nodes {
        let before = state.nodes.get(id);
        let hit = checks.iter().any(|check| match (*check, before) {
            ("new", None) => true,
            ("old", Some(_)) => true,
            ("body", Some(b)) => {
                b.checksum.as_deref() != Some(n.checksum(&m.project.root).1.as_str())
            }
            // The target a run builds on (`--target prod` for the state, the default in
            // development) is where, not what: as dbt compares the configs as written,
            // not the schema they resolve to.
            ("configs", Some(b)) => {
                let mut before = b.config.clone();
                if let Some(c) = before.as_object_mut() {
                    c.remove("target");
                }
                let mut now = crate::artifacts::node_config(n);
                now.remove("target");
                before != Json::Object(now)
            }
            ("relation", Some(b)) => b
                .relation
                .as_ref()
                .is_none_or(|r| r.identifier != n.relation.identifier),
            _ => false,
        });
        if hit {
            add(id);
        }
    }
    Ok(())
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
