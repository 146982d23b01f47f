//! A YAML loader that keeps what serde-based loaders throw away: the position of
//! every node and the exact text of every scalar.
//!
//! Errors in project files must point at the line that is wrong, and searching the
//! text for a name after parsing finds the wrong line as soon as a name appears
//! twice. Connection values in `profiles.yml` must keep their text as written
//! (`password: 1.10` is not the number 1.1). So the document is built from the
//! events of [`yaml_rust2`]'s parser into a [`Yaml`](crate::yaml::Yaml) tree, and converted to JSON
//! only afterwards, either resolving plain scalars with the YAML 1.2 core schema
//! ([`Yaml::to_json`](crate::yaml::Yaml::to_json)) or keeping every scalar as its text ([`Yaml::to_json_text`](crate::yaml::Yaml::to_json_text)).
//!
//! Anchors, aliases and the merge key (`<<: *defaults`, `<<: [*a, *b]`) are
//! expanded while building, so callers never see them. Only the first document of a
//! stream is read. Every failure is an [`Error::Yaml`](crate::error::Error::Yaml) (`DVT102`) with a line and
//! column.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::{Map, Number, Value as Json};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use crate::error::{Error, Location, Result, small};

/// Deepest nesting accepted. Converting, deserializing and dropping a tree recurse,
/// so an unbounded depth (for example from a file of ten thousand `[`) would
/// overflow the stack instead of failing with a located error.
const MAX_DEPTH: usize = 128;

/// Most nodes a document may expand to. Aliases copy their anchored node, so a
/// small file of nested aliases ("billion laughs") could otherwise exhaust memory.
const MAX_NODES: usize = 1_000_000;

/// The YAML tag namespace that `!!` abbreviates.
const CORE_TAG_HANDLE: &str = "tag:yaml.org,2002:";

/// A YAML node with its position in the source.
#[derive(Debug, Clone, PartialEq)]
pub struct Yaml {
    /// What the node holds.
    pub value: YamlValue,
    /// 1-based line where the node starts.
    pub line: u32,
    /// 1-based column (in characters) where the node starts.
    pub column: u32,
}

/// The content of a [`Yaml`] node.
#[derive(Debug, Clone, PartialEq)]
pub enum YamlValue {
    /// A plain empty scalar, `~`, `null`, `Null` or `NULL` (or a `!!null` scalar).
    Null,
    /// Any other scalar.
    Scalar {
        /// The scalar's text as written: the characters of a plain scalar, the
        /// unescaped content of a quoted or block scalar.
        text: String,
        /// Whether the scalar is a string whatever its text looks like: quoted, a
        /// block scalar (`|`, `>`), or tagged `!!str`.
        quoted: bool,
    },
    /// A sequence.
    Seq(Vec<Yaml>),
    /// A mapping as (key, value) pairs in source order, merge keys expanded. Keys
    /// are scalars and unique.
    Map(Vec<(Yaml, Yaml)>),
}

/// One step of a path into a [`Yaml`] tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathSeg<'a> {
    /// The value of a mapping key.
    Key(&'a str),
    /// An item of a sequence (0-based).
    Index(usize),
}

impl Yaml {
    fn new(value: YamlValue, line: u32, column: u32) -> Self {
        Yaml {
            value,
            line,
            column,
        }
    }

    /// The location of this node in `file`.
    pub fn location(&self, file: &Path) -> Location {
        Location {
            file: file.to_path_buf(),
            line: Some(self.line),
            column: Some(self.column),
        }
    }

    /// A [`Error::Yaml`] pointing at this node.
    pub fn error(&self, file: &Path, message: impl Into<String>) -> Error {
        Error::Yaml {
            location: self.location(file),
            message: message.into(),
        }
    }

    /// The text of a scalar; `None` for null, sequences and mappings.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            YamlValue::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether the node is null.
    pub fn is_null(&self) -> bool {
        matches!(self.value, YamlValue::Null)
    }

