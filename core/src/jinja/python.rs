//! The Python side of dbt's Jinja: values print as Python prints them (`None`, `True`,
//! `['a', 'b']`, `{'k': 1}`), and the context functions dbt adds from Python's standard
//! library: `set`, `zip`, `local_md5`, `fromjson`/`tojson`, `fromyaml`/`toyaml`,
//! `exceptions`, `modules.re` and `modules.itertools`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use minijinja::value::{DynObject, Kwargs, Object, ObjectRepr, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, Output, State};

/// Registers the functions and the Python formatter on `env`.
pub(super) fn register(env: &mut Environment<'static>) {
    env.set_formatter(python_formatter);
    env.add_function("set", set_fn);
    // dbt's `set_strict` is `set` that raises on what cannot be a member; every Jinja
    // value can be one here.
    env.add_function("set_strict", set_fn);
    env.add_function("zip", zip_fn);
    env.add_function("local_md5", |s: String| crate::sql::md5_hex(s.as_bytes()));
    env.add_function("fromjson", fromjson);
    env.add_function("tojson", tojson);
    env.add_function("fromyaml", fromyaml);
    env.add_function("toyaml", toyaml);
    env.add_global("exceptions", Value::from_object(Exceptions));
    env.add_global("modules", Value::from_object(Modules));
    env.add_global("api", Value::from_object(Api));
    // One start time per process: every node of a run sees the same value, as in dbt.
    env.add_global(
        "run_started_at",
        Value::from_object(DateTime {
            at: chrono::Utc::now().naive_utc(),
            kind: TimeKind::DateTimeUtc,
        }),
    );
    env.add_global(
        "flags",
        str_map([
            ("FULL_REFRESH", Value::from(false)),
            ("STORE_FAILURES", Value::from(false)),
            ("WHICH", Value::from("run")),
        ]),
    );
    env.add_function(PERCENT_FN, percent);
    env.add_function(DATETIME_OP_FN, datetime_op);
    env.add_filter("as_text", |v: Value| v.to_string());
    env.add_filter("as_number", as_marked);
    env.add_filter("as_bool", as_marked);
    env.add_filter("as_native", as_marked);
    env.add_filter("wordcount", |s: String| s.split_whitespace().count());
    env.add_filter("int", int_filter);
    env.add_filter("float", float_filter);
    env.add_filter("center", |s: String, width: Option<usize>| {
        // Python's str.center: the extra space goes to the right when odd.
        let width = width.unwrap_or(80);
        let len = s.chars().count();
        if len >= width {
            return s;
        }
        let total = width - len;
        let left = total / 2 + ((total % 2) & (width % 2));
        format!("{}{s}{}", " ".repeat(left), " ".repeat(total - left))
    });
    env.add_function(MUTABLE_DICT_FN, mutable_dict);
}

/// Jinja2's `int`: a value that is not a number gives `default` (0), where the template
/// engine's own filter fails; a numeric string with a fraction is truncated
/// (`"1.7" | int` is 1), as Jinja2 falls back to `int(float(value))`.
fn int_filter(value: Value, default: Option<Value>) -> Value {
    let default = || default.clone().unwrap_or(Value::from(0));
    if value.is_number() {
        return match i64::try_from(value.clone()) {
            Ok(i) => Value::from(i),
            Err(_) => f64::try_from(value)
                .ok()
                .filter(|f| f.is_finite())
                .map_or_else(default, |f| Value::from(f.trunc() as i64)),
        };
    }
    if value.kind() == ValueKind::Bool {
        return Value::from(i64::from(value.is_true()));
    }
    let Some(text) = value.as_str() else {
        return default();
    };
    let text = text.trim().replace('_', "");
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    text.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map_or_else(default, |f| Value::from(f.trunc() as i64))
}

/// Jinja2's `float`: `default` (0.0) for what is not a number.
fn float_filter(value: Value, default: Option<Value>) -> Value {
    let default = || default.clone().unwrap_or(Value::from(0.0));
    if value.kind() == ValueKind::Bool {
        return Value::from(if value.is_true() { 1.0 } else { 0.0 });
    }
    if value.is_number() {
        return f64::try_from(value).map_or_else(|_| default(), Value::from);
    }
    value
        .as_str()
        .and_then(|t| t.trim().replace('_', "").parse::<f64>().ok())
        .map_or_else(default, Value::from)
}

/// What `"fmt" % args` calls after the template rewrite.
const PERCENT_FN: &str = "__dvt_percent";

/// Rewrites Python's `"text %s" % (args)` and `"text %s" % name` inside `{{ }}` and
/// `{% %}` into a call, since the template engine's `%` is only the remainder. The
/// rewrite keeps every newline, so error lines hold.
pub(super) fn percent_format(text: &str) -> String {
    rewrite_tags(text, |_, expr| percent_in(expr))
}

/// [`percent_format`] within one tag's expression text.
fn percent_in(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut i = 0;
    while i < expr.len() {
        let c = expr.as_bytes()[i];
        if c == b'"' || c == b'\'' {
            // A string literal, maybe followed by `% operand`.
            let Some(len) = expr[i + 1..].find(c as char) else {
                out.push_str(&expr[i..]);
                break;
            };
            let lit_end = i + 1 + len + 1;
            let literal = &expr[i..lit_end];
            if let Some(op) = expr[lit_end..]
                .trim_start_matches([' ', '\t'])
                .strip_prefix('%')
            {
                let operand_start = expr.len() - op.trim_start_matches([' ', '\t']).len();
                let operand = &expr[operand_start..];
                let n = match operand.as_bytes().first() {
                    Some(&q @ (b'\'' | b'"')) => operand[1..].find(q as char).map(|n| n + 2),
                    _ => chain_len(operand),
                };
                if let Some(n) = n.filter(|n| *n > 0) {
                    let n = n + filters_len(&operand[n..]);
                    let operand = &expr[operand_start..operand_start + n];
                    out.push_str(&format!("{PERCENT_FN}({literal}, {operand})"));
                    i = operand_start + n;
                    continue;
                }
            }
            out.push_str(literal);
            i = lit_end;
            continue;
        }
        let ch = expr[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// What surrounds a tag's words: whitespace and the `-`/`+` of whitespace control.
pub(super) const TAG_TRIM: [char; 6] = ['-', '+', ' ', '\t', '\n', '\r'];

/// A `{{ }}` or `{% %}` tag: where its expression text is, and whether it is a statement.
pub(super) struct Tag {
    pub(super) inner: std::ops::Range<usize>,
    pub(super) statement: bool,
}

/// The tags of a template, in order, skipping `{# #}` comments and `{% raw %}` blocks.
/// A quoted `}}` or `%}` does not end a tag.
pub(super) fn tags(text: &str) -> Vec<Tag> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find('{').map(|n| i + n) {
        let (close, statement) = match bytes.get(at + 1) {
            Some(b'{') => ("}}", false),
            Some(b'%') => ("%}", true),
            Some(b'#') => ("#}", false),
            _ => {
                i = at + 1;
                continue;
            }
        };
        let body = &text[at + 2..];
        let len = if close == "#}" {
            body.find(close)
        } else {
            // Compared as bytes: `k` may fall inside a multi-byte character.
            unquoted(body).find(|&k| body.as_bytes()[k..].starts_with(close.as_bytes()))
        };
        let Some(len) = len else {
            break;
        };
        let inner = at + 2..at + 2 + len;
        i = inner.end + 2;
        if close == "#}" {
            continue;
        }
        if statement && text[inner.clone()].trim_matches(TAG_TRIM) == "raw" {
            // Everything up to `{% endraw %}` is text.
            i = text[i..].find("endraw").map_or(text.len(), |n| i + n);
            continue;
        }
        out.push(Tag { inner, statement });
    }
    out
}

/// `text` with the expression of each tag replaced by what `rewrite(is_statement,
/// expression)` returns; everything else stays as it is.
pub(super) fn rewrite_tags(text: &str, mut rewrite: impl FnMut(bool, &str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for tag in tags(text) {
        out.push_str(&text[done..tag.inner.start]);
        out.push_str(&rewrite(tag.statement, &text[tag.inner.clone()]));
        done = tag.inner.end;
    }
    out.push_str(&text[done..]);
    out
}

/// `expr` with each empty list literal `[]` (outside strings, and not a subscript)
/// replaced by `call`: in Python every list can grow, and dbt code grows lists built
/// anywhere (`{% do d.update({k: []}) %}` then `d[k].append(x)`).
pub(super) fn empty_lists(expr: &str, call: &str) -> String {
    let bytes = expr.as_bytes();
    let free: BTreeSet<usize> = unquoted(expr).collect();
    let mut out = String::with_capacity(expr.len());
    let mut done = 0;
    for (at, _) in expr.match_indices("[]") {
        if !free.contains(&at) || at < done {
            continue;
        }
        let before = expr[..at].trim_end().as_bytes().last().copied();
        let subscript = before.is_some_and(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'_' | b']' | b')' | b'\'' | b'"')
        });
        if subscript || bytes.get(at + 2) == Some(&b'[') {
            continue;
        }
        out.push_str(&expr[done..at]);
        out.push_str(call);
        out.push_str("()");
        done = at + 2;
    }
    out.push_str(&expr[done..]);
    out
}

/// Jinja2's `{% do %}` takes any expression; minijinja's only a call. A `do` whose
/// expression is not one call (`{% do a.append(x) if c else a.append(y) %}`, as Fivetran's
/// utils write) becomes a `set` of a throwaway name, which evaluates it the same way.
pub(super) fn do_statement(expr: &str) -> Option<String> {
    let body = expr.trim_matches(TAG_TRIM);
    let value = body.strip_prefix("do")?;
    if !value.starts_with(char::is_whitespace) {
        return None;
    }
    let value = value.trim();
    if value.ends_with(')') && chain_len(value) == Some(value.len()) {
        return None;
    }
    let start = expr.find(body)?;
    Some(format!(
        "{}set __dvt_do = {value}{}",
        &expr[..start],
        &expr[start + body.len()..]
    ))
}

/// Sentinel default of a macro argument whose real default names an earlier argument.
const ARG_DEFAULT: &str = "__dvt_arg_default__";

/// Python's Jinja evaluates a macro argument's default when the macro is called, where
/// earlier arguments are in scope (`{% macro generate_source(schema_name, ...,
/// name=schema_name) %}` in dbt-codegen); minijinja evaluates defaults without them. Such
/// a default becomes a sentinel, and the macro body starts by setting the argument to
/// its default when the sentinel is still there.
///
/// An argument the file mutates (`base.append(c)`, as Fivetran's
/// `add_pass_through_columns` grows its caller's list) is made mutable on entry by
/// `mutable_fn`, which keeps a list that already is mutable (the caller's, shared as in
/// Python) and copies a literal. `None` when nothing needs either.
pub(super) fn macro_defaults(
    expr: &str,
    mutated: &BTreeSet<&str>,
    mutable_fn: &str,
) -> Option<String> {
    let body = expr.trim_matches(TAG_TRIM);
    let start = expr.find(body)?;
    let (lead, trail) = (&expr[..start], &expr[start + body.len()..]);
    let rest = body
        .strip_prefix("macro ")
        .or_else(|| body.strip_prefix("test "))?;
    let kw = &body[..body.len() - rest.len()];
    let open = rest.find('(')?;
    let close = rest.rfind(')')?;
    let name = &rest[..open];
    let free: BTreeSet<usize> = unquoted(rest).collect();
    // Split the arguments at top-level commas.
    let mut params = Vec::new();
    let (mut depth, mut from) = (0i32, open + 1);
    for (i, b) in rest.bytes().enumerate().take(close).skip(open + 1) {
        if !free.contains(&i) {
            continue;
        }
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                params.push(&rest[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    params.push(&rest[from..close]);
    let mut seen: Vec<&str> = Vec::new();
    let mut rewritten = Vec::new();
    let mut sets = String::new();
    for p in params {
        let (pname, default) = match p.split_once('=') {
            Some((n, d)) => (n.trim(), Some(d.trim())),
            None => (p.trim(), None),
        };
        let refers = default.is_some_and(|d| {
            d.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| seen.contains(&word))
        });
        match default {
            Some(d) if refers => {
                rewritten.push(format!("{pname}='{ARG_DEFAULT}'"));
                let _ = write!(
                    sets,
                    "{{% if {pname} == '{ARG_DEFAULT}' %}}{{% set {pname} = {d} %}}{{% endif %}}"
                );
            }
            _ => rewritten.push(p.trim().to_owned()),
        }
        if !pname.is_empty() {
            seen.push(pname);
        }
    }
    for pname in &seen {
        if mutated.contains(pname) {
            let _ = write!(sets, "{{% set {pname} = {mutable_fn}({pname}) %}}");
        }
    }
    if sets.is_empty() {
        return None;
    }
    // The last injected tag ends with the original closing delimiter and trim marker.
    let sets = sets.strip_suffix(" %}")?;
    Some(format!(
        "{lead}{kw}{name}({}){} %}}{sets}{trail}",
        rewritten.join(", "),
        &rest[close + 1..]
    ))
}

/// The name and value text of `{% set name = value %}` (one plain name), from the tag's
/// expression text.
pub(super) fn set_assignment(expr: &str) -> Option<(&str, &str)> {
    let rest = expr.trim_matches(TAG_TRIM).strip_prefix("set")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let (name, value) = rest.split_once('=')?;
    let name = name.trim();
    let plain = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
    plain.then_some((name, value))
}

/// Indexes of the bytes of `s` outside string literals (`'...'`, `"..."`, with `\`
/// escapes).
pub(super) fn unquoted(s: &str) -> impl Iterator<Item = usize> + '_ {
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    s.bytes().enumerate().filter_map(move |(i, b)| match quote {
        Some(_) if escaped => {
            escaped = false;
            None
        }
        Some(_) if b == b'\\' => {
            escaped = true;
            None
        }
        Some(q) if b == q => {
            quote = None;
            None
        }
        Some(_) => None,
        None if b == b'\'' || b == b'"' => {
            quote = Some(b);
            None
        }
        None => Some(i),
    })
}

/// Python's `fmt % args` for `%s`, `%r`, `%d`, `%i`, `%f`, `%e`, `%g`, `%x`, `%o`, `%%`
/// with flags, width and precision.
fn percent(fmt: String, args: Value) -> Result<Value, Error> {
    let args: Vec<Value> = match args.kind() {
        ValueKind::Seq => args.try_iter()?.collect(),
        _ => vec![args],
    };
    let mut out = String::new();
    let mut next = args.iter();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        let conv = loop {
            match chars.next() {
                Some(c) if "-+ #0123456789.".contains(c) => spec.push(c),
                Some(c) => break c,
                None => {
                    return Err(Error::new(ErrorKind::InvalidOperation, "incomplete format"));
                }
            }
        };
        if conv == '%' {
            out.push('%');
            continue;
        }
        let arg = next.next().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                "not enough arguments for format string",
            )
        })?;
        let left = spec.contains('-');
        let zero = spec.starts_with('0') || spec.contains("+0") || spec.contains(" 0");
        let plus = spec.contains('+');
        let nums = spec.trim_start_matches(['-', '+', ' ', '#', '0']);
        let (width, precision) = match nums.split_once('.') {
            Some((w, p)) => (w.parse::<usize>().ok(), p.parse::<usize>().ok().or(Some(0))),
            None => (nums.parse::<usize>().ok(), None),
        };
        let as_f64 = || f64::try_from(arg.clone()).unwrap_or(0.0);
        let mut body = match conv {
            's' => repr(arg, true),
            'r' => repr(arg, false),
            'd' | 'i' | 'u' => format!("{}", as_f64().trunc() as i64),
            'f' | 'F' => format!("{:.*}", precision.unwrap_or(6), as_f64()),
            'e' | 'E' => {
                let s = format!("{:.*e}", precision.unwrap_or(6), as_f64());
                // Python writes the exponent with a sign and two digits.
                let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                let e: i32 = e.parse().unwrap_or(0);
                let s = format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
                if conv == 'E' { s.to_uppercase() } else { s }
            }
            'g' | 'G' => number(&Value::from(as_f64())),
            'x' => format!("{:x}", as_f64() as i64),
            'X' => format!("{:X}", as_f64() as i64),
            'o' => format!("{:o}", as_f64() as i64),
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("unsupported format character `{other}`"),
                ));
            }
        };
        if plus && "dif".contains(conv) && !body.starts_with('-') {
            body.insert(0, '+');
        }
        if let Some(w) = width
            && body.chars().count() < w
        {
            let pad = w - body.chars().count();
            if left {
                body.push_str(&" ".repeat(pad));
            } else if zero && conv != 's' && conv != 'r' {
                let sign = body.starts_with(['-', '+']);
                let at = usize::from(sign);
                body.insert_str(at, &"0".repeat(pad));
            } else {
                body.insert_str(0, &" ".repeat(pad));
            }
        }
        out.push_str(&body);
    }
    Ok(Value::from(out))
}

