//! The documentation website: `dvt docs generate` writes `target/index.html`, one page
//! with the project's resources in it (DVT's own page, not dbt's: descriptions, columns
//! with the catalogue's types, lineage both ways, code), and `dvt docs serve` serves the
//! target folder over HTTP, as `dbt docs serve` does.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value as Json, json};

const PAGE: &str = include_str!("docs_site.html");
const DATA_SLOT: &str = "/*DVT_DOCS_DATA*/";

/// The page for `manifest` (dbt's `manifest.json`) and `catalog` (`catalog.json`).
pub(crate) fn index_html(manifest: &Json, catalog: &Json) -> String {
    let text = serde_json::to_string(&page_data(manifest, catalog)).unwrap_or_default();
    // Inside a <script> element only `</` could end it early; `<` is never outside a
    // JSON string, where `\u003c` reads back the same.
    PAGE.replacen(DATA_SLOT, &text.replace('<', "\\u003c"), 1)
}

/// What the page shows, by unique id: nodes, sources and exposures with their columns
/// (the manifest's descriptions, the catalogue's types).
fn page_data(manifest: &Json, catalog: &Json) -> Json {
    let mut out = Map::new();
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for key in ["nodes", "functions", "sources", "exposures"] {
        for (id, n) in manifest[key].as_object().into_iter().flatten() {
            let kind = n["resource_type"].as_str().unwrap_or_default().to_owned();
            *counts.entry(kind.clone()).or_default() += 1;
            let described =
                catalog[if key == "sources" { "sources" } else { "nodes" }][id]["columns"]
                    .as_object();
            let mut columns = Map::new();
            // The catalogue's order (the relation's), then columns only described.
            let mut typed: Vec<(&String, &Json)> = described.into_iter().flatten().collect();
            typed.sort_by_key(|(_, c)| c["index"].as_u64().unwrap_or(u64::MAX));
            for (name, c) in typed {
                let described = n["columns"]
                    .as_object()
                    .and_then(|m| {
                        m.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(name))
                            .map(|(_, v)| v)
                    })
                    .and_then(|v| v["description"].as_str())
                    .unwrap_or_default();
                columns.insert(
                    name.clone(),
                    json!({"type": c["type"], "description": described}),
                );
            }
            for (name, c) in n["columns"].as_object().into_iter().flatten() {
                if !columns.keys().any(|k| k.eq_ignore_ascii_case(name)) {
                    columns.insert(
                        name.clone(),
                        json!({"type": c["data_type"], "description": c["description"]}),
                    );
                }
            }
            let label = match kind.as_str() {
                "source" => format!(
                    "{}.{}",
                    n["source_name"].as_str().unwrap_or_default(),
                    n["name"].as_str().unwrap_or_default()
                ),
                _ => match n["version"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| n["version"].as_i64().map(|v| v.to_string()))
                {
                    Some(v) => format!("{} v{v}", n["name"].as_str().unwrap_or_default()),
                    None => n["name"].as_str().unwrap_or_default().to_owned(),
                },
            };
            out.insert(
                id.clone(),
                json!({
                    "unique_id": id,
                    "label": label,
                    "resource_type": kind,
                    "package_name": n["package_name"],
                    "description": n["description"],
                    "columns": columns,
                    "depends_on": n["depends_on"]["nodes"],
                    "tags": n["tags"],
                    "raw_code": n["raw_code"],
                    "materialized": n["config"]["materialized"],
                    "target": n["dvt"]["target"],
                    "path": n["dvt"]["path"],
                    "relation_name": n["relation_name"],
                    "file": n["original_file_path"],
                }),
            );
        }
    }
    let counts = counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}{}", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(", ");
    json!({
        "project": manifest["metadata"]["project_name"],
        "generated_at": manifest["metadata"]["generated_at"],
        "counts": counts,
        "nodes": out,
    })
}

/// Serves the files below `dir` on `listener` until the process is stopped, one thread
/// per connection. Only GET and HEAD; a path leaving `dir` is 404.
pub(crate) fn serve(dir: &Path, listener: TcpListener) -> std::io::Result<()> {
    let root = dir.canonicalize()?;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let root = root.clone();
        std::thread::spawn(move || {
            let _ = answer(&root, stream);
        });
    }
    Ok(())
}

fn answer(root: &Path, mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // The headers are read and ignored: nothing in them changes the answer.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"",
            true,
        );
    }
    let Some(file) = resolve(root, target) else {
        return respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"not found\n",
            method == "GET",
        );
    };
    match std::fs::read(&file) {
        Ok(body) => respond(
            &mut stream,
            "200 OK",
            content_type(&file),
            &body,
            method == "GET",
        ),
        Err(_) => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"not found\n",
            method == "GET",
        ),
    }
}

/// The file a request target names below `root`: `/` is `index.html`; `..`, absolute
/// parts and anything resolving outside `root` (a symbolic link) name nothing.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_decode(path)?;
    let relative = decoded.trim_start_matches('/');
    let relative = if relative.is_empty() {
        "index.html"
    } else {
        relative
    };
    let rel = Path::new(relative);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let file = root.join(rel).canonicalize().ok()?;
    (file.starts_with(root) && file.is_file()).then_some(file)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("sql" | "txt" | "log" | "yml" | "yaml") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_never_leave_the_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("target")).expect("dir");
        std::fs::write(dir.path().join("target/index.html"), "x").expect("write");
        std::fs::write(dir.path().join("secret.yml"), "x").expect("write");
        let root = dir.path().join("target").canonicalize().expect("root");
        assert_eq!(resolve(&root, "/"), Some(root.join("index.html")));
        assert_eq!(
            resolve(&root, "/index.html?x=1"),
            Some(root.join("index.html"))
        );
        for bad in [
            "/../secret.yml",
            "/%2e%2e/secret.yml",
            "//etc/passwd",
            "/nope.json",
            "/%zz",
        ] {
            assert_eq!(resolve(&root, bad), None, "{bad}");
        }
    }

    #[test]
    fn the_page_data_cannot_close_its_script_element() {
        let manifest = json!({
            "metadata": {"project_name": "p", "generated_at": "now"},
            "nodes": {"model.p.m": {"resource_type": "model", "name": "m", "package_name": "p",
                "description": "</script><script>alert(1)</script>", "columns": {"id": {"description": "key"}},
                "depends_on": {"nodes": []}, "config": {"materialized": "table"}, "dvt": {}}},
            "sources": {},
        });
        let catalog =
            json!({"nodes": {"model.p.m": {"columns": {"id": {"type": "integer", "index": 1}}}}});
        let html = index_html(&manifest, &catalog);
        assert!(!html.contains("</script><script>alert"));
        let start = html.find("application/json\">").expect("data") + "application/json\">".len();
        let end = start + html[start..].find("</script>").expect("end");
        let data: Json = serde_json::from_str(&html[start..end]).expect("json");
        assert_eq!(
            data["nodes"]["model.p.m"]["description"],
            "</script><script>alert(1)</script>"
        );
        assert_eq!(
            data["nodes"]["model.p.m"]["columns"]["id"]["type"],
            "integer"
        );
        assert_eq!(
            data["nodes"]["model.p.m"]["columns"]["id"]["description"],
            "key"
        );
        assert_eq!(data["counts"], "1 model");
    }
}