    /// The (key, value) pairs of a mapping; empty for any other node.
    pub fn entries(&self) -> &[(Yaml, Yaml)] {
        match &self.value {
            YamlValue::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The key node and value node of `key` in a mapping.
    pub fn entry(&self, key: &str) -> Option<(&Yaml, &Yaml)> {
        self.entries()
            .iter()
            .find(|(k, _)| k.key_text() == key)
            .map(|(k, v)| (k, v))
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The text a mapping key stands for, as it appears as a JSON object key.
    pub fn key_text(&self) -> &str {
        match &self.value {
            YamlValue::Scalar { text, .. } => text,
            // Keys are checked to be scalars while building; only null remains.
            _ => "null",
        }
    }

    /// The node at `path`, if every step exists.
    pub fn at_path(&self, path: &[PathSeg<'_>]) -> Option<&Yaml> {
        path.iter().try_fold(self, |node, seg| node.step(*seg))
    }

    /// The location of the deepest node along `path` that exists (this node at
    /// worst). Missing fields are reported by serde on their parent, so the parent
    /// is the right place to point at.
    pub fn locate(&self, file: &Path, path: &[PathSeg<'_>]) -> Location {
        let mut node = self;
        for seg in path {
            match node.step(*seg) {
                Some(next) => node = next,
                None => break,
            }
        }
        node.location(file)
    }

    fn step(&self, seg: PathSeg<'_>) -> Option<&Yaml> {
        match (seg, &self.value) {
            (PathSeg::Key(key), YamlValue::Map(_)) => self.get(key),
            (PathSeg::Index(i), YamlValue::Seq(items)) => items.get(i),
            _ => None,
        }
    }

    /// The node as JSON, resolving plain scalars with the YAML 1.2 core schema:
    /// null, booleans (`true`, `True`, `TRUE`, ...), integers (also `0x` and `0o`)
    /// and floats; everything else, and every quoted scalar, is a string. Values
    /// JSON cannot hold (`.inf`, `.nan`, integers beyond 64 bits) keep their text.
    pub fn to_json(&self) -> Json {
        self.convert(&|text, quoted| {
            if quoted {
                Json::String(text.to_owned())
            } else {
                resolve_plain(text)
            }
        })
    }

    /// The node as JSON with every scalar a string of its text as written; only
    /// [`YamlValue::Null`] becomes JSON null.
    pub fn to_json_text(&self) -> Json {
        self.convert(&|text, _| Json::String(text.to_owned()))
    }

    fn convert(&self, scalar: &dyn Fn(&str, bool) -> Json) -> Json {
        match &self.value {
            YamlValue::Null => Json::Null,
            YamlValue::Scalar { text, quoted } => scalar(text, *quoted),
            YamlValue::Seq(items) => Json::Array(items.iter().map(|i| i.convert(scalar)).collect()),
            YamlValue::Map(entries) => Json::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text().to_owned(), v.convert(scalar)))
                    .collect::<Map<_, _>>(),
            ),
        }
    }

    /// Deserializes the node (converted with [`Yaml::to_json`]) into `T`. A type
    /// error names the offending node's location and the path to it, for example
    /// `models[0].columns: invalid type: ...`.
    pub fn deserialize<T: DeserializeOwned>(&self, file: &Path) -> Result<T> {
        serde_path_to_error::deserialize(self.to_json()).map_err(|err| {
            let path = err.path();
            let segs: Vec<PathSeg<'_>> = path
                .iter()
                .map_while(|seg| match seg {
                    serde_path_to_error::Segment::Seq { index } => Some(PathSeg::Index(*index)),
                    serde_path_to_error::Segment::Map { key }
                    | serde_path_to_error::Segment::Enum { variant: key } => {
                        Some(PathSeg::Key(key))
                    }
                    serde_path_to_error::Segment::Unknown => None,
                })
                .collect();
            let message = if segs.is_empty() {
                err.inner().to_string()
            } else {
                format!("{path}: {}", err.inner())
            };
            Error::Yaml {
                location: self.locate(file, &segs),
                message,
            }
        })
    }
}

/// Parses `text` (the contents of `file`) into a [`Yaml`] tree. An empty document
/// is [`YamlValue::Null`]; of several documents only the first is read.
pub fn parse(file: &Path, text: &str) -> Result<Yaml> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder {
        file,
        stack: Vec::new(),
        anchors: BTreeMap::new(),
        nodes: 0,
        root: None,
    };
    // Whether the last node read is a block scalar (`|`, `>`), and where reading ended.
    let mut last_is_block = false;
    let end = loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| scan_error(file, text, &e))?;
        let (line, column) = position(&mark);
        match event {
            Event::StreamEnd => break mark.index(),
            Event::DocumentEnd if builder.root.is_some() => break mark.index(),
            Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => {}
            Event::Scalar(text, style, anchor, tag) => {
                last_is_block = matches!(style, TScalarStyle::Literal | TScalarStyle::Folded);
                let node = Yaml::new(scalar(text, style, tag.as_ref()), line, column);
                builder.count(1, &node)?;
                builder.complete(Built::leaf(node), anchor)?;
            }
            Event::Alias(id) => {
                last_is_block = false;
                let Some(anchored) = builder.anchors.get(&id) else {
                    return Err(Yaml::new(YamlValue::Null, line, column)
                        .error(file, "an alias cannot refer to the node that contains it"));
                };
                let mut copy = anchored.clone();
                // The copy's own position is the alias: an error about the value as
                // a whole belongs where it is used, inner errors where they are written.
                copy.node.line = line;
                copy.node.column = column;
                if builder.stack.len() + copy.height > MAX_DEPTH {
                    return Err(copy.node.error(file, too_deep()));
                }
                builder.count(copy.size, &copy.node)?;
                builder.complete(copy, 0)?;
            }
            Event::SequenceStart(anchor, _) => {
                last_is_block = false;
                builder.open(FrameKind::Seq(Vec::new()), anchor, line, column)?;
            }
            Event::MappingStart(anchor, _) => {
                last_is_block = false;
                let kind = FrameKind::Map {
                    entries: Vec::new(),
                    key: None,
                };
                builder.open(kind, anchor, line, column)?;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = builder.stack.pop() else {
                    return Err(Yaml::new(YamlValue::Null, line, column)
                        .error(file, "unbalanced collection end"));
                };
                let value = match frame.kind {
                    FrameKind::Seq(items) => YamlValue::Seq(items),
                    FrameKind::Map { entries, .. } => YamlValue::Map(finish_map(file, entries)?),
                };
                let built = Built {
                    node: Yaml::new(value, frame.line, frame.column),
                    size: frame.size,
                    height: frame.height,
                };
                builder.complete(built, frame.anchor)?;
            }
        }
    };
    let mut root = builder
        .root
        .unwrap_or_else(|| Yaml::new(YamlValue::Null, 1, 1));
    // A block scalar that runs to the end of a file without a final line break has none
    // to keep (YAML's clip and keep chomping keep only a break that is there, as
    // PyYAML reads it); the scanner adds one.
    if last_is_block
        && !text.ends_with('\n')
        && end >= text.chars().count()
        && let Some(last) = last_scalar_text(&mut root)
        && last.ends_with('\n')
    {
        last.pop();
    }
    Ok(root)
}