/// A macro that reads `varargs` or `kwargs` (Python Jinja's catch-alls) gets them as two
/// extra parameters; returns the rewritten source and the declared parameters (`None`
/// when the macro uses neither).
pub(super) fn variadic(source: &str) -> (String, Option<Vec<String>>) {
    // A word-boundary scan: compiling a regex per macro made every environment slow.
    let uses = |word: &str| {
        let is_ident = |c: char| c.is_alphanumeric() || c == '_';
        source.match_indices(word).any(|(i, _)| {
            let before = source[..i].chars().next_back();
            let after = source[i + word.len()..].chars().next();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        })
    };
    if !uses("varargs") && !uses("kwargs") {
        return (source.to_owned(), None);
    }
    let Some(open) = source.find('(') else {
        return (source.to_owned(), None);
    };
    let mut depth = 0;
    let mut close = None;
    for (i, c) in source[open..].char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            _ => {}
        }
    }
    let Some(close) = close else {
        return (source.to_owned(), None);
    };
    let declared = &source[open + 1..close];
    let mut params = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in declared.chars() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                params.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    params.push(current);
    let names: Vec<String> = params
        .iter()
        .map(|p| p.split('=').next().unwrap_or("").trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    let extra = if names.is_empty() {
        "varargs=none, kwargs=none"
    } else {
        ", varargs=none, kwargs=none"
    };
    let rewritten = format!("{}{extra}{}", &source[..close], &source[close..]);
    (rewritten, Some(names))
}

/// Packs a call's arguments for a [`variadic`] macro: declared ones stay, extra
/// positional ones become `varargs`, unknown keywords `kwargs`.
pub(super) fn pack_variadic(params: &[String], args: &[Value]) -> Result<Vec<Value>, Error> {
    let (positional, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
    let take = positional.len().min(params.len());
    let mut out: Vec<Value> = positional[..take].to_vec();
    let extra: Vec<Value> = positional[take..].to_vec();
    let mut declared: Vec<(String, Value)> = Vec::new();
    let mut rest: Vec<(Value, Value)> = Vec::new();
    for key in kwargs.args() {
        let v: Value = kwargs.get(key)?;
        if params.iter().any(|p| p == key) {
            declared.push((key.to_owned(), v));
        } else {
            rest.push((Value::from(key), v));
        }
    }
    declared.push(("varargs".into(), Value::from(extra)));
    declared.push(("kwargs".into(), map_value(rest.into_iter())));
    out.push(Value::from(declared.into_iter().collect::<Kwargs>()));
    Ok(out)
}

/// When a macro is called with `caller=` (a `{% call %}` block), renders the block in
/// the calling template and returns the arguments with `caller` replaced by a function
/// returning that text. `None` when there is no caller.
pub(super) fn render_caller(
    state: &mut State<'_, '_>,
    args: &[Value],
) -> Result<Option<Vec<Value>>, Error> {
    let Some((last, head)) = args.split_last() else {
        return Ok(None);
    };
    let Ok(kwargs) = Kwargs::try_from(last.clone()) else {
        return Ok(None);
    };
    if !kwargs.has("caller") {
        return Ok(None);
    }
    let mut pairs: Vec<(String, Value)> = Vec::new();
    for key in kwargs.args() {
        let v: Value = kwargs.get(key)?;
        if key == "caller" {
            let text = v.call(state, &[])?;
            let text = text
                .as_str()
                .map_or_else(|| text.to_string(), str::to_owned);
            let f =
                Value::from_function(move |_: Rest<Value>| Value::from_safe_string(text.clone()));
            pairs.push((key.to_owned(), f));
        } else {
            pairs.push((key.to_owned(), v));
        }
    }
    let mut out = head.to_vec();
    out.push(Value::from(pairs.into_iter().collect::<Kwargs>()));
    Ok(Some(out))
}

/// What `{% set d = {...} %}` calls after the template rewrite (see `mutable_literal` in the parent module).
pub(super) const MUTABLE_DICT_FN: &str = "__dvt_dict";

/// A copy of the mapping `v` that `update`, `pop` and `setdefault` can change.
pub(super) fn mutable_dict(v: Value) -> Result<Value, Error> {
    let mut pairs = Vec::new();
    for k in v.try_iter()? {
        let item = nested_mutable(v.get_item(&k)?)?;
        pairs.push((k, item));
    }
    Ok(Value::from_object(MutableDict(std::sync::Mutex::new(
        pairs,
    ))))
}

/// A plain dict or list inside a mutable dict, made mutable too: in Python the nested
/// `{}` of `graph.setdefault("elementary", {"results": {}, "tables": {"rows": []}})` is
/// a dict that code later `update`s. Other objects (relations, columns) stay as they are.
fn nested_mutable(v: Value) -> Result<Value, Error> {
    if v.downcast_object_ref::<indexmap::IndexMap<Value, Value>>()
        .is_some()
    {
        return mutable_dict(v);
    }
    if let Some(items) = v.downcast_object_ref::<Vec<Value>>() {
        let items = items
            .iter()
            .cloned()
            .map(nested_mutable)
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::from_object(super::MutableList(
            std::sync::Mutex::new(items),
        )));
    }
    Ok(v)
}

/// A dict Jinja code may change: `update`, `pop`, `setdefault`, `clear`; otherwise it
/// reads like any mapping (keys in insertion order, as Python's).
#[derive(Debug)]
pub(super) struct MutableDict(std::sync::Mutex<Vec<(Value, Value)>>);

impl MutableDict {
    fn pairs(&self) -> std::sync::MutexGuard<'_, Vec<(Value, Value)>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(pairs: &mut Vec<(Value, Value)>, k: Value, v: Value) {
        match pairs.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = v,
            None => pairs.push((k, v)),
        }
    }
}

