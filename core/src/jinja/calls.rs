//! The macros a macro's text calls, found by reading it rather than running it: what
//! dbt-core records as a macro's `depends_on.macros` (its `statically_extract_macro_calls`
//! walks the Jinja tree for calls). `state:modified.macros` follows these edges, so a
//! change to a macro reaches every node that calls it through others.
//!
//! A call here is what Jinja parses as a call of a name (`foo(...)`) or of one attribute
//! of a name (`pkg.foo(...)`); filters (`| foo(...)`), tests (`is foo(...)`) and calls of
//! longer chains (`a.b.c(...)`, `x().y(...)`) are not, as in dbt. Names that are no macro
//! (`range`, a macro's own argument) fall away when the caller resolves them.

use super::python::{TAG_TRIM, tags, unquoted};

/// One call found in a macro's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Call {
    /// `name(...)`, or `package.name(...)` as `package.name`.
    Named(String),
    /// `adapter.dispatch('name', 'namespace')`: the macro the dispatch picks.
    Dispatch {
        name: String,
        namespace: Option<String>,
    },
}

/// Words of Jinja's grammar that a `(` may follow without making a call.
const KEYWORDS: [&str; 17] = [
    "and",
    "or",
    "not",
    "in",
    "is",
    "if",
    "elif",
    "else",
    "for",
    "call",
    "filter",
    "set",
    "do",
    "with",
    "macro",
    "test",
    "recursive",
];

