//! `Link` headers (RFC 8288) as ACME servers send them: `rel="alternate"` on a
//! certificate download names the alternate chains (RFC 8555 §7.4.2), `rel="up"`
//! the parent resource, `rel="index"` the directory.

use http::HeaderMap;

/// One link-value: its target and its relation types (lower-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub target: String,
    pub rels: Vec<String>,
}

/// The targets of every link with relation `rel` in `headers`, resolved against
/// `base` (the URL the response came from), in the order the server sent them.
pub fn links_with_rel(headers: &HeaderMap, rel: &str, base: &str) -> Vec<String> {
    headers
        .get_all(http::header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_link_header)
        .filter(|l| l.rels.iter().any(|r| r.eq_ignore_ascii_case(rel)))
        .map(|l| resolve(base, &l.target))
        .collect()
}

/// Parses one `Link` header field value: comma-separated link-values, each
/// `<target>` followed by `;`-separated parameters (quoted or not). A malformed
/// link-value is skipped, the rest are kept.
pub fn parse_link_header(value: &str) -> Vec<Link> {
    split_outside(value, ',')
        .into_iter()
        .filter_map(|part| parse_link_value(part.trim()))
        .collect()
}

fn parse_link_value(s: &str) -> Option<Link> {
    let rest = s.strip_prefix('<')?;
    let end = rest.find('>')?;
    let target = rest[..end].trim().to_string();
    let mut rels = Vec::new();
    for param in split_outside(&rest[end + 1..], ';') {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("rel") {
            continue;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        // rel is a space-separated list of relation types.
        rels.extend(value.split_ascii_whitespace().map(str::to_ascii_lowercase));
    }
    Some(Link { target, rels })
}

/// `s` split at `sep` where it is neither inside `<…>` nor inside `"…"`.
fn split_outside(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut in_angle, mut in_quote, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quote => escaped = true,
            '"' if !in_angle => in_quote = !in_quote,
            '<' if !in_quote => in_angle = true,
            '>' if !in_quote => in_angle = false,
            c if c == sep && !in_angle && !in_quote => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `reference` resolved against the absolute URL `base` (RFC 3986 §5.2, enough for
/// the references servers send: absolute, network-path, absolute-path, relative-path
/// and query-only ones; dot segments are left as they are).
pub fn resolve(base: &str, reference: &str) -> String {
    if has_scheme(reference) {
        return reference.to_string();
    }
    let Some((scheme, after_scheme)) = base.split_once("://") else {
        return reference.to_string();
    };
    if let Some(rest) = reference.strip_prefix("//") {
        return format!("{scheme}://{rest}");
    }
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let origin = &base[..scheme.len() + 3 + authority_end];
    let path_and_more = &after_scheme[authority_end..];
    let path = path_and_more
        .split(['?', '#'])
        .next()
        .unwrap_or(path_and_more);
    if reference.is_empty() {
        return base.split('#').next().unwrap_or(base).to_string();
    }
    if reference.starts_with('/') {
        return format!("{origin}{reference}");
    }
    if reference.starts_with('?') {
        return format!("{origin}{path}{reference}");
    }
    if reference.starts_with('#') {
        let without_fragment = base.split('#').next().unwrap_or(base);
        return format!("{without_fragment}{reference}");
    }
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "/",
    };
    format!("{origin}{dir}{reference}")
}

/// Whether `s` starts with a URI scheme (`ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":"`).
fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const BASE: &str = "https://ca.test:14000/certZ/abc";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(http::header::LINK, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn alternates_from_separate_header_fields_as_pebble_sends_them() {
        let h = headers(&[
            r#"<https://ca.test:14000/dir>;rel="index""#,
            r#"<https://ca.test:14000/certZ/abc/1>;rel="alternate""#,
            r#"<https://ca.test:14000/certZ/abc/2>;rel="alternate""#,
        ]);
        assert_eq!(
            links_with_rel(&h, "alternate", BASE),
            vec![
                "https://ca.test:14000/certZ/abc/1",
                "https://ca.test:14000/certZ/abc/2"
            ]
        );
        assert_eq!(
            links_with_rel(&h, "index", BASE),
            vec!["https://ca.test:14000/dir"]
        );
        assert!(links_with_rel(&h, "up", BASE).is_empty());
    }

    #[test]
    fn several_links_in_one_field_and_parameter_forms() {
        let h = headers(&[
            r#"<https://ca.test/a;1>; rel=alternate, <https://ca.test/b,2>; title="x, y; z"; rel="ALTERNATE up", </c>;rel="index""#,
        ]);
        assert_eq!(
            links_with_rel(&h, "alternate", BASE),
            vec!["https://ca.test/a;1", "https://ca.test/b,2"],
            "commas and semicolons inside <> and quotes do not split"
        );
        assert_eq!(
            links_with_rel(&h, "up", BASE),
            vec!["https://ca.test/b,2"],
            "rel holds a space-separated list"
        );
        assert_eq!(
            links_with_rel(&h, "index", BASE),
            vec!["https://ca.test:14000/c"]
        );
    }

    #[test]
    fn malformed_link_values_are_skipped() {
        let links = parse_link_header(
            r#"garbage, <https://ca.test/ok>;rel="alternate", <unterminated;rel=alternate"#,
        );
        assert_eq!(
            links,
            vec![Link {
                target: "https://ca.test/ok".into(),
                rels: vec!["alternate".into()]
            }]
        );
        let no_rel = parse_link_header("<https://ca.test/x>");
        assert_eq!(no_rel[0].rels, Vec::<String>::new());
    }

    #[test]
    fn relative_targets_resolve_against_the_request_url() {
        let cases = [
            ("https://other.test/x", "https://other.test/x"),
            ("//cdn.test/y", "https://cdn.test/y"),
            ("/certZ/abc/1", "https://ca.test:14000/certZ/abc/1"),
            ("abc/1", "https://ca.test:14000/certZ/abc/1"),
            ("1", "https://ca.test:14000/certZ/1"),
            ("?alt=1", "https://ca.test:14000/certZ/abc?alt=1"),
            ("urn:example:x", "urn:example:x"),
        ];
        for (reference, want) in cases {
            assert_eq!(resolve(BASE, reference), want, "{reference}");
        }
        assert_eq!(resolve("https://ca.test", "alt"), "https://ca.test/alt");
        assert_eq!(resolve("https://ca.test/a?q=1", "/b"), "https://ca.test/b");
    }
}