impl Object for MutableDict {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.pairs()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.pairs().iter().map(|(k, _)| k.clone()).collect())
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .pairs()
            .iter()
            .map(|(k, v)| format!("{}: {}", repr(k, false), repr(v, false)))
            .collect();
        write!(f, "{{{}}}", parts.join(", "))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut pairs = self.pairs();
        match (method, args) {
            ("update", [other]) => {
                for k in other.try_iter()? {
                    let v = nested_mutable(other.get_item(&k)?)?;
                    Self::set(&mut pairs, k, v);
                }
                Ok(Value::from(()))
            }
            ("pop", [k, rest @ ..]) => match pairs.iter().position(|(key, _)| key == k) {
                Some(i) => Ok(pairs.remove(i).1),
                None => rest.first().cloned().ok_or_else(|| {
                    Error::new(ErrorKind::InvalidOperation, format!("key {k} not found"))
                }),
            },
            ("setdefault", [k, rest @ ..]) => {
                if let Some((_, v)) = pairs.iter().find(|(key, _)| key == k) {
                    return Ok(v.clone());
                }
                let mut v = rest.first().cloned().unwrap_or(Value::from(()));
                // A dict literal given as the default is a new dict in Python, which
                // the caller goes on to fill (elementary caches in
                // `graph.setdefault("elementary", {}).update(...)`).
                if v.kind() == ValueKind::Map && v.downcast_object_ref::<MutableDict>().is_none() {
                    v = mutable_dict(v)?;
                }
                pairs.push((k.clone(), v.clone()));
                Ok(v)
            }
            ("clear", []) => {
                pairs.clear();
                Ok(Value::from(()))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// How `{{ value }}` prints: Python's `str()`.
fn python_formatter(out: &mut Output, _state: &mut State, value: &Value) -> Result<(), Error> {
    if value.is_undefined() {
        return Ok(());
    }
    let text = match value.kind() {
        ValueKind::String => {
            return out
                .write_str(value.as_str().unwrap_or_default())
                .map_err(fmt_err);
        }
        // Relations and other objects render themselves.
        ValueKind::Plain | ValueKind::Invalid => value.to_string(),
        ValueKind::Map if value.as_object().is_some() => value.to_string(),
        _ => repr(value, true),
    };
    out.write_str(&text).map_err(fmt_err)
}

fn fmt_err(_: std::fmt::Error) -> Error {
    Error::new(ErrorKind::WriteFailure, "formatting failed")
}

/// Python's `repr()` of a value (`str()` at the top level: strings unquoted).
pub(super) fn repr(value: &Value, top: bool) -> String {
    match value.kind() {
        ValueKind::Undefined if top => String::new(),
        ValueKind::Undefined | ValueKind::None => "None".into(),
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.into(),
        ValueKind::Number => number(value),
        ValueKind::String | ValueKind::Bytes => {
            let s = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            if top { s } else { quote(&s) }
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = value
                .try_iter()
                .map(|it| it.map(|v| repr(&v, false)).collect())
                .unwrap_or_default();
            match (value.is_tuple(), items.len()) {
                (true, 1) => format!("({},)", items[0]),
                (true, _) => format!("({})", items.join(", ")),
                _ => format!("[{}]", items.join(", ")),
            }
        }
        ValueKind::Map => {
            let mut parts = Vec::new();
            if let Ok(keys) = value.try_iter() {
                for k in keys {
                    let v = value.get_item(&k).unwrap_or_default();
                    parts.push(format!("{}: {}", repr(&k, false), repr(&v, false)));
                }
            }
            format!("{{{}}}", parts.join(", "))
        }
        _ => value.to_string(),
    }
}

fn number(value: &Value) -> String {
    if value.is_integer()
        && let Some(i) = value.as_i64()
    {
        return i.to_string();
    }
    match f64::try_from(value.clone()) {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
        Ok(f) if f.is_nan() => "nan".into(),
        Ok(f) if f.is_infinite() => if f > 0.0 { "inf" } else { "-inf" }.into(),
        Ok(f) => f.to_string(),
        Err(_) => value.to_string(),
    }
}

/// Python's `repr()` of a value after dbt's `get_hashable_md` (every leaf turned into
/// its `str()`, dict keys sorted): what dbt hashes into a generic test's unique id.
pub(crate) fn hashable_repr(v: &serde_json::Value) -> String {
    use serde_json::Value as Json;
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}: {}", quote(k), hashable_repr(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Json::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(hashable_repr)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Json::String(s) => quote(s),
        Json::Null => quote("None"),
        Json::Bool(b) => quote(if *b { "True" } else { "False" }),
        Json::Number(n) => quote(&match n.as_i64() {
            Some(i) => i.to_string(),
            None => number(&Value::from(n.as_f64().unwrap_or_default())),
        }),
    }
}

/// Python's string repr: single quotes unless the text holds one and no double quote.
fn quote(s: &str) -> String {
    let q = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

fn set_fn(items: Option<Value>) -> Result<Value, Error> {
    let mut out: Vec<Value> = Vec::new();
    if let Some(items) = items {
        push_new(&mut out, items)?;
    }
    Ok(Value::from_object(PySet(std::sync::Mutex::new(out))))
}

fn push_new(out: &mut Vec<Value>, items: Value) -> Result<(), Error> {
    for v in items.try_iter()? {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(())
}

/// Python's `set`: iterates in insertion order, but two sets are equal when they hold
/// the same items in any order (dbt_utils' `equality` test compares column sets).
#[derive(Debug)]
struct PySet(std::sync::Mutex<Vec<Value>>);

impl PySet {
    fn items(&self) -> Vec<Value> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn sorted(&self) -> Vec<Value> {
        let mut items = self.items();
        items.sort();
        items
    }
}

impl Object for PySet {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = usize::try_from(key.clone()).ok()?;
        self.items().get(i).cloned()
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(self.items())
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<std::cmp::Ordering> {
        let other = other.downcast_ref::<PySet>()?;
        Some(self.sorted().cmp(&other.sorted()))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mine = self.items();
        let other = |i: usize| -> Result<Vec<Value>, Error> {
            let mut out = Vec::new();
            if let Some(v) = args.get(i) {
                push_new(&mut out, v.clone())?;
            }
            Ok(out)
        };
        let new_set = |items: Vec<Value>| Value::from_object(PySet(std::sync::Mutex::new(items)));
        match method {
            "add" | "update" | "discard" => {
                let mut items = self.0.lock().unwrap_or_else(|e| e.into_inner());
                match (method, args) {
                    ("add", [v]) if !items.contains(v) => items.push(v.clone()),
                    ("add", [_]) => {}
                    ("update", [v]) => push_new(&mut items, v.clone())?,
                    ("discard", [v]) => items.retain(|x| x != v),
                    _ => return Err(Error::from(ErrorKind::MissingArgument)),
                }
                Ok(Value::from(()))
            }
            "union" => {
                let mut out = mine;
                push_new(&mut out, Value::from(other(0)?))?;
                Ok(new_set(out))
            }
            "intersection" => {
                let o = other(0)?;
                Ok(new_set(
                    mine.into_iter().filter(|v| o.contains(v)).collect(),
                ))
            }
            "difference" => {
                let o = other(0)?;
                Ok(new_set(
                    mine.into_iter().filter(|v| !o.contains(v)).collect(),
                ))
            }
            "issubset" => {
                let o = other(0)?;
                Ok(Value::from(mine.iter().all(|v| o.contains(v))))
            }
            "issuperset" => {
                let o = other(0)?;
                Ok(Value::from(o.iter().all(|v| mine.contains(v))))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

fn zip_fn(lists: Rest<Value>) -> Result<Value, Error> {
    let cols: Vec<Vec<Value>> = lists
        .iter()
        .map(|l| l.try_iter().map(Iterator::collect))
        .collect::<Result<_, _>>()?;
    let n = cols.iter().map(Vec::len).min().unwrap_or(0);
    Ok(Value::from(
        (0..n)
            .map(|i| Value::from(cols.iter().map(|c| c[i].clone()).collect::<Vec<_>>()))
            .collect::<Vec<_>>(),
    ))
}

/// dbt's `as_number`, `as_bool` and `as_native` (`{{ env_var('PORT') | as_number }}` in
/// profiles.yml). Rendering text, dbt only marks the value for a later native read, so
/// it prints unchanged; DVT reads numbers and booleans out of the rendered text where a
/// setting needs one, with a coded error when it is not one.
fn as_marked(v: Value) -> Value {
    v
}

fn fromjson(text: String, default: Option<Value>) -> Result<Value, Error> {
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => Ok(v),
        Err(e) => default.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("fromjson: not JSON ({e})"),
            )
        }),
    }
}

/// `tojson`: Python's `json.dumps` (`, ` and `: ` separators), keys in their order.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let sort: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    json_dump(&value, sort.unwrap_or(false), &mut out)?;
    Ok(Value::from(out))
}

fn json_dump(value: &Value, sort: bool, out: &mut String) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&number(value)),
        ValueKind::String | ValueKind::Bytes => out.push_str(
            &serde_json::to_string(value.as_str().unwrap_or_default())
                .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?,
        ),
        ValueKind::Map => {
            let mut keys: Vec<Value> = value.try_iter()?.collect();
            if sort {
                keys.sort();
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let key = k.as_str().map_or_else(|| k.to_string(), str::to_owned);
                out.push_str(&serde_json::to_string(&key).unwrap_or_default());
                out.push_str(": ");
                json_dump(&value.get_item(k)?, sort, out)?;
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, v) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                json_dump(&v, sort, out)?;
            }
            out.push(']');
        }
        _ => out.push_str(&serde_json::to_string(&value.to_string()).unwrap_or_default()),
    }
    Ok(())
}

fn fromyaml(text: String, default: Option<Value>) -> Result<Value, Error> {
    let parsed = yaml_rust2::YamlLoader::load_from_str(&text);
    match parsed {
        Ok(docs) => Ok(docs.first().map(yaml_value).unwrap_or_default()),
        Err(e) => default.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("fromyaml: not YAML ({e})"),
            )
        }),
    }
}

fn yaml_value(y: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(s.clone())),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::from(s.clone()),
        Yaml::Boolean(b) => Value::from(*b),
        Yaml::Array(items) => Value::from(items.iter().map(yaml_value).collect::<Vec<_>>()),
        Yaml::Hash(map) => map_value(map.iter().map(|(k, v)| (yaml_value(k), yaml_value(v)))),
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::from(()),
    }
}

/// A mapping with its keys in the given order.
pub(super) fn map_value(pairs: impl Iterator<Item = (Value, Value)>) -> Value {
    struct Pairs(Vec<(Value, Value)>);
    impl serde::Serialize for Pairs {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(self.0.len()))?;
            for (k, v) in &self.0 {
                m.serialize_entry(k, v)?;
            }
            m.end()
        }
    }
    Value::from(minijinja::value::Serde(Pairs(pairs.collect())))
}

/// A mapping from string keys, in the given order.
pub(super) fn str_map<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    map_value(pairs.into_iter().map(|(k, v)| (Value::from(k), v)))
}

/// `toyaml`: PyYAML's `safe_dump` in block style, keys in their order.
fn toyaml(value: Value) -> Result<Value, Error> {
    let mut out = String::new();
    yaml_dump(&value, 0, &mut out)?;
    Ok(Value::from(out))
}

fn yaml_scalar(v: &Value) -> String {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => "null".into(),
        ValueKind::Bool => if v.is_true() { "true" } else { "false" }.into(),
        ValueKind::Number => number(v),
        _ => {
            let s = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            let plain = !s.is_empty()
                && !s
                    .starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c) || c.is_whitespace())
                && !s.ends_with(char::is_whitespace)
                && !s.contains(": ")
                && !s.contains(" #")
                && s.parse::<f64>().is_err()
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "~"
                );
            if plain {
                s
            } else {
                format!("'{}'", s.replace('\'', "''"))
            }
        }
    }
}

fn yaml_dump(value: &Value, indent: usize, out: &mut String) -> Result<(), Error> {
    let pad = " ".repeat(indent);
    match value.kind() {
        ValueKind::Map => {
            for k in value.try_iter()? {
                let v = value.get_item(&k)?;
                let key = yaml_scalar(&k);
                match v.kind() {
                    ValueKind::Map if v.len().unwrap_or(0) > 0 => {
                        let _ = writeln!(out, "{pad}{key}:");
                        yaml_dump(&v, indent + 2, out)?;
                    }
                    // PyYAML does not indent a sequence under its key.
                    ValueKind::Seq if v.len().unwrap_or(0) > 0 => {
                        let _ = writeln!(out, "{pad}{key}:");
                        yaml_dump(&v, indent, out)?;
                    }
                    ValueKind::Map => {
                        let _ = writeln!(out, "{pad}{key}: {{}}");
                    }
                    ValueKind::Seq => {
                        let _ = writeln!(out, "{pad}{key}: []");
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}{key}: {}", yaml_scalar(&v));
                    }
                }
            }
        }
        ValueKind::Seq => {
            for v in value.try_iter()? {
                match v.kind() {
                    ValueKind::Map | ValueKind::Seq if v.len().unwrap_or(0) > 0 => {
                        let mut inner = String::new();
                        yaml_dump(&v, indent + 2, &mut inner)?;
                        let inner = inner.trim_start();
                        let _ = write!(out, "{pad}- {inner}");
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}- {}", yaml_scalar(&v));
                    }
                }
            }
        }
        _ => {
            let _ = writeln!(out, "{}", yaml_scalar(value));
        }
    }
    Ok(())
}