/// The text of the scalar read last (the last item or value, all the way down).
fn last_scalar_text(node: &mut Yaml) -> Option<&mut String> {
    match &mut node.value {
        YamlValue::Scalar { text, .. } => Some(text),
        YamlValue::Seq(items) => items.last_mut().and_then(last_scalar_text),
        YamlValue::Map(entries) => entries.last_mut().and_then(|(_, v)| last_scalar_text(v)),
        YamlValue::Null => None,
    }
}

/// Parses `text` and deserializes it into `T` (see [`Yaml::deserialize`]).
pub fn from_yaml<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T> {
    parse(file, text)?.deserialize(file)
}

/// Like [`from_yaml`], also returning the tree, so that callers can point at the
/// nodes of what they validate themselves (with [`Yaml::locate`]).
pub fn from_yaml_with_tree<T: DeserializeOwned>(file: &Path, text: &str) -> Result<(T, Yaml)> {
    let tree = parse(file, text)?;
    let value = tree.deserialize(file)?;
    Ok((value, tree))
}

/// A finished node with what the limits need to know about it.
#[derive(Debug, Clone)]
struct Built {
    node: Yaml,
    /// Nodes in the subtree.
    size: usize,
    /// Levels below the node (0 for a scalar).
    height: usize,
}

impl Built {
    fn leaf(node: Yaml) -> Self {
        Built {
            node,
            size: 1,
            height: 0,
        }
    }
}

/// A collection being read.
struct Frame {
    line: u32,
    column: u32,
    anchor: usize,
    size: usize,
    height: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Yaml>),
    Map {
        entries: Vec<Entry>,
        /// The key read, waiting for its value.
        key: Option<Yaml>,
    },
}