/// Every call in `text` (a macro's whole `{% macro %}...{% endmacro %}` block), in order,
/// without repeats.
pub(super) fn static_calls(text: &str) -> Vec<Call> {
    let mut out = Vec::new();
    for tag in tags(text) {
        let expr = text[tag.inner].trim_matches(TAG_TRIM);
        // A definition's own name is not a call; its defaults may hold some.
        let expr = match expr.split_once(char::is_whitespace) {
            Some(("macro" | "test" | "materialization", rest)) if tag.statement => rest
                .trim_start()
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map_or("", |at| &rest.trim_start()[at..]),
            _ => expr,
        };
        for call in calls_in(expr) {
            if !out.contains(&call) {
                out.push(call);
            }
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The calls of one tag's expression.
fn calls_in(expr: &str) -> Vec<Call> {
    let bytes = expr.as_bytes();
    let mut free = vec![false; bytes.len()];
    for i in unquoted(expr) {
        free[i] = true;
    }
    let skip_ws = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let ident_end = |mut i: usize| {
        while i < bytes.len() && is_ident(bytes[i]) {
            i += 1;
        }
        i
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts_name = free[i]
            && (bytes[i].is_ascii_alphabetic() || bytes[i] == b'_')
            && (i == 0 || !is_ident(bytes[i - 1]));
        if !starts_name {
            i += 1;
            continue;
        }
        let start = i;
        let mut chain = vec![&expr[i..ident_end(i)]];
        i = ident_end(i);
        loop {
            let dot = skip_ws(i);
            if dot < bytes.len() && bytes[dot] == b'.' && free[dot] {
                let next = skip_ws(dot + 1);
                if next < bytes.len() && (bytes[next].is_ascii_alphabetic() || bytes[next] == b'_')
                {
                    chain.push(&expr[next..ident_end(next)]);
                    i = ident_end(next);
                    continue;
                }
            }
            break;
        }
        let paren = skip_ws(i);
        if paren >= bytes.len() || bytes[paren] != b'(' || !free[paren] {
            continue;
        }
        let before = expr[..start].trim_end();
        let filter_or_test = before.ends_with('|')
            || before.ends_with('.')
            || before
                .strip_suffix("is")
                .is_some_and(|b| b.is_empty() || !is_ident(*b.as_bytes().last().unwrap_or(&b' ')));
        if filter_or_test {
            continue;
        }
        match chain.as_slice() {
            [name] if KEYWORDS.contains(name) => {}
            [name] => out.push(Call::Named((*name).to_owned())),
            ["adapter", "dispatch"] => {
                if let Some(call) = dispatch_call(&expr[paren + 1..], &free[paren + 1..]) {
                    out.push(call);
                }
            }
            ["adapter", _] => {}
            [package, name] => out.push(Call::Named(format!("{package}.{name}"))),
            _ => {}
        }
    }
    out
}

/// `adapter.dispatch(...)` from just after its `(`: the literal macro name and namespace
/// (positional or `macro_name=`/`macro_namespace=`), as dbt reads them statically.
fn dispatch_call(args: &str, free: &[bool]) -> Option<Call> {
    let bytes = args.as_bytes();
    let mut depth = 0usize;
    let mut parts = Vec::new();
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !free[i] {
            continue;
        }
        match b {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' if depth == 0 => {
                parts.push(&args[from..i]);
                break;
            }
            b')' | b']' | b'}' => depth -= 1,
            b',' if depth == 0 => {
                parts.push(&args[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    let literal = |s: &str| {
        let s = s.trim();
        let q = s.chars().next().filter(|c| *c == '\'' || *c == '"')?;
        s.strip_prefix(q)?.strip_suffix(q).map(str::to_owned)
    };
    let (mut name, mut namespace) = (None, None);
    let mut position = 0;
    for part in parts {
        let keyword = part.split_once('=').filter(|(k, v)| {
            !v.starts_with('=') && k.trim().bytes().all(is_ident) && !k.trim().is_empty()
        });
        match keyword {
            Some((k, v)) if k.trim() == "macro_name" => name = literal(v),
            Some((k, v)) if k.trim() == "macro_namespace" => namespace = literal(v),
            Some(_) => {}
            None => {
                match position {
                    0 => name = literal(part),
                    1 => namespace = literal(part),
                    _ => {}
                }
                position += 1;
            }
        }
    }
    Some(Call::Dispatch {
        name: name?,
        namespace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(names: &[&str]) -> Vec<Call> {
        names.iter().map(|n| Call::Named((*n).to_owned())).collect()
    }

    #[test]
    fn finds_calls_as_jinja_parses_them() {
        let text = r#"{% macro outer(a, b=default_b()) -%}
  {#- helper() in a comment -#}
  {%- set cols = get_cols(a) | map(attribute='name') | list -%}
  {%- if not (a is none) and cols is divisibleby(2) -%}
    {{ return(dbt_utils.star(from=a)) }}
  {%- endif -%}
  {% call statement('main', fetch_result=True) %} select 'x(' {% endcall %}
  {{ cols.append('y') }} {{ load_result('main').table.columns(1) }} {{ outer(1) }}
  {% for c in range(3) %}{{ log("helper(" ~ c) }}{% endfor %}
{%- endmacro %}"#;
        assert_eq!(
            static_calls(text),
            named(&[
                "default_b",
                "get_cols",
                "return",
                "dbt_utils.star",
                "statement",
                "cols.append",
                "load_result",
                "outer",
                "range",
                "log",
            ])
        );
    }

    #[test]
    fn reads_dispatch_names_and_namespaces() {
        let text = "{% macro d() %}{{ return(adapter.dispatch('date_spine', 'dbt_utils')(x)) }}\
            {{ adapter.dispatch(macro_name = \"hash\", macro_namespace='dbt')() }}\
            {{ adapter.dispatch('plain')() }}{{ adapter.quote('x') }}\
            {{ adapter.dispatch(name_var)() }}{% endmacro %}";
        assert_eq!(
            static_calls(text),
            vec![
                Call::Named("return".into()),
                Call::Dispatch {
                    name: "date_spine".into(),
                    namespace: Some("dbt_utils".into())
                },
                Call::Dispatch {
                    name: "hash".into(),
                    namespace: Some("dbt".into())
                },
                Call::Dispatch {
                    name: "plain".into(),
                    namespace: None
                },
            ]
        );
    }
}