/// `exceptions.warn(msg)` and `exceptions.raise_compiler_error(msg)`.
#[derive(Debug)]
struct Exceptions;

impl Object for Exceptions {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (msg,): (Value,) = minijinja::value::from_args(args)?;
        match method {
            "warn" => {
                if let Ok(node) = super::node(state) {
                    node.record().logs.push(format!("warning: {msg}"));
                }
                Ok(Value::from(""))
            }
            "raise_compiler_error" | "raise_not_implemented" => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{COMPILER_ERROR}{msg}"),
            )),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// Marks an error raised by `exceptions.raise_compiler_error`.
pub(super) const COMPILER_ERROR: &str = "Compilation Error: ";

/// `modules`: `datetime` (its arithmetic through a rewrite, see [`datetime_ops`]),
/// `pytz`, `re` and `itertools`.
#[derive(Debug)]
struct Modules;

impl Object for Modules {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "datetime" => Some(Value::from_object(DatetimeModule)),
            "pytz" => Some(Value::from_object(Pytz)),
            "re" => Some(Value::from_object(Re)),
            "itertools" => Some(Value::from_object(Itertools)),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Re;

/// Python's `re` is a backtracking engine (look-around, backreferences): fancy-regex
/// gives that, handing plain patterns to the regex crate.
fn compile_re(pattern: &str) -> Result<fancy_regex::Regex, Error> {
    fancy_regex::Regex::new(&python_braces(pattern)).map_err(|e| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("modules.re: bad pattern `{pattern}`: {e}"),
        )
    })
}

fn re_failed(e: fancy_regex::Error) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("modules.re: {e}"))
}