/// An item of a mapping before merge keys are expanded.
enum Entry {
    Pair(Yaml, Yaml),
    /// The value of a `<<` key.
    Merge(Yaml),
}

struct Builder<'a> {
    file: &'a Path,
    stack: Vec<Frame>,
    /// Anchored nodes by the parser's anchor id.
    anchors: BTreeMap<usize, Built>,
    nodes: usize,
    root: Option<Yaml>,
}

impl Builder<'_> {
    fn open(&mut self, kind: FrameKind, anchor: usize, line: u32, column: u32) -> Result<()> {
        let at = Yaml::new(YamlValue::Null, line, column);
        if self.stack.len() >= MAX_DEPTH {
            return Err(at.error(self.file, too_deep()));
        }
        self.count(1, &at)?;
        self.stack.push(Frame {
            line,
            column,
            anchor,
            size: 1,
            height: 0,
            kind,
        });
        Ok(())
    }

    fn count(&mut self, size: usize, at: &Yaml) -> Result<()> {
        self.nodes = self.nodes.saturating_add(size);
        if self.nodes > MAX_NODES {
            return Err(at.error(
                self.file,
                format!("the document expands to more than {MAX_NODES} nodes"),
            ));
        }
        Ok(())
    }

    /// Hands a finished node to the collection being read, or makes it the root.
    fn complete(&mut self, built: Built, anchor: usize) -> Result<()> {
        if anchor != 0 {
            self.anchors.insert(anchor, built.clone());
        }
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(built.node);
            return Ok(());
        };
        frame.size = frame.size.saturating_add(built.size);
        frame.height = frame.height.max(built.height + 1);
        match &mut frame.kind {
            FrameKind::Seq(items) => items.push(built.node),
            FrameKind::Map { entries, key } => match key.take() {
                Some(k) if is_merge_key(&k) => entries.push(Entry::Merge(built.node)),
                Some(k) => entries.push(Entry::Pair(k, built.node)),
                None => match built.node.value {
                    YamlValue::Null | YamlValue::Scalar { .. } => {
                        // The parser marks a block mapping one column past its first
                        // key; the first key is where a reader looks for the mapping.
                        if entries.is_empty() {
                            frame.line = built.node.line;
                            frame.column = built.node.column;
                        }
                        *key = Some(built.node);
                    }
                    YamlValue::Seq(_) | YamlValue::Map(_) => {
                        return Err(built.node.error(self.file, "mapping keys must be scalars"));
                    }
                },
            },
        }
        Ok(())
    }
}

fn is_merge_key(key: &Yaml) -> bool {
    matches!(&key.value, YamlValue::Scalar { text, quoted: false } if text == "<<")
}

/// Checks keys for duplicates and expands merge keys. Keys written in the mapping
/// win over merged ones, and among merged mappings the earlier wins (YAML's merge
/// key convention, as PyYAML and so dbt apply it).
fn finish_map(file: &Path, entries: Vec<Entry>) -> Result<Vec<(Yaml, Yaml)>> {
    let mut first_line: BTreeMap<String, u32> = BTreeMap::new();
    for entry in &entries {
        if let Entry::Pair(key, _) = entry {
            let text = key.key_text();
            if let Some(line) = first_line.get(text) {
                return Err(key.error(
                    file,
                    format!("duplicate key `{text}` (first defined on line {line})"),
                ));
            }
            first_line.insert(text.to_owned(), key.line);
        }
    }
    let mut taken: BTreeSet<String> = first_line.into_keys().collect();
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        match entry {
            Entry::Pair(key, value) => out.push((key, value)),
            Entry::Merge(value) => {
                let sources = match value.value {
                    YamlValue::Map(pairs) => vec![pairs],
                    YamlValue::Seq(items) => items
                        .into_iter()
                        .map(|item| match item.value {
                            YamlValue::Map(pairs) => Ok(pairs),
                            _ => Err(item.error(file, "`<<` merges only mappings")),
                        })
                        .collect::<Result<_>>()?,
                    _ => {
                        return Err(value.error(
                            file,
                            "the value of `<<` must be a mapping or a list of mappings",
                        ));
                    }
                };
                for (key, value) in sources.into_iter().flatten() {
                    if taken.insert(key.key_text().to_owned()) {
                        out.push((key, value));
                    }
                }
            }
        }
    }
    Ok(out)
}

fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> YamlValue {
    let core_tag = tag
        .filter(|t| t.handle == CORE_TAG_HANDLE)
        .map(|t| t.suffix.as_str());
    let quoted = match core_tag {
        Some("str") => true,
        // An explicit type tag asks for resolution even of a quoted scalar.
        Some("null" | "bool" | "int" | "float") => false,
        _ => style != TScalarStyle::Plain,
    };
    if !quoted && (core_tag == Some("null") || is_null_text(&text)) {
        YamlValue::Null
    } else {
        YamlValue::Scalar { text, quoted }
    }
}

fn is_null_text(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A plain scalar resolved with the YAML 1.2 core schema.
fn resolve_plain(text: &str) -> Json {
    match text {
        "true" | "True" | "TRUE" => return Json::Bool(true),
        "false" | "False" | "FALSE" => return Json::Bool(false),
        _ => {}
    }
    let string = || Json::String(text.to_owned());
    if let Some(hex) = text.strip_prefix("0x") {
        return match u64::from_str_radix(hex, 16) {
            Ok(n) if hex.bytes().all(|b| b.is_ascii_hexdigit()) => Json::from(n),
            _ => string(),
        };
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return match u64::from_str_radix(oct, 8) {
            Ok(n) if oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) => Json::from(n),
            _ => string(),
        };
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.parse::<i64>() {
            return Json::from(n);
        }
        return text.parse::<u64>().map_or_else(|_| string(), Json::from);
    }
    if is_core_float(digits) {
        if let Ok(f) = text.parse::<f64>()
            && let Some(n) = Number::from_f64(f)
        {
            return Json::Number(n);
        }
        return string();
    }
    string()
}