/// A Python replacement (`\1`, `\g<1>`, `\g<name>`, `\n`, `\\`) in the regex crates'
/// syntax (`${1}`, `${name}`, `$$` for a dollar).
fn python_replacement(repl: &str) -> String {
    let chars: Vec<char> = repl.chars().collect();
    let mut out = String::with_capacity(repl.len());
    let mut i = 0;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1)) {
            ('$', _) => out.push_str("$$"),
            ('\\', Some(d)) if d.is_ascii_digit() => {
                let digits: String = chars[i + 1..]
                    .iter()
                    .take(2)
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                out.push_str(&format!("${{{digits}}}"));
                i += 1 + digits.len();
                continue;
            }
            ('\\', Some('g')) if chars.get(i + 2) == Some(&'<') => {
                if let Some(n) = chars[i + 3..].iter().position(|c| *c == '>') {
                    let name: String = chars[i + 3..i + 3 + n].iter().collect();
                    out.push_str(&format!("${{{name}}}"));
                    i += 4 + n;
                    continue;
                }
                out.push('\\');
            }
            ('\\', Some('n')) => {
                out.push('\n');
                i += 2;
                continue;
            }
            ('\\', Some('t')) => {
                out.push('\t');
                i += 2;
                continue;
            }
            ('\\', Some('\\')) => {
                out.push('\\');
                i += 2;
                continue;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    out
}

/// `pattern` with Python's `re` flags (`re.IGNORECASE`, ...) written inline.
fn flagged(pattern: String, flags: Option<i64>) -> String {
    let flags = flags.unwrap_or(0);
    let mut inline = String::new();
    for (bit, letter) in [(2, 'i'), (8, 'm'), (16, 's'), (64, 'x')] {
        if flags & bit != 0 {
            inline.push(letter);
        }
    }
    if inline.is_empty() {
        pattern
    } else {
        format!("(?{inline}){pattern}")
    }
}

impl Object for Re {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    /// Python's flag constants (`re.IGNORECASE`, `re.I`, ...), as `re` numbers them.
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Value::from(match key.as_str()? {
            "IGNORECASE" | "I" => 2,
            "MULTILINE" | "M" => 8,
            "DOTALL" | "S" => 16,
            "VERBOSE" | "X" => 64,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "sub" => {
                let (pattern, repl, text, count, flags): (
                    String,
                    String,
                    String,
                    Option<usize>,
                    Option<i64>,
                ) = minijinja::value::from_args(args)?;
                let repl = python_replacement(&repl);
                Ok(Value::from(
                    compile_re(&flagged(pattern, flags))?
                        .try_replacen(&text, count.unwrap_or(0), repl.as_str())
                        .map_err(re_failed)?
                        .into_owned(),
                ))
            }
            "match" | "search" | "fullmatch" => {
                let (pattern, text, flags): (String, String, Option<i64>) =
                    minijinja::value::from_args(args)?;
                let pattern = flagged(pattern, flags);
                let anchored = match method {
                    "match" => format!("^(?:{pattern})"),
                    "fullmatch" => format!("^(?:{pattern})$"),
                    _ => pattern,
                };
                let re = compile_re(&anchored)?;
                Ok(match re.captures(&text).map_err(re_failed)? {
                    None => Value::from(()),
                    Some(c) => Value::from_object(Match {
                        groups: c.iter().map(|m| m.map(|m| m.as_str().to_owned())).collect(),
                    }),
                })
            }
            "findall" => {
                let (pattern, text, flags): (String, String, Option<i64>) =
                    minijinja::value::from_args(args)?;
                let re = compile_re(&flagged(pattern, flags))?;
                // Python's shapes: the match without groups, the group with one, a
                // tuple of every group (unmatched ones empty) with more.
                let text_of = |m: Option<fancy_regex::Match<'_>>| {
                    Value::from(m.map(|m| m.as_str().to_owned()).unwrap_or_default())
                };
                let mut out = Vec::new();
                for c in re.captures_iter(&text) {
                    let c = c.map_err(re_failed)?;
                    out.push(match c.len() {
                        1 => text_of(c.get(0)),
                        2 => text_of(c.get(1)),
                        n => Value::from_object(minijinja::value::Tuple::from(
                            (1..n).map(|i| text_of(c.get(i))).collect::<Vec<_>>(),
                        )),
                    });
                }
                Ok(Value::from(out))
            }
            "split" => {
                let (pattern, text, maxsplit, flags): (String, String, Option<usize>, Option<i64>) =
                    minijinja::value::from_args(args)?;
                let re = compile_re(&flagged(pattern, flags))?;
                let mut parts = Vec::new();
                let pieces: Box<dyn Iterator<Item = fancy_regex::Result<&str>>> =
                    match maxsplit.filter(|n| *n > 0) {
                        Some(n) => Box::new(re.splitn(&text, n + 1)),
                        None => Box::new(re.split(&text)),
                    };
                for p in pieces {
                    parts.push(p.map_err(re_failed)?.to_owned());
                }
                Ok(Value::from(parts))
            }
            "escape" => {
                let (text,): (String,) = minijinja::value::from_args(args)?;
                Ok(Value::from(regex::escape(&text)))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A `re` match: `.group(n)`, `.groups()`.
#[derive(Debug)]
struct Match {
    groups: Vec<Option<String>>,
}

impl Object for Match {
    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let get = |i: usize| {
            self.groups
                .get(i)
                .cloned()
                .flatten()
                .map_or(Value::from(()), Value::from)
        };
        match method {
            "group" => {
                let (n,): (Option<usize>,) = minijinja::value::from_args(args)?;
                Ok(get(n.unwrap_or(0)))
            }
            "groups" => Ok(Value::from(
                (1..self.groups.len()).map(get).collect::<Vec<_>>(),
            )),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
}

#[derive(Debug)]
struct Itertools;

impl Object for Itertools {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let lists: Vec<Vec<Value>> = args
            .iter()
            .map(|a| a.try_iter().map(Iterator::collect))
            .collect::<Result<_, _>>()?;
        match method {
            "chain" => Ok(Value::from(lists.concat())),
            "product" => {
                let mut acc: Vec<Vec<Value>> = vec![Vec::new()];
                for l in &lists {
                    acc = acc
                        .iter()
                        .flat_map(|prefix| {
                            l.iter().map(move |v| {
                                let mut p = prefix.clone();
                                p.push(v.clone());
                                p
                            })
                        })
                        .collect();
                }
                Ok(Value::from(
                    acc.into_iter().map(Value::from).collect::<Vec<_>>(),
                ))
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// `api`: `api.Relation` and `api.Column`.
#[derive(Debug)]
struct Api;

impl Object for Api {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "Relation" => Some(Value::from_object(RelationApi)),
            "Column" => Some(Value::from_object(ColumnApi)),
            _ => None,
        }
    }
}

/// The adapter type of the render (`target.type`).
pub(super) fn adapter_type(state: &State<'_, '_>) -> String {
    state
        .lookup("target")
        .and_then(|t| t.get_attr("type").ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "postgres".into())
}

/// The identifier quote of an adapter type (`target.type`).
pub(super) fn quote_char(adapter: &str) -> char {
    if matches!(adapter, "mysql" | "mariadb") {
        '`'
    } else {
        '"'
    }
}

/// `name` quoted for an adapter type, a quote inside it doubled (`adapter.quote`).
pub(super) fn quote_ident(adapter: &str, name: &str) -> String {
    let q = quote_char(adapter);
    format!("{q}{}{q}", name.replace(q, &format!("{q}{q}")))
}

/// Calls `method` on a relation built from `parts` as `api.Relation.create` builds it:
/// what relations from `ref`, `this` and `adapter.get_relation` answer for
/// `incorporate`, `include` and `quote`.
pub(super) fn relation_method(
    state: &mut State<'_, '_>,
    parts: [Option<String>; 3],
    kind: Option<String>,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let rel = Arc::new(new_relation(&adapter_type(state), parts, kind));
    rel.call_method(state, method, args)
}

/// A relation on an adapter of type `adapter`, every part quoted.
fn new_relation(adapter: &str, parts: [Option<String>; 3], kind: Option<String>) -> ApiRelation {
    ApiRelation {
        parts,
        quote: [true; 3],
        // MySQL and SQLite name relations by two parts.
        include: [
            !matches!(adapter, "mysql" | "mariadb" | "sqlite"),
            true,
            true,
        ],
        quote_char: quote_char(adapter),
        kind,
    }
}

/// `api.Relation.create(...)`.
#[derive(Debug)]
struct RelationApi;

impl Object for RelationApi {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        if method != "create" {
            return Err(Error::from(ErrorKind::UnknownMethod));
        }
        let (kwargs,): (Kwargs,) = minijinja::value::from_args(args)?;
        let part = |k: &str| -> Result<Option<String>, Error> {
            let v: Option<Value> = kwargs.get(k)?;
            Ok(v.filter(|v| !v.is_none() && !v.is_undefined())
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
        };
        let mut rel = new_relation(
            &adapter_type(state),
            [part("database")?, part("schema")?, part("identifier")?],
            part("type")?,
        );
        let policy: Option<Value> = kwargs.get("quote_policy")?;
        if let Some(p) = policy {
            for (i, k) in ["database", "schema", "identifier"].iter().enumerate() {
                if let Ok(v) = p.get_attr(k)
                    && !v.is_undefined()
                {
                    rel.quote[i] = v.is_true();
                }
            }
        }
        kwargs.assert_all_used()?;
        Ok(Value::from_object(rel))
    }
}

/// A relation built in Jinja: rendered from its parts, each quoted and included as
/// its policies say (dbt's `BaseRelation`).
#[derive(Debug, Clone)]
struct ApiRelation {
    parts: [Option<String>; 3],
    quote: [bool; 3],
    include: [bool; 3],
    quote_char: char,
    kind: Option<String>,
}

impl ApiRelation {
    fn rendered(&self) -> String {
        let q = self.quote_char;
        self.parts
            .iter()
            .enumerate()
            .filter(|(i, p)| self.include[*i] && p.as_deref().is_some_and(|p| !p.is_empty()))
            .map(|(i, p)| {
                let p = p.as_deref().unwrap_or_default();
                if self.quote[i] {
                    format!("{q}{}{q}", p.replace(q, &format!("{q}{q}")))
                } else {
                    p.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    fn flags(&self, kwargs: &Kwargs, current: [bool; 3]) -> Result<[bool; 3], Error> {
        let mut out = current;
        for (i, k) in ["database", "schema", "identifier"].iter().enumerate() {
            let v: Option<bool> = kwargs.get(k)?;
            if let Some(v) = v {
                out[i] = v;
            }
        }
        kwargs.assert_all_used()?;
        Ok(out)
    }
}

impl Object for ApiRelation {
    /// A relation is true in a test (`{% if rel %}`), as a Python object is; minijinja
    /// would count a map-like object without keys as empty, so false.
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    /// Its parts, so that two relations are equal, and distinct dict keys, by name.
    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Str(&["database", "schema", "identifier"])
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let opt = |p: &Option<String>| p.clone().map_or(Value::from(()), Value::from);
        Some(match key.as_str()? {
            "database" => opt(&self.parts[0]),
            "schema" => opt(&self.parts[1]),
            "identifier" | "name" | "table" => opt(&self.parts[2]),
            "type" => opt(&self.kind),
            "is_table" => Value::from(self.kind.as_deref() == Some("table")),
            "is_view" => Value::from(self.kind.as_deref() == Some("view")),
            "metadata" => crate::jinja::relation_metadata(),
            _ => return None,
        })
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rendered())
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let mut next = (**self).clone();
        match method {
            "render" => return Ok(Value::from(self.rendered())),
            // `<database>.INFORMATION_SCHEMA[.<view>]`, as dbt's `InformationSchema`
            // renders (audit_helper reads `relation.information_schema('columns')`).
            "information_schema" | "information_schema_only" => {
                let (view,): (Option<Value>,) = minijinja::value::from_args(args)?;
                let view = view.and_then(|v| v.as_str().map(str::to_owned));
                next.parts = [
                    self.parts[0].clone(),
                    None,
                    Some(match view {
                        Some(v) => format!("INFORMATION_SCHEMA.{v}"),
                        None => "INFORMATION_SCHEMA".to_owned(),
                    }),
                ];
                next.quote[2] = false;
                next.kind = Some("view".to_owned());
                return Ok(Value::from_object(next));
            }
            "include" => {
                let (kwargs,): (Kwargs,) = minijinja::value::from_args(args)?;
                next.include = self.flags(&kwargs, self.include)?;
            }
            "quote" => {
                let (kwargs,): (Kwargs,) = minijinja::value::from_args(args)?;
                next.quote = self.flags(&kwargs, self.quote)?;
            }
            "incorporate" => {
                let (kwargs,): (Kwargs,) = minijinja::value::from_args(args)?;
                let path: Option<Value> = kwargs.get("path")?;
                if let Some(path) = path {
                    for (i, k) in ["database", "schema", "identifier"].iter().enumerate() {
                        if let Ok(v) = path.get_attr(k)
                            && !v.is_undefined()
                        {
                            next.parts[i] = (!v.is_none())
                                .then(|| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
                        }
                    }
                }
                let kind: Option<String> = kwargs.get("type")?;
                if kind.is_some() {
                    next.kind = kind;
                }
                kwargs.assert_all_used()?;
            }
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        }
        Ok(Value::from_object(next))
    }
}

/// `api.Column`: dbt's type helpers.
#[derive(Debug)]
struct ColumnApi;

impl Object for ColumnApi {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    /// The methods as attributes, as Python has them: `api.Column.translate_type is
    /// defined` (dbt_artifacts tests it before calling it).
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        matches!(name, "translate_type" | "string_type" | "numeric_type").then(|| {
            let name = name.to_owned();
            Value::from_function(move |state: &State, args: Rest<Value>| {
                column_api(state, &name, &args)
            })
        })
    }

    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        column_api(state, method, args)
    }
}

fn column_api(state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
    let mysql = matches!(adapter_type(state).as_str(), "mysql" | "mariadb");
    match method {
        "translate_type" => {
            let (ty,): (String,) = minijinja::value::from_args(args)?;
            // dbt 1.10's `Column.TYPE_LABELS` maps only `string`; others pass through.
            Ok(Value::from(if ty.eq_ignore_ascii_case("string") {
                "TEXT".to_owned()
            } else {
                ty
            }))
        }
        "string_type" => {
            let (size,): (i64,) = minijinja::value::from_args(args)?;
            Ok(Value::from(if mysql {
                format!("varchar({size})")
            } else {
                format!("character varying({size})")
            }))
        }
        "numeric_type" => {
            let (ty, precision, scale): (String, Option<Value>, Option<Value>) =
                minijinja::value::from_args(args)?;
            Ok(Value::from(match (precision, scale) {
                (Some(p), Some(s)) if !p.is_none() && !s.is_none() => format!("{ty}({p},{s})"),
                _ => ty,
            }))
        }
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

/// `modules.datetime`: `date`, `datetime`, `timedelta` and their constructors. Their
/// arithmetic (`d + timedelta(days=1)`) is not available: the template engine has no
/// operators on objects.
#[derive(Debug)]
struct DatetimeModule;

impl Object for DatetimeModule {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "date" => Some(Value::from_object(TimeType(TimeKind::Date))),
            "datetime" => Some(Value::from_object(TimeType(TimeKind::DateTime))),
            "timedelta" => Some(Value::from_function(timedelta)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeKind {
    Date,
    DateTime,
    /// A datetime that prints with `+00:00` (`run_started_at`).
    DateTimeUtc,
    /// An aware datetime in a `pytz` zone; `at` is its wall time there.
    Zoned(chrono_tz::Tz),
    /// `datetime(..., tzinfo=pytz.timezone(name))`: pytz then attaches the zone's first
    /// offset, its local mean time rounded to the minute (`-07:53` for Los Angeles), not
    /// the offset in force; dbt_date's tests print it.
    Lmt(chrono_tz::Tz),
}

/// A zone's local mean time offset in seconds, as pytz rounds it (whole minutes).
fn lmt_seconds(tz: chrono_tz::Tz) -> i32 {
    use chrono::{Offset, TimeZone};
    let early = chrono::NaiveDate::from_ymd_opt(1800, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let secs = tz.offset_from_utc_datetime(&early).fix().local_minus_utc();
    (f64::from(secs) / 60.0).round() as i32 * 60
}

/// Python's `re` reads a `{` that does not open a repetition (`{2}`, `{2,}`, `{2,5}`,
/// `{,5}`) as itself, which the regex crate refuses: codegen matches `{{ ref(...) }}`
/// that way. Such braces are escaped; everything else is left to the regex crate.
fn python_braces(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len());
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                out.push(c);
                if let Some(next) = chars.get(i + 1) {
                    out.push(*next);
                }
                i += 2;
                continue;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '{' if !in_class => {
                let close = chars[i + 1..].iter().position(|c| *c == '}');
                let body: String =
                    close.map_or(String::new(), |n| chars[i + 1..i + 1 + n].iter().collect());
                let (lo, hi) = body.split_once(',').unwrap_or((&body, ""));
                let counted = close.is_some()
                    && !body.is_empty()
                    && lo.chars().all(|c| c.is_ascii_digit())
                    && hi.chars().all(|c| c.is_ascii_digit())
                    && !(lo.is_empty() && hi.is_empty());
                if !counted {
                    out.push_str("\\{");
                    i += 1;
                    continue;
                }
                if lo.is_empty() {
                    // Python's `{,5}` is the regex crate's `{0,5}`.
                    out.push_str(&format!("{{0,{hi}}}"));
                    i += 2 + body.len();
                    continue;
                }
            }
            '}' if !in_class => {
                // A `}` closing no repetition is literal in Python too.
                let opened = out
                    .rfind('{')
                    .is_some_and(|at| !out[..at].ends_with('\\') && !out[at..].contains('}'));
                if !opened {
                    out.push_str("\\}");
                    i += 1;
                    continue;
                }
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    out
}

/// `modules.pytz`: `timezone(name)`, `utc`/`UTC`.
#[derive(Debug)]
struct Pytz;

impl Object for Pytz {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "utc" | "UTC" => Some(Value::from_object(Zone(chrono_tz::Tz::UTC))),
            _ => None,
        }
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "timezone" => {
                let (name,): (String,) = minijinja::value::from_args(args)?;
                name.parse::<chrono_tz::Tz>()
                    .map(|tz| Value::from_object(Zone(tz)))
                    .map_err(|_| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!("pytz.UnknownTimeZoneError: '{name}'"),
                        )
                    })
            }
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A `pytz` time zone: prints as its name; `localize(dt)` makes a naive datetime aware.
#[derive(Debug)]
struct Zone(chrono_tz::Tz);

impl Object for Zone {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        match key.as_str()? {
            "zone" => Some(Value::from(self.0.name())),
            _ => None,
        }
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name())
    }

    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let (dt,): (Value,) = minijinja::value::from_args(args)?;
        let Some(d) = dt.downcast_object_ref::<DateTime>() else {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{method}() takes a datetime"),
            ));
        };
        match method {
            "localize" if matches!(d.kind, TimeKind::DateTime | TimeKind::Date) => {
                Ok(Value::from_object(DateTime {
                    at: d.at,
                    kind: TimeKind::Zoned(self.0),
                }))
            }
            "localize" => Err(Error::new(
                ErrorKind::InvalidOperation,
                "ValueError: Not naive datetime (tzinfo is already set)",
            )),
            "normalize" => Ok(Value::from_object(d.in_zone(self.0))),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// A `tz` argument (`datetime.now(tz)`, `astimezone(tz)`, `replace(tzinfo=tz)`).
fn zone_of(v: &Value) -> Option<chrono_tz::Tz> {
    v.downcast_object_ref::<Zone>().map(|z| z.0)
}

/// `datetime.date` / `datetime.datetime`: callable, with `now`, `utcnow`, `today`,
/// `strptime`.
#[derive(Debug)]
struct TimeType(TimeKind);

impl Object for TimeType {
    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn call(self: &Arc<Self>, _state: &mut State<'_, '_>, args: &[Value]) -> Result<Value, Error> {
        let (positional, kwargs): (&[Value], Kwargs) = minijinja::value::from_args(args)?;
        let tzinfo: Option<Value> = kwargs.get("tzinfo")?;
        let mut parts = positional
            .iter()
            .map(|v| i64::try_from(v.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        // Python's keyword form (`datetime(year=y, month=m, day=d, hour=h)`).
        const FIELDS: [&str; 7] = [
            "year",
            "month",
            "day",
            "hour",
            "minute",
            "second",
            "microsecond",
        ];
        for (i, name) in FIELDS.iter().enumerate() {
            if let Some(v) = kwargs.get::<Option<i64>>(name)? {
                if parts.len() <= i {
                    parts.resize(i + 1, if i < 3 { 1 } else { 0 });
                }
                parts[i] = v;
            }
        }
        kwargs.assert_all_used()?;
        let get = |i: usize, d: i64| parts.get(i).copied().unwrap_or(d);
        let bad = || Error::new(ErrorKind::InvalidOperation, "date out of range");
        let date = chrono::NaiveDate::from_ymd_opt(
            i32::try_from(get(0, 1)).map_err(|_| bad())?,
            u32::try_from(get(1, 1)).map_err(|_| bad())?,
            u32::try_from(get(2, 1)).map_err(|_| bad())?,
        )
        .ok_or_else(bad)?;
        let at = date
            .and_hms_micro_opt(
                u32::try_from(get(3, 0)).map_err(|_| bad())?,
                u32::try_from(get(4, 0)).map_err(|_| bad())?,
                u32::try_from(get(5, 0)).map_err(|_| bad())?,
                u32::try_from(get(6, 0)).map_err(|_| bad())?,
            )
            .ok_or_else(bad)?;
        let kind = match tzinfo.as_ref().filter(|v| !v.is_none()) {
            None => self.0,
            Some(v) => TimeKind::Lmt(zone_of(v).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("tzinfo: `{v}` is not a pytz zone"),
                )
            })?),
        };
        Ok(Value::from_object(DateTime { at, kind }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        let now = chrono::Utc::now().naive_utc();
        if method == "now"
            && let Some(tz) = args.first().and_then(zone_of)
        {
            let utc = DateTime {
                at: now,
                kind: TimeKind::DateTimeUtc,
            };
            return Ok(Value::from_object(utc.in_zone(tz)));
        }
        let at = match method {
            "now" | "utcnow" | "today" => now,
            "strptime" => {
                let (text, fmt): (String, String) = minijinja::value::from_args(args)?;
                chrono::NaiveDateTime::parse_from_str(&text, &fmt)
                    .or_else(|_| {
                        chrono::NaiveDate::parse_from_str(&text, &fmt)
                            .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                    })
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!("strptime: `{text}` does not match `{fmt}`: {e}"),
                        )
                    })?
            }
            "fromisoformat" => {
                let (text,): (String,) = minijinja::value::from_args(args)?;
                crate::incremental::parse_timestamp(&text).ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("fromisoformat: `{text}` is not an ISO date"),
                    )
                })?
            }
            _ => return Err(Error::from(ErrorKind::UnknownMethod)),
        };
        let at = if self.0 == TimeKind::Date {
            at.date().and_hms_opt(0, 0, 0).unwrap_or(at)
        } else {
            at
        };
        Ok(Value::from_object(DateTime { at, kind: self.0 }))
    }
}

/// A date or datetime value.
#[derive(Debug)]
struct DateTime {
    at: chrono::NaiveDateTime,
    kind: TimeKind,
}

impl DateTime {
    /// The instant in UTC; a naive datetime is taken as UTC, as dbt runs in UTC.
    fn utc(&self) -> chrono::NaiveDateTime {
        match self.kind {
            TimeKind::Zoned(tz) => {
                use chrono::TimeZone;
                tz.from_local_datetime(&self.at)
                    .earliest()
                    .map_or(self.at, |t| t.naive_utc())
            }
            TimeKind::Lmt(tz) => self.at - chrono::Duration::seconds(i64::from(lmt_seconds(tz))),
            _ => self.at,
        }
    }

    /// The same instant in `tz` (Python's `astimezone`).
    fn in_zone(&self, tz: chrono_tz::Tz) -> DateTime {
        use chrono::TimeZone;
        DateTime {
            at: tz.from_utc_datetime(&self.utc()).naive_local(),
            kind: TimeKind::Zoned(tz),
        }
    }

    /// The zone's offset at this wall time, as Python prints it (`+05:30`).
    fn offset(&self) -> Option<String> {
        use chrono::{Offset, TimeZone};
        let secs = match self.kind {
            TimeKind::DateTimeUtc => 0,
            TimeKind::Zoned(tz) => tz
                .offset_from_local_datetime(&self.at)
                .earliest()?
                .fix()
                .local_minus_utc(),
            TimeKind::Lmt(tz) => lmt_seconds(tz),
            _ => return None,
        };
        let sign = if secs < 0 { '-' } else { '+' };
        let secs = secs.abs();
        Some(format!("{sign}{:02}:{:02}", secs / 3600, secs % 3600 / 60))
    }

    fn iso(&self, sep: char) -> String {
        match self.kind {
            TimeKind::Date => self.at.format("%Y-%m-%d").to_string(),
            _ => {
                let micros = self.at.and_utc().timestamp_subsec_micros();
                let base = self
                    .at
                    .format(&format!("%Y-%m-%d{sep}%H:%M:%S"))
                    .to_string();
                let frac = if micros > 0 {
                    format!(".{micros:06}")
                } else {
                    String::new()
                };
                let tz = self.offset().unwrap_or_default();
                format!("{base}{frac}{tz}")
            }
        }
    }
}

impl Object for DateTime {
    // Python orders dates and datetimes by instant: `if run_started_at > cutoff`.
    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<std::cmp::Ordering> {
        Some(self.utc().cmp(&other.downcast_ref::<Self>()?.utc()))
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        use chrono::{Datelike, Timelike};
        let at = self.at;
        Some(Value::from(match key.as_str()? {
            "year" => i64::from(at.year()),
            "month" => i64::from(at.month()),
            "day" => i64::from(at.day()),
            "hour" => i64::from(at.hour()),
            "minute" => i64::from(at.minute()),
            "second" => i64::from(at.second()),
            "microsecond" => i64::from(at.and_utc().timestamp_subsec_micros()),
            "tzinfo" => {
                return Some(match self.kind {
                    TimeKind::Zoned(tz) | TimeKind::Lmt(tz) => Value::from_object(Zone(tz)),
                    TimeKind::DateTimeUtc => Value::from_object(Zone(chrono_tz::Tz::UTC)),
                    _ => Value::from(()),
                });
            }
            _ => return None,
        }))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.iso(' '))
    }

    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        use chrono::Datelike;
        match method {
            "isoformat" => Ok(Value::from(self.iso('T'))),
            "strftime" => {
                let (fmt,): (String,) = minijinja::value::from_args(args)?;
                // `%Z` and `%z` name the zone of an aware datetime, and nothing for a
                // naive one, as in Python.
                let zone = match self.kind {
                    TimeKind::Zoned(tz) => {
                        use chrono::TimeZone;
                        tz.from_local_datetime(&self.at)
                            .earliest()
                            .map(|t| (t.format("%Z").to_string(), t.format("%z").to_string()))
                    }
                    TimeKind::DateTimeUtc => Some(("UTC".to_owned(), "+0000".to_owned())),
                    TimeKind::Lmt(_) => self
                        .offset()
                        .map(|o| ("LMT".to_owned(), o.replace(':', ""))),
                    _ => None,
                }
                .unwrap_or_default();
                let fmt = fmt.replace("%Z", &zone.0).replace("%z", &zone.1);
                let mut out = String::new();
                write!(out, "{}", self.at.format(&fmt)).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        format!("strftime: bad format `{fmt}`"),
                    )
                })?;
                Ok(Value::from(out))
            }
            "date" => Ok(Value::from_object(DateTime {
                at: self.at.date().and_hms_opt(0, 0, 0).unwrap_or(self.at),
                kind: TimeKind::Date,
            })),
            "astimezone" => {
                let tz = args.first().and_then(zone_of).ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidOperation,
                        "astimezone() takes a time zone",
                    )
                })?;
                Ok(Value::from_object(self.in_zone(tz)))
            }
            "replace" => {
                let (kwargs,): (Kwargs,) = minijinja::value::from_args(args)?;
                self.replace(&kwargs)
            }
            "weekday" => Ok(Value::from(i64::from(
                self.at.weekday().num_days_from_monday(),
            ))),
            "timestamp" => Ok(Value::from(
                self.at.and_utc().timestamp_micros() as f64 / 1_000_000.0,
            )),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }
}

/// `timedelta(days, seconds, microseconds, milliseconds, minutes, hours, weeks)`, by
/// position or by name, as Python takes them.
impl DateTime {
    /// Python's `dt.replace(year=..., ..., tzinfo=...)`: the same wall time with the
    /// fields given changed; `tzinfo=None` makes it naive.
    fn replace(&self, kwargs: &Kwargs) -> Result<Value, Error> {
        use chrono::{Datelike, Timelike};
        let field = |key: &str| -> Result<Option<u32>, Error> {
            let v: Option<i64> = kwargs.get(key)?;
            v.map(|n| {
                u32::try_from(n)
                    .map_err(|_| Error::new(ErrorKind::InvalidOperation, format!("bad {key}")))
            })
            .transpose()
        };
        let bad =
            |key: &str| Error::new(ErrorKind::InvalidOperation, format!("{key} out of range"));
        let mut at = self.at;
        if let Some(y) = field("year")? {
            at = at
                .with_year(i32::try_from(y).map_err(|_| bad("year"))?)
                .ok_or_else(|| bad("year"))?;
        }
        for (key, set) in [
            (
                "month",
                chrono::NaiveDateTime::with_month
                    as fn(&chrono::NaiveDateTime, u32) -> Option<chrono::NaiveDateTime>,
            ),
            ("day", chrono::NaiveDateTime::with_day),
            ("hour", chrono::NaiveDateTime::with_hour),
            ("minute", chrono::NaiveDateTime::with_minute),
            ("second", chrono::NaiveDateTime::with_second),
        ] {
            if let Some(v) = field(key)? {
                at = set(&at, v).ok_or_else(|| bad(key))?;
            }
        }
        if let Some(us) = field("microsecond")? {
            at = at
                .with_nanosecond(us * 1000)
                .ok_or_else(|| bad("microsecond"))?;
        }
        let mut kind = self.kind;
        if let Some(tz) = kwargs.get::<Option<Value>>("tzinfo")? {
            // pytz zones attached directly (not by `localize`) take local mean time.
            kind = match zone_of(&tz) {
                Some(tz) => TimeKind::Lmt(tz),
                None if tz.is_none() => TimeKind::DateTime,
                None => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "tzinfo must be a time zone",
                    ));
                }
            };
        }
        kwargs.assert_all_used()?;
        Ok(Value::from_object(DateTime { at, kind }))
    }
}

fn timedelta(args: Rest<f64>, kwargs: Kwargs) -> Result<Value, Error> {
    const UNITS: [(&str, f64); 7] = [
        ("days", 86_400_000_000.0),
        ("seconds", 1_000_000.0),
        ("microseconds", 1.0),
        ("milliseconds", 1_000.0),
        ("minutes", 60_000_000.0),
        ("hours", 3_600_000_000.0),
        ("weeks", 604_800_000_000.0),
    ];
    if args.len() > UNITS.len() {
        return Err(Error::from(ErrorKind::TooManyArguments));
    }
    let mut micros: f64 = args.iter().zip(UNITS).map(|(v, (_, unit))| v * unit).sum();
    for (key, unit) in UNITS {
        let v: Option<f64> = kwargs.get(key)?;
        micros += v.unwrap_or(0.0) * unit;
    }
    kwargs.assert_all_used()?;
    Ok(Value::from_object(Timedelta(micros.round() as i64)))
}

/// `datetime.timedelta`, in microseconds: `days`, `seconds`, `microseconds`,
/// `total_seconds()`, printed as Python prints it (`2 days, 0:00:00`).
#[derive(Debug)]
struct Timedelta(i64);

impl Timedelta {
    const DAY: i64 = 86_400_000_000;

    fn parts(&self) -> (i64, i64, i64) {
        let days = self.0.div_euclid(Self::DAY);
        let rest = self.0.rem_euclid(Self::DAY);
        (days, rest / 1_000_000, rest % 1_000_000)
    }
}

impl Object for Timedelta {
    // Python: a zero timedelta is false, and timedeltas order by length.
    fn is_true(self: &Arc<Self>) -> bool {
        self.0 != 0
    }

    fn custom_cmp(self: &Arc<Self>, other: &DynObject) -> Option<std::cmp::Ordering> {
        Some(self.0.cmp(&other.downcast_ref::<Self>()?.0))
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let (days, seconds, micros) = self.parts();
        Some(Value::from(match key.as_str()? {
            "days" => days,
            "seconds" => seconds,
            "microseconds" => micros,
            _ => return None,
        }))
    }

    fn call_method(
        self: &Arc<Self>,
        _state: &mut State<'_, '_>,
        method: &str,
        _args: &[Value],
    ) -> Result<Value, Error> {
        match method {
            "total_seconds" => Ok(Value::from(self.0 as f64 / 1_000_000.0)),
            _ => Err(Error::from(ErrorKind::UnknownMethod)),
        }
    }

    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (days, seconds, micros) = self.parts();
        if days != 0 {
            write!(f, "{days} day{}, ", if days.abs() == 1 { "" } else { "s" })?;
        }
        write!(
            f,
            "{}:{:02}:{:02}",
            seconds / 3600,
            seconds % 3600 / 60,
            seconds % 60
        )?;
        if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        Ok(())
    }
}

/// What `a + b` and `a - b` call after the template rewrite when one side is a date,
/// datetime or timedelta (see [`datetime_ops`]).
const DATETIME_OP_FN: &str = "__dvt_dt_op";