/// Whether `s` (sign removed) matches the core schema's float forms
/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?`. The special
/// values (`.inf`, `.nan`) stay strings, as JSON has no number for them.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (mantissa, None),
    };
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac {
        None => !int.is_empty() && all_digits(int),
        Some(frac) => all_digits(int) && all_digits(frac) && !(int.is_empty() && frac.is_empty()),
    };
    let exponent_ok = match exponent {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && all_digits(e)
        }
    };
    mantissa_ok && exponent_ok
}

/// 1-based line and column of a parser mark (the parser counts columns from 0).
fn position(mark: &Marker) -> (u32, u32) {
    (
        small(mark.line().max(1)),
        small(mark.col().saturating_add(1)),
    )
}

fn scan_error(file: &Path, text: &str, err: &ScanError) -> Error {
    let (mut line, mut column) = position(err.marker());
    if err.info().contains("found a tab") {
        // The scanner reports where the plain scalar starts; the tab that ends it may
        // be lines further down, and that is the character to fix.
        if let Some((l, c)) = first_tab_from(text, err.marker().index()) {
            (line, column) = (l, c);
        }
    }
    Error::Yaml {
        location: Location {
            file: file.to_path_buf(),
            line: Some(line),
            column: Some(column),
        },
        message: err.info().to_owned(),
    }
}

/// The 1-based line and column of the first tab at or after character `from`.
fn first_tab_from(text: &str, from: usize) -> Option<(u32, u32)> {
    let (mut line, mut column) = (1usize, 1usize);
    for (i, ch) in text.chars().enumerate() {
        if i >= from && ch == '\t' {
            return Some((small(line), small(column)));
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    None
}

fn too_deep() -> String {
    format!("nesting deeper than {MAX_DEPTH} levels")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    fn file() -> &'static Path {
        Path::new("models/schema.yml")
    }

    fn parse_ok(text: &str) -> Yaml {
        parse(file(), text).unwrap()
    }

    /// The code, line and column of an error.
    fn at(err: &Error) -> (&'static str, Option<u32>, Option<u32>) {
        match err {
            Error::Yaml { location, .. } => (err.code(), location.line, location.column),
            other => panic!("not a YAML error: {other}"),
        }
    }

    #[test]
    fn a_block_scalar_at_the_end_of_a_file_keeps_only_a_break_that_is_there() {
        let read = |t: &str| parse(Path::new("f.yml"), t).expect("parses").to_json();
        assert_eq!(read("a: |\n  x > 0")["a"], "x > 0");
        assert_eq!(read("a: |\n  x > 0\n")["a"], "x > 0\n");
        assert_eq!(read("a: [1]\nb: >\n  one\n  two")["b"], "one two");
        assert_eq!(read("a: |\n  x\nb: |\n  y")["a"], "x\n");
        assert_eq!(read("- |\n  x\n- |+\n  y")[1], "y");
        assert_eq!(read("a: |\n  x\n---\nb: 1")["a"], "x\n");
    }

    #[test]
    fn nested_nodes_have_their_positions() {
        let y = parse_ok(
            "version: 2\nmodels:\n  - name: a\n    columns:\n      - name: id\n        tests: [unique, {accepted_values: {values: [1, 2]}}]\n",
        );
        let node = |path: &[PathSeg<'_>]| {
            let n = y.at_path(path).unwrap();
            (n.line, n.column)
        };
        use PathSeg::{Index, Key};
        assert_eq!(node(&[]), (1, 1));
        assert_eq!(node(&[Key("models")]), (3, 3));
        assert_eq!(node(&[Key("models"), Index(0)]), (3, 5));
        assert_eq!(node(&[Key("models"), Index(0), Key("name")]), (3, 11));
        let col = [Key("models"), Index(0), Key("columns"), Index(0)];
        assert_eq!(node(&col), (5, 9));
        let values = [
            &col[..],
            &[
                Key("tests"),
                Index(1),
                Key("accepted_values"),
                Key("values"),
                Index(1),
            ],
        ]
        .concat();
        assert_eq!(node(&values), (6, 56));
        assert_eq!(y.at_path(&[Key("models"), Index(1)]), None);
        // The deepest existing node stands in for a missing one.
        let loc = y.locate(file(), &[Key("models"), Index(0), Key("nope"), Index(3)]);
        assert_eq!((loc.line, loc.column), (Some(3), Some(5)));
        let (key, _) = y.entry("models").unwrap();
        assert_eq!((key.line, key.column), (2, 1));
    }

    #[test]
    fn the_second_of_two_equal_names_is_located() {
        let text = "sources:\n  - name: foo\n    tables: [{name: t}]\n  - name: bar\n  - name: foo\n    tables: [{name: u}]\n";
        #[derive(Deserialize)]
        struct File {
            sources: Vec<Source>,
        }
        #[derive(Deserialize)]
        struct Source {
            name: String,
        }
        let (f, tree): (File, Yaml) = from_yaml_with_tree(file(), text).unwrap();
        let second = f.sources.iter().rposition(|s| s.name == "foo").unwrap();
        let loc = tree.locate(
            file(),
            &[
                PathSeg::Key("sources"),
                PathSeg::Index(second),
                PathSeg::Key("name"),
            ],
        );
        assert_eq!(loc.to_string(), "models/schema.yml:5:11");
    }

    #[test]
    fn type_errors_name_path_line_and_column() {
        #[derive(Debug, Deserialize)]
        struct File {
            #[allow(dead_code)]
            models: Vec<Model>,
        }
        #[derive(Debug, Deserialize)]
        struct Model {
            #[allow(dead_code)]
            name: String,
            #[allow(dead_code)]
            #[serde(default)]
            columns: Vec<Json>,
        }
        let text = "models:\n  - name: a\n    columns: []\n  - name: b\n    columns: nope\n";
        let err = from_yaml::<File>(file(), text).unwrap_err();
        assert_eq!(at(&err), ("DVT102", Some(5), Some(14)));
        let msg = err.to_string();
        assert!(
            msg.starts_with("models/schema.yml:5:14: invalid YAML: models[1].columns: invalid type: string \"nope\""),
            "{msg}"
        );
        // A missing field is reported on the mapping that lacks it.
        let err = from_yaml::<File>(file(), "models:\n  - name: a\n  - columns: []\n").unwrap_err();
        assert_eq!(at(&err), ("DVT102", Some(3), Some(5)));
        assert!(
            err.to_string().contains("models[1]: missing field `name`"),
            "{err}"
        );
        // At the top there is no path to name.
        let err = from_yaml::<File>(file(), "").unwrap_err();
        assert_eq!(at(&err), ("DVT102", Some(1), Some(1)));
        assert!(
            err.to_string()
                .ends_with("invalid YAML: invalid type: null, expected struct File"),
            "{err}"
        );
        // An empty file is fine where the caller allows nothing.
        assert!(
            from_yaml::<Option<File>>(file(), "# nothing yet\n")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn duplicate_keys_name_the_second() {
        let err = parse(file(), "a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n").unwrap_err();
        assert_eq!(at(&err), ("DVT102", Some(5), Some(3)));
        assert!(
            err.to_string()
                .contains("duplicate key `c` (first defined on line 3)"),
            "{err}"
        );
        // `1` and `"1"` are the same JSON key.
        let err = parse(file(), "{1: a, \"1\": b}").unwrap_err();
        assert_eq!(at(&err).0, "DVT102");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let cases = [
            ("a: [\n", 2, 1),
            ("a: 1\nb: c: d\n", 2, 5),
            ("a:\n\tb: 1\n", 2, 2),
            ("name: \"é\"\nü: ö: x\n", 2, 5),
            ("a: *nope\n", 1, 4),
            ("a: 'open\n", 1, 4),
            // The tab ending a plain scalar, not the scalar's start.
            ("models:\n  - name: m\n\tdescription: x\n", 3, 1),
        ];
        for (text, line, column) in cases {
            let err = parse(file(), text).unwrap_err();
            assert_eq!(
                at(&err),
                ("DVT102", Some(line), Some(column)),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let y = parse_ok(
            "base: &base {a: 1, b: 2}\nmore: &more {b: 20, c: 30}\nx:\n  <<: *base\n  b: 3\ny:\n  <<: [*more, *base]\nz: *base\nl: &l [1, 2]\nm: *l\n",
        );
        assert_eq!(
            y.to_json(),
            json!({
                "base": {"a": 1, "b": 2},
                "more": {"b": 20, "c": 30},
                "x": {"a": 1, "b": 3},
                "y": {"a": 1, "b": 20, "c": 30},
                "z": {"a": 1, "b": 2},
                "l": [1, 2],
                "m": [1, 2],
            })
        );
        // Merged values point where they are written; the alias where it is used.
        let merged = y.at_path(&[PathSeg::Key("x"), PathSeg::Key("a")]).unwrap();
        assert_eq!((merged.line, merged.column), (1, 17));
        let own = y.at_path(&[PathSeg::Key("x"), PathSeg::Key("b")]).unwrap();
        assert_eq!((own.line, own.column), (5, 6));
        let z = y.get("z").unwrap();
        assert_eq!((z.line, z.column), (8, 4));
        // A quoted `<<` is an ordinary key.
        assert_eq!(parse_ok("'<<': 1").to_json(), json!({"<<": 1}));
        let err = parse(file(), "a: 1\nb:\n  <<: 5\n").unwrap_err();
        assert_eq!(at(&err), ("DVT102", Some(3), Some(7)));
        let err = parse(file(), "a: &a [1]\nb:\n  <<: [*a]\n").unwrap_err();
        assert_eq!(at(&err), ("DVT102", Some(3), Some(8)));
    }

    #[test]
    fn alias_bombs_and_deep_nesting_are_errors() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(file(), &bomb).unwrap_err();
        assert!(err.to_string().contains("more than 1000000 nodes"), "{err}");
        // The scanner's own limit on flow nesting may trip first; either way it is
        // a located error, not a stack overflow.
        let deep = "[".repeat(10_000);
        let err = parse(file(), &deep).unwrap_err();
        assert_eq!(at(&err).0, "DVT102");
        let deep = format!("{}x", "- ".repeat(1_000));
        let err = parse(file(), &deep).unwrap_err();
        assert_eq!(at(&err), ("DVT102", Some(1), Some(257)));
        // Aliases cannot stack depth past the limit either.
        let mut chain = format!("a0: &a0 {}{}\n", "[".repeat(100), "]".repeat(100));
        for i in 1..100 {
            chain.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
        }
        assert!(
            parse(file(), &chain)
                .unwrap_err()
                .to_string()
                .contains("nesting deeper")
        );
    }

    #[test]
    fn core_schema_resolution() {
        let y = parse_ok(
            "n1:\nn2: ~\nn3: null\nn4: NULL\nt: True\nf: FALSE\nyes: yes\ni: 007\nneg: -12\nplus: +5\nhex: 0x1F\noct: 0o17\nbig: 123456789012345678901\nfl: 1.10\ndot: .5\nexp: 1e3\ninf: -.inf\nnan: .nan\nver: 1.2.3\nq: '1.10'\ndq: \"true\"\ns: !!str 12\nti: !!int '12'\nblock: |\n  7\n",
        );
        assert_eq!(
            y.to_json(),
            json!({
                "n1": null, "n2": null, "n3": null, "n4": null, "t": true, "f": false,
                "yes": "yes", "i": 7, "neg": -12, "plus": 5, "hex": 31, "oct": 15,
                "big": "123456789012345678901", "fl": 1.1, "dot": 0.5, "exp": 1000.0,
                "inf": "-.inf", "nan": ".nan", "ver": "1.2.3", "q": "1.10", "dq": "true",
                "s": "12", "ti": 12, "block": "7\n",
            })
        );
        assert_eq!(
            y.to_json_text(),
            json!({
                "n1": null, "n2": null, "n3": null, "n4": null, "t": "True", "f": "FALSE",
                "yes": "yes", "i": "007", "neg": "-12", "plus": "+5", "hex": "0x1F",
                "oct": "0o17", "big": "123456789012345678901", "fl": "1.10", "dot": ".5",
                "exp": "1e3", "inf": "-.inf", "nan": ".nan", "ver": "1.2.3", "q": "1.10",
                "dq": "true", "s": "12", "ti": "12", "block": "7\n",
            })
        );
        assert_eq!(
            parse_ok("'': x\n'~': y").to_json_text(),
            json!({"": "x", "~": "y"})
        );
    }

    #[test]
    fn documents_and_non_ascii() {
        assert_eq!(parse_ok("").value, YamlValue::Null);
        assert_eq!(
            parse_ok("---\na: 1\n---\nb: [\n").to_json(),
            json!({"a": 1})
        );
        let y = parse_ok("naïve: \"日本語\"\nemoji: 🦀 ok\n");
        assert_eq!(y.to_json(), json!({"naïve": "日本語", "emoji": "🦀 ok"}));
        assert_eq!(y.get("emoji").map(|e| e.column), Some(8));
    }

    const PROFILE: &str = "defaults: &defaults\n  type: postgres\n  host: localhost\n  port: 5432\n  password: 1.10\nshop:\n  target: dev\n  outputs:\n    dev:\n      <<: *defaults\n      user: a\n      dbname: d\n    prod: {<<: *defaults, user: b, dbname: p, threads: 4}\n";

    /// Applies byte-level edits to an ASCII text: insert, delete or replace.
    fn mutate(base: &str, edits: &[(usize, u8, String)]) -> String {
        let mut bytes = base.as_bytes().to_vec();
        for (pos, op, text) in edits {
            let pos = pos % (bytes.len() + 1);
            match op % 3 {
                0 => {
                    bytes.splice(pos..pos, text.bytes());
                }
                1 => {
                    let end = (pos + text.len().max(1)).min(bytes.len());
                    bytes.drain(pos..end);
                }
                _ => {
                    let end = (pos + text.len()).min(bytes.len());
                    bytes.splice(pos..end, text.bytes());
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn never_panics(text: &str) {
        let check = |r: Result<()>| {
            if let Err(e) = r {
                assert_eq!(e.code(), "DVT102", "{e}");
            }
        };
        check(parse(file(), text).map(|y| {
            let _ = (y.to_json(), y.to_json_text());
        }));
        check(from_yaml::<Json>(file(), text).map(drop));
        check(from_yaml::<BTreeMap<String, Vec<String>>>(file(), text).map(drop));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            never_panics(&text);
        }

        #[test]
        fn yaml_like_text_never_panics(text in "[a-z0-9 :{}\\[\\],&*!|>'\"#%@`?~<.\\-\n\t]{0,120}") {
            never_panics(&text);
        }

        #[test]
        fn mutated_profiles_never_panic(
            edits in proptest::collection::vec(
                (any::<usize>(), any::<u8>(), "[ -~\n\t]{0,4}"),
                1..6,
            )
        ) {
            never_panics(&mutate(PROFILE, &edits));
        }
    }

    #[test]
    fn profile_fixture_parses() {
        let y = parse_ok(PROFILE);
        let dev = y.at_path(&[
            PathSeg::Key("shop"),
            PathSeg::Key("outputs"),
            PathSeg::Key("dev"),
        ]);
        assert_eq!(
            dev.map(Yaml::to_json_text),
            Some(
                json!({"type": "postgres", "host": "localhost", "port": "5432", "password": "1.10", "user": "a", "dbname": "d"})
            )
        );
    }
}