fn datetime_op(op: String, a: Value, b: Value) -> Result<Value, Error> {
    let dt = |v: &Value| v.downcast_object_ref::<DateTime>().map(|d| (d.at, d.kind));
    let td = |v: &Value| v.downcast_object_ref::<Timedelta>().map(|t| t.0);
    let sign = if op == "-" { -1 } else { 1 };
    match (dt(&a), td(&a), dt(&b), td(&b)) {
        (Some((at, kind)), _, _, Some(micros)) => {
            let at = at + chrono::Duration::microseconds(sign * micros);
            Ok(Value::from_object(DateTime { at, kind }))
        }
        (_, Some(x), _, Some(y)) => Ok(Value::from_object(Timedelta(x + sign * y))),
        (Some(_), _, Some(_), _) if op == "-" => {
            // Aware datetimes subtract as instants.
            let instant = |v: &Value| v.downcast_object_ref::<DateTime>().map(DateTime::utc);
            let (Some(x), Some(y)) = (instant(&a), instant(&b)) else {
                return Err(Error::from(ErrorKind::InvalidOperation));
            };
            let micros = (x - y).num_microseconds().unwrap_or(i64::MAX);
            Ok(Value::from_object(Timedelta(micros)))
        }
        (_, Some(micros), Some((at, kind)), _) if op == "+" => {
            let at = at + chrono::Duration::microseconds(micros);
            Ok(Value::from_object(DateTime { at, kind }))
        }
        (None, None, None, None) => {
            // The rewrite took a name for a date that holds something else (`n + 1` after
            // `{% set n = (b - a).days %}`): the engine's own operator, as written.
            static PLAIN: std::sync::LazyLock<Environment<'static>> =
                std::sync::LazyLock::new(Environment::new);
            let expr = PLAIN.compile_expression(if op == "-" { "a - b" } else { "a + b" })?;
            expr.eval(minijinja::context! { a => a, b => b })
        }
        _ => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("cannot compute `{a} {op} {b}`"),
        )),
    }
}

/// Rewrites date arithmetic into calls of [`datetime_op`]: the template engine has no
/// operators on objects. Inside `{{ }}` and `{% %}`, `a + b` and `a - b` become a call
/// when an operand is spelled `modules.datetime.<...>`, is `run_started_at`, or starts
/// with a name a `{% set %}` bound to an expression using one of those (dbt projects
/// write `{% set start = modules.datetime.datetime.strptime(...) %}` and then
/// `(end - start).days`). A name taken for a date that holds a number or a string still
/// computes as written ([`datetime_op`] falls back to the engine's operator). An operand
/// next to a tighter operator (`*`, `/`, `%`, `|`, `~`) is left alone, so precedence
/// holds. Newlines are kept, so error lines hold.
pub(super) fn datetime_ops(text: &str) -> String {
    let timedelta_read = TIMEDELTA_READS.iter().any(|r| text.contains(r));
    if !text.contains("modules.datetime") && !text.contains("run_started_at") && !timedelta_read {
        return text.to_owned();
    }
    let known = datetime_names(text);
    rewrite_tags(text, |_, expr| rewrite_ops(expr, &known))
}

/// What `(b - a)` is followed by when it is a timedelta, whatever `a` and `b` are called.
const TIMEDELTA_READS: [&str; 4] = [").days", ").seconds", ").microseconds", ").total_seconds("];

/// Names a `{% set name = ... %}` binds to an expression that uses `modules.datetime`,
/// `run_started_at` or another such name.
fn datetime_names(text: &str) -> BTreeSet<String> {
    let sets: Vec<(&str, &str)> = tags(text)
        .into_iter()
        .filter(|t| t.statement)
        .filter_map(|t| set_assignment(&text[t.inner]))
        .collect();
    let mut known: BTreeSet<String> = ["run_started_at".to_owned()].into();
    loop {
        let before = known.len();
        for (name, value) in &sets {
            let uses = value.contains("modules.datetime")
                || value
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|word| known.contains(word));
            if uses {
                known.insert((*name).to_owned());
            }
        }
        if known.len() == before {
            return known;
        }
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

/// `a + b` / `a - b` in one tag's expression text, rewritten where an operand is a date.
fn rewrite_ops(expr: &str, known: &BTreeSet<String>) -> String {
    let is_date = |operand: &str| {
        let operand = operand.trim_start_matches('(');
        let root: String = operand
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        operand.starts_with("modules.datetime.") || root == DATETIME_OP_FN || known.contains(&root)
    };
    let mut s = expr.to_owned();
    let mut from = 0;
    while let Some(op_at) = next_operator(&s, from) {
        from = op_at + 1;
        let op = &s[op_at..=op_at];
        let left_end = s[..op_at].trim_end().len();
        let Some(left_start) = chain_start(&s[..left_end]) else {
            continue;
        };
        let right_start = s.len() - s[op_at + 1..].trim_start().len();
        let Some(right_len) = chain_len(&s[right_start..]) else {
            continue;
        };
        let right_end = right_start + right_len;
        let (left, right) = (&s[left_start..left_end], &s[right_start..right_end]);
        let keyword = matches!(
            left,
            "in" | "and" | "or" | "not" | "if" | "else" | "is" | "return"
        );
        let tighter_before = s[..left_start]
            .trim_end()
            .ends_with(['|', '*', '/', '%', '~', '.']);
        let tighter_after = s[right_end..]
            .trim_start()
            .starts_with(['|', '*', '/', '%', '~', '.', '(', '[']);
        // `(b - a).days` reads a timedelta whatever `a` and `b` are called (macro arguments).
        let timedelta_read = s[..left_start].trim_end().ends_with('(')
            && TIMEDELTA_READS
                .iter()
                .any(|attr| s[right_end..].trim_start().starts_with(attr));
        if left.is_empty()
            || right.is_empty()
            || keyword
            || tighter_before
            || tighter_after
            || !(timedelta_read || is_date(left) || is_date(right))
        {
            continue;
        }
        let replacement = format!("{DATETIME_OP_FN}('{op}', {left}, {right})");
        s.replace_range(left_start..right_end, &replacement);
        from = left_start + replacement.len();
    }
    s
}

/// The next `+` or `-` at or after `from` outside a string literal.
fn next_operator(s: &str, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    unquoted(s).find(|&i| i >= from && (b[i] == b'+' || b[i] == b'-'))
}

/// Where the operand ending at the end of `s` starts: a dotted name, calls and indexes
/// chained on it, or a parenthesised group. `None` when the groups do not balance.
fn chain_start(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut j = b.len();
    loop {
        let before = j;
        if j > 0 && matches!(b[j - 1], b')' | b']') {
            let (open, close) = if b[j - 1] == b')' {
                ('(', ')')
            } else {
                ('[', ']')
            };
            j = balanced_back(&s[..j], open, close)?;
        }
        while j > 0 && is_word(b[j - 1]) {
            j -= 1;
        }
        let chained = j > 0 && j < before && matches!(b[j - 1], b')' | b']') && b[j] == b'.';
        if j == before || !chained {
            return Some(j);
        }
    }
}

/// The length of the operand at the start of `s` (see [`chain_start`]).
fn chain_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut j = 0;
    if b.first() == Some(&b'(') {
        j += balanced(s, '(', ')')?;
    }
    loop {
        while j < b.len() && is_word(b[j]) {
            j += 1;
        }
        match b.get(j) {
            Some(b'(') => j += balanced(&s[j..], '(', ')')?,
            Some(b'[') => j += balanced(&s[j..], '[', ']')?,
            _ => return Some(j),
        }
    }
}

/// Length of the `| filter(args)` chain at the start of `s`: in Python's Jinja a filter
/// binds tighter than `%`, so `'%s' % x | upper` formats `x | upper`.
fn filters_len(s: &str) -> usize {
    let mut done = 0;
    loop {
        let rest = &s[done..];
        let Some(after_bar) = rest.trim_start_matches([' ', '\t']).strip_prefix('|') else {
            return done;
        };
        let name_start = rest.len() - after_bar.trim_start_matches([' ', '\t']).len();
        match chain_len(&rest[name_start..]) {
            Some(n) if n > 0 => done += name_start + n,
            _ => return done,
        }
    }
}

/// Whether `s` is one bracketed group (`[a, [b]]`), not two (`[a] + [b]`).
pub(super) fn is_one_group(s: &str) -> bool {
    let (open, close) = match s.chars().next() {
        Some('[') => ('[', ']'),
        Some('(') => ('(', ')'),
        Some('{') => ('{', '}'),
        _ => return false,
    };
    balanced(s, open, close) == Some(s.len())
}

/// Length of the balanced `open ... close` group at the start of `s`; brackets inside
/// string literals do not count.
fn balanced(s: &str, open: char, close: char) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0;
    for i in unquoted(s) {
        if b[i] == open as u8 {
            depth += 1;
        } else if b[i] == close as u8 {
            depth -= 1;
            if depth == 0 {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Where the `open` matching the `close` that ends `s` is.
fn balanced_back(s: &str, open: char, close: char) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in s.char_indices().rev() {
        if c == close {
            depth += 1;
        } else if c == open {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str) -> String {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        register(&mut env);
        env.render_str(src, ()).expect("renders")
    }

    #[test]
    fn values_print_as_python_prints_them() {
        assert_eq!(
            render(
                "{{ ['a', 'b'] }}|{{ {'k': 'v', 'n': 1} }}|{{ none }}|{{ true }}|{{ 1.0 }}|{{ 10 / 4 }}|{{ \"it's\" }}"
            ),
            "['a', 'b']|{'k': 'v', 'n': 1}|None|True|1.0|2.5|it's"
        );
        assert_eq!(render("{{ [\"it's\"] }}"), "[\"it's\"]");
        assert_eq!(render("{{ ('x', 1) }}|{{ ('x',) }}"), "('x', 1)|('x',)");
    }

    #[test]
    fn json_yaml_and_friends() {
        assert_eq!(
            render(r#"{{ tojson(fromjson('{"b": 2, "a": [1, 2, 3]}')) }}"#),
            r#"{"b": 2, "a": [1, 2, 3]}"#
        );
        assert_eq!(render(r#"{{ fromjson("nope", "dflt") }}"#), "dflt");
        assert_eq!(
            render(
                "{{ set(['a', 'b', 'a']) == set(['b', 'a']) }}{{ set(['a']) != set(['b']) }}{{ set(['a', 'b']) | length }}{{ set(['a']).union(['c']) | join }}{% set s = set() %}{% do s.add(1) %}{{ s | list }}{{ set([1]).issubset([1, 2]) }}"
            ),
            "TrueTrue2ac[1]True"
        );
        assert_eq!(
            render(r#"{{ toyaml({"key": "value", "list": [1, 2]}) }}"#),
            "key: value\nlist:\n- 1\n- 2\n"
        );
        assert_eq!(
            render("{% set y = fromyaml('a: 1\\nb: [x, y]') %}{{ y.a }}{{ y.b | join('') }}"),
            "1xy"
        );
        assert_eq!(render("{{ set(['x', 'y', 'x']) | length }}"), "2");
        assert_eq!(
            render("{{ zip([1, 2], ['a', 'b']) }}"),
            "[[1, 'a'], [2, 'b']]"
        );
        assert_eq!(
            render("{{ local_md5('golden') }}"),
            crate::sql::md5_hex(b"golden")
        );
    }

    #[test]
    fn a_pytz_zone_given_as_tzinfo_takes_local_mean_time() {
        // What Python prints (dbt_date's integration tests compile this value).
        assert_eq!(
            render(
                "{{ modules.datetime.datetime(1997, 9, 29, 6, 14, 0, tzinfo=modules.pytz.timezone('America/Los_Angeles')) }}|{{ modules.datetime.datetime(2020, 1, 1, tzinfo=modules.pytz.utc) }}|{{ modules.pytz.timezone('America/Los_Angeles').localize(modules.datetime.datetime(1997, 9, 29)) }}"
            ),
            "1997-09-29 06:14:00-07:53|2020-01-01 00:00:00+00:00|1997-09-29 00:00:00-07:00"
        );
    }

    #[test]
    fn python_regex_braces_are_literal_unless_they_count() {
        assert_eq!(
            python_braces(r"({{\s*ref)(\)\s*}})"),
            r"(\{\{\s*ref)(\)\s*\}\})"
        );
        assert_eq!(
            python_braces(r"a{2}b{2,}c{,3}[{}]\{"),
            r"a{2}b{2,}c{0,3}[{}]\{"
        );
        assert_eq!(
            render(
                r#"{% set p %}{% raw %}(?ix) (from|join)\s+ ({{\s*ref\s*\(\s*['"]?) ([^)'"]+){% endraw %}{% endset %}{% set h %}{% raw %}select * from {{ ref('orders') }}{% endraw %}{% endset %}{{ modules.re.findall(p, h) }}"#
            ),
            r#"[('from', "{{ ref('", 'orders')]"#
        );
    }

    #[test]
    fn python_regexes_look_around_and_replace_as_python_does() {
        // dbt-codegen's patterns: a look-ahead, `\g<n>` replacements, a count.
        assert_eq!(
            render(
                r#"{{ modules.re.sub('(from)\\s+(\\w+)(?=\\s|$)', '\\g<1> src_\\2', 'select * from orders where from x') }}|{{ modules.re.sub('a', '$', 'aaa', 2) }}|{{ modules.re.findall('o(?!r)', 'foo or') | length }}"#
            ),
            "select * from src_orders where from src_x|$$a|2"
        );
        assert_eq!(python_replacement(r"\1-\g<name>-$"), "${1}-${name}-$$");
        assert_eq!(
            render(
                r#"{{ modules.re.findall('select', 'SELECT 1; select 2', modules.re.IGNORECASE) | length }}{{ modules.re.search('^b', 'a\nb', modules.re.M) is not none }}{{ modules.re.split(',', 'a,b,c', 1) | join('|') }}"#
            ),
            "2Truea|b,c"
        );
    }

    #[test]
    fn relations_name_their_information_schema() {
        assert_eq!(
            render(
                "{{ api.Relation.create(database='test', schema='s', identifier='t').information_schema('columns') }}|{{ api.Relation.create(database='test', schema='s', identifier='t').information_schema() }}"
            ),
            "\"test\".INFORMATION_SCHEMA.columns|\"test\".INFORMATION_SCHEMA"
        );
    }

    #[test]
    fn dbt_conversion_filters_print_their_value() {
        assert_eq!(
            render(
                r#"{{ '5432' | as_number }}|{{ 'True' | as_bool }}|{{ '{"a": 1}' | as_native }}|{{ 7 | as_text ~ 'x' }}"#
            ),
            r#"5432|True|{"a": 1}|7x"#
        );
    }

    #[test]
    fn percent_formatting_is_rewritten() {
        let src = percent_format(
            r#"{{ "%s has %d items" % ("cart", 3) }} 5 % 2 {{ "%05.1f|%-3s|%%" % (3.14159, 'a') }}"#,
        );
        assert!(src.contains("__dvt_percent("), "{src}");
        assert_eq!(render(&src), "cart has 3 items 5 % 2 003.1|a  |%");
        assert_eq!(
            render(&percent_format("{{ '%s!' % name }}{% set name = 'x' %}")),
            "!"
        );
    }

    #[test]
    fn relations_and_columns_from_the_api() {
        let r = |src: &str| {
            let mut env = Environment::new();
            register(&mut env);
            env.render_str(
                src,
                minijinja::context! { target => minijinja::context! { type => "postgres" } },
            )
            .expect("renders")
        };
        assert_eq!(
            r(
                "{% set rel = api.Relation.create(database='d', schema='s', identifier='T') %}{{ rel }}|{{ rel.include(database=false) }}|{{ rel.incorporate(path={'identifier': 'o'}) }}|{{ rel.identifier }}"
            ),
            "\"d\".\"s\".\"T\"|\"s\".\"T\"|\"d\".\"s\".\"o\"|T"
        );
        assert_eq!(
            r(
                "{{ api.Relation.create(schema='raw', identifier='Events', quote_policy={'identifier': false}) }}"
            ),
            "\"raw\".Events"
        );
        assert_eq!(
            r(
                "{{ api.Column.translate_type('string') }} {{ api.Column.string_type(20) }} {{ api.Column.numeric_type('numeric', 12, 3) }} {{ api.Column.translate_type is defined }}"
            ),
            "TEXT character varying(20) numeric(12,3) True"
        );
    }

    #[test]
    fn date_arithmetic_through_the_rewrite() {
        let src = datetime_ops(
            "{% set d = modules.datetime.date(2020, 2, 28) %}{% set dt = modules.datetime.datetime(2021, 3, 4, 5, 6, 7) %}{{ d + modules.datetime.timedelta(days=2) }}|{{ (dt - modules.datetime.datetime(2021, 1, 1)).days }}|{{ dt - modules.datetime.timedelta(hours=6) }}|{{ modules.datetime.timedelta(days=2, hours=1) }}",
        );
        assert_eq!(
            render(&src),
            "2020-03-01|62|2021-03-03 23:06:07|2 days, 1:00:00"
        );
        // Other subtraction is left alone.
        assert_eq!(datetime_ops("{{ 5 - 3 }}"), "{{ 5 - 3 }}");
    }

    #[test]
    fn pytz_zones_localize_convert_and_print_as_python_does() {
        let src = datetime_ops(
            "{% set tz = modules.pytz.timezone('America/New_York') %}{% set d = modules.datetime.datetime(2024, 7, 1, 12, 0, 0) %}\
             {{ tz }}|{{ tz.localize(d) }}|{{ tz.localize(d).astimezone(modules.pytz.utc) }}|\
             {{ d.replace(tzinfo=modules.pytz.utc).astimezone(tz).strftime('%Y-%m-%d %H:%M %Z %z') }}|\
             {{ modules.pytz.timezone('Asia/Kolkata').localize(d).isoformat() }}|\
             {{ (tz.localize(d) - modules.pytz.UTC.localize(d)).total_seconds() }}|\
             {{ tz.localize(d) > modules.pytz.utc.localize(d) }}|{{ tz.localize(d).tzinfo.zone }}|\
             {{ d.replace(hour=3, day=2) }}|{{ modules.datetime.datetime.now(tz).tzinfo }}",
        );
        assert_eq!(
            render(&src),
            "America/New_York|2024-07-01 12:00:00-04:00|2024-07-01 16:00:00+00:00|\
             2024-07-01 08:00 EDT -0400|2024-07-01T12:00:00+05:30|14400.0|True|America/New_York|\
             2024-07-02 03:00:00|America/New_York"
        );
        let mut env = Environment::new();
        register(&mut env);
        let err = env
            .render_str("{{ modules.pytz.timezone('Mars/Base') }}", ())
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("UnknownTimeZoneError: 'Mars/Base'"),
            "{err}"
        );
    }

    #[test]
    fn dates_and_timedeltas_compare_and_test_as_python_does() {
        let src = datetime_ops(
            "{% set dt = modules.datetime %}{% set a = dt.date(2020, 1, 1) %}{% set b = dt.date(2020, 1, 3) %}\
             {{ 'z' if dt.timedelta(0) else 'nz' }}|{{ 'y' if (b - a) else 'n' }}|{{ a < b }}|{{ b <= a }}|\
             {{ dt.timedelta(days=1) < dt.timedelta(hours=25) }}|{{ (b - a) == dt.timedelta(days=2) }}|\
             {{ [b, a] | sort | join(',') }}",
        );
        assert_eq!(
            render(&src),
            "nz|y|True|False|True|True|2020-01-01,2020-01-03"
        );
    }

    #[test]
    fn percent_operands_are_whole_python_operands() {
        // A call, an index and a number are operands as in Python; a quoted `%}` or `}}`
        // does not end the tag.
        assert_eq!(
            render(&percent_format(
                "{% set xs = ['a', 'b'] %}{{ '%s-%s' % (xs[0], 'x') }}|{{ '%s' % xs[1] }}|{{ '%d%%' % 5 }}|{{ '%s' % '}}' }}"
            )),
            "a-x|b|5%|}}"
        );
        assert_eq!(
            render(&percent_format(
                "{% set s = 'a b' %}{{ '[%s]' % s.split(' ')[1] }}"
            )),
            "[b]"
        );
        // Filters bind tighter than `%`; what follows the filters stays outside.
        assert_eq!(
            render(&percent_format(
                "{% set x = 'ab' %}{{ '<%s>' % x | upper }}|{{ '%s' % x|replace('a', 'z') | upper ~ '!' }}|{{ '%d' % 3 + 1 if false else 'n' }}"
            )),
            "<AB>|ZB!|n"
        );
    }

    #[test]
    fn arithmetic_between_date_variables() {
        let src = "{% set start = modules.datetime.datetime.strptime('2024-01-30', '%Y-%m-%d') %}\
            {%- set end = modules.datetime.datetime(2024, 3, 2, 12) -%}\
            {%- set span = end - start -%}\
            {%- set days = (end - start).days -%}\
            {{ days }}|{{ days + 1 }}|{{ span.days * 2 }}|{{ (end - start).days - 1 }}|{{ span + span }}|\
            {{ end - span }}|{{ start.year - 2000 }}|{{ start.strftime('%Y') + '-x' }}|{{ -days }}|{{ 10 - days * 2 }}|\
            {% for i in range((end - start).days // 10) %}{{ (start + modules.datetime.timedelta(days=i * 10)).strftime('%m%d') }} {% endfor %}";
        assert_eq!(
            render(&datetime_ops(src)),
            "32|33|64|31|65 days, 0:00:00|2024-01-30 00:00:00|24|2024-x|-32|-54|0130 0209 0219 "
        );
        // Outside tags, and in comments and raw blocks, nothing changes.
        let in_macro = "{% macro span(a, b) %}{{ (b - a).days }}{% endmacro %}{{ span(modules.datetime.date(2024, 1, 1), modules.datetime.date(2024, 2, 1)) }}";
        assert_eq!(render(&datetime_ops(in_macro)), "31");
        let text = "{% set end = run_started_at %}select end - start {# end - start #}{% raw %}{{ end - start }}{% endraw %}";
        assert_eq!(datetime_ops(text), text);
        // A filter binds tighter than `-`: the operand is left as written.
        assert_eq!(
            datetime_ops("{% set d = run_started_at %}{{ 5 - d | length }}"),
            "{% set d = run_started_at %}{{ 5 - d | length }}"
        );
    }

    #[test]
    fn dates_without_arithmetic() {
        assert_eq!(
            render(
                "{% set d = modules.datetime.date(2020, 2, 28) %}{{ d.isoformat() }} {{ d.year }} {{ modules.datetime.datetime(2021, 3, 4, 5, 6, 7).strftime('%Y/%m/%d %H:%M:%S') }} {{ modules.datetime.datetime.strptime('2020-07-04', '%Y-%m-%d').strftime('%A') }} {{ run_started_at.year > 2000 }}"
            ),
            "2020-02-28 2020 2021/03/04 05:06:07 Saturday True"
        );
    }

    #[test]
    fn re_and_itertools() {
        assert_eq!(
            render(r#"{{ modules.re.sub("[aeiou]", "_", "jaffle shop") }}"#),
            "j_ffl_ sh_p"
        );
        assert_eq!(
            render(r#"{{ modules.re.search("([0-9]+)", "order 1234 shipped").group(1) }}"#),
            "1234"
        );
        assert_eq!(
            render(r#"{{ modules.re.match("^[a-z]+_[0-9]+$", "stg_42") is not none }}"#),
            "True"
        );
        assert_eq!(
            render(r#"{{ modules.re.split(",\s*", "a, b,c") | join("|") }}"#),
            "a|b|c"
        );
        assert_eq!(
            render("{{ modules.itertools.chain([1, 2], [3]) | list | join(',') }}"),
            "1,2,3"
        );
        assert_eq!(
            render(
                "{% for a, b in modules.itertools.product(['x', 'y'], [1, 2]) %}{{ a }}{{ b }} {% endfor %}"
            ),
            "x1 x2 y1 y2 "
        );
    }
}
