//! Label and field selectors, parsed and matched the way kube-apiserver does.
//!
//! Ports of `k8s.io/apimachinery/pkg/labels/selector.go` (lexer, parser,
//! `NewRequirement` validation) and `k8s.io/apimachinery/pkg/fields/selector.go`
//! (term splitting, escaping), plus the per-kind field label conversion functions
//! (`pkg/apis/core/v1/conversion.go`, `pkg/apis/events/v1/conversion.go`,
//! apiextensions' `crConverter.ConvertFieldLabel`) and selectable field sets
//! (`ToSelectableFields` in the registries).
//!
//! Error messages are the exact strings kube-apiserver puts in the `message` of the
//! 400 `BadRequest` Status (checked against `recordings/14-list.json`).
//!
//! Pure: no I/O.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

/// A selector that failed to parse or names an unsupported field. `message` is what
/// kube-apiserver returns as the `message` of its 400 `BadRequest` Status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SelectorError {
    pub message: String,
}

impl SelectorError {
    fn new(message: impl Into<String>) -> Self {
        SelectorError {
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------
// Go-compatible formatting helpers
// ---------------------------------------------------------------------------

/// Go's `strconv.Quote` / `%q` for a (valid UTF-8) string.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `content.RegexError`.
fn regex_error(msg: &str, re: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{re}')");
    }
    let mut m = format!("{msg} (e.g. ");
    for (i, ex) in examples.iter().enumerate() {
        if i > 0 {
            m.push_str(" or ");
        }
        m.push('\'');
        m.push_str(ex);
        m.push_str("', ");
    }
    m.push_str("regex used for validation is '");
    m.push_str(re);
    m.push_str("')");
    m
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} bytes")
}

const LABEL_KEY_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_KEY_ERR_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_ERR_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_ERR_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`
fn is_label_key_name(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
fn is_dns1123_subdomain_shape(s: &str) -> bool {
    s.split('.').all(|part| {
        let b = part.as_bytes();
        let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        match (b.first(), b.last()) {
            (Some(f), Some(l)) => ok(f) && ok(l) && b.iter().all(|c| ok(c) || *c == b'-'),
            _ => false,
        }
    })
}

/// `content.IsLabelKey`.
pub fn label_key_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                let mut msgs = Vec::new();
                if prefix.len() > 253 {
                    msgs.push(max_len_error(253));
                }
                if !is_dns1123_subdomain_shape(prefix) {
                    msgs.push(regex_error(
                        DNS1123_SUBDOMAIN_ERR_MSG,
                        DNS1123_SUBDOMAIN_FMT,
                        &["example.com"],
                    ));
                }
                errs.extend(msgs.into_iter().map(|m| format!("prefix part {m}")));
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    LABEL_KEY_ERR_MSG,
                    LABEL_KEY_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !is_label_key_name(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                LABEL_KEY_ERR_MSG,
                LABEL_KEY_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// `validation.IsValidLabelValue`.
pub fn label_value_errors(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !value.is_empty() && !is_label_key_name(value) {
        errs.push(regex_error(
            LABEL_VALUE_ERR_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// `field.Invalid(path, value, detail).Error()` for a string value.
fn field_invalid(path: &str, value: &str, detail: &str) -> String {
    let mut s = format!("{path}: Invalid value: {}", go_quote(value));
    if !detail.is_empty() {
        s.push_str(": ");
        s.push_str(detail);
    }
    s
}

/// `utilerrors.NewAggregate(...).Error()` (after `ToAggregate`'s de-duplication).
fn aggregate(errs: Vec<String>) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for e in errs {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    match seen.len() {
        0 => None,
        1 => seen.pop(),
        _ => Some(format!("[{}]", seen.join(", "))),
    }
}

// ---------------------------------------------------------------------------
// Label selectors
// ---------------------------------------------------------------------------

/// A label selector operator (`selection.Operator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
    /// `in (…)`
    In,
    /// `notin (…)`
    NotIn,
    /// `key`
    Exists,
    /// `!key`
    DoesNotExist,
    /// `key>n` (kube's `gt`)
    GreaterThan,
    /// `key<n` (kube's `lt`)
    LessThan,
}

/// One requirement of a label selector. `values` are sorted and de-duplicated
/// (kube keeps them in a `sets.String`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

/// Something label selectors can be matched against.
pub trait Labels {
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Labels for HashMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// A JSON object of labels (`metadata.labels`); non-string values are ignored.
impl Labels for serde_json::Map<String, Value> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }
}

impl<L: Labels + ?Sized> Labels for &L {
    fn label(&self, key: &str) -> Option<&str> {
        (**self).label(key)
    }
}

impl Requirement {
    /// `Requirement.Matches`.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        let val = labels.label(&self.key);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                val.is_some_and(|v| self.values.iter().any(|x| x == v))
            }
            Operator::NotIn | Operator::NotEquals => {
                val.is_none_or(|v| !self.values.iter().any(|x| x == v))
            }
            Operator::Exists => val.is_some(),
            Operator::DoesNotExist => val.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(v) = val.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [r] = self.values.as_slice() else {
                    return false;
                };
                let Ok(r) = r.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    v > r
                } else {
                    v < r
                }
            }
        }
    }

    /// `NewRequirement`'s validation, with kube's (nil) field path.
    fn validate(&self) -> Result<(), String> {
        let mut errs = Vec::new();
        let key_errs = label_key_errors(&self.key);
        if !key_errs.is_empty() {
            errs.push(field_invalid("key", &self.key, &key_errs.join("; ")));
        }
        let vals = &self.values;
        let show = || {
            format!(
                "[]string{{{}}}",
                vals.iter()
                    .map(|v| go_quote(v))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        match self.operator {
            Operator::In | Operator::NotIn => {
                if vals.is_empty() {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'in', 'notin' operators, values set can't be empty",
                        show()
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if vals.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: exact-match compatibility requires one single value",
                        show()
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !vals.is_empty() {
                    errs.push(format!(
                        "values: Invalid value: {}: values set must be empty for exists and does not exist",
                        show()
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if vals.len() != 1 {
                    errs.push(format!(
                        "values: Invalid value: {}: for 'Gt', 'Lt' operators, exactly one value is required",
                        show()
                    ));
                }
                for (i, v) in vals.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(field_invalid(
                            &format!("values[{i}]"),
                            v,
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
        }
        for (i, v) in vals.iter().enumerate() {
            let v_errs = label_value_errors(v);
            if !v_errs.is_empty() {
                errs.push(field_invalid(
                    &format!("values[{i}][{}]", self.key),
                    v,
                    &v_errs.join("; "),
                ));
            }
        }
        match aggregate(errs) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let (op, set) = match self.operator {
            Operator::Equals => ("=", false),
            Operator::DoubleEquals => ("==", false),
            Operator::NotEquals => ("!=", false),
            Operator::In => (" in ", true),
            Operator::NotIn => (" notin ", true),
            Operator::GreaterThan => (">", false),
            Operator::LessThan => ("<", false),
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
        };
        f.write_str(op)?;
        if set {
            f.write_str("(")?;
        }
        f.write_str(&self.values.join(","))?;
        if set {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// A parsed label selector: the AND of its requirements (sorted by key, as kube does).
/// The empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Error,
    EndOfString,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn string_to_token(s: &[u8]) -> Option<Token> {
    Some(match s {
        b")" => Token::ClosedPar,
        b"," => Token::Comma,
        b"!" => Token::DoesNotExist,
        b"==" => Token::DoubleEquals,
        b"=" => Token::Equals,
        b">" => Token::GreaterThan,
        b"in" => Token::In,
        b"<" => Token::LessThan,
        b"!=" => Token::NotEquals,
        b"notin" => Token::NotIn,
        b"(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_whitespace(ch: u8) -> bool {
    matches!(ch, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special_symbol(ch: u8) -> bool {
    matches!(ch, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Lexer<'_> {
    fn read(&mut self) -> u8 {
        if self.pos < self.s.len() {
            let b = self.s[self.pos];
            self.pos += 1;
            b
        } else {
            0
        }
    }

    fn unread(&mut self) {
        self.pos = self.pos.saturating_sub(1);
    }

    fn scan_id_or_keyword(&mut self) -> (Token, String) {
        let mut buf = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special_symbol(ch) || is_whitespace(ch) {
                self.unread();
                break;
            }
            buf.push(ch);
        }
        let lit = String::from_utf8_lossy(&buf).into_owned();
        match string_to_token(&buf) {
            Some(t) => (t, lit),
            None => (Token::Identifier, lit),
        }
    }

    fn scan_special_symbol(&mut self) -> (Token, String) {
        let mut last: Option<(Token, String)> = None;
        let mut buf = Vec::new();
        loop {
            let ch = self.read();
            if ch == 0 {
                break;
            }
            if is_special_symbol(ch) {
                buf.push(ch);
                if let Some(t) = string_to_token(&buf) {
                    last = Some((t, String::from_utf8_lossy(&buf).into_owned()));
                } else if last.is_some() {
                    self.unread();
                    break;
                }
            } else {
                self.unread();
                break;
            }
        }
        match last {
            Some(x) => x,
            None => (
                Token::Error,
                format!(
                    "error expected: keyword found '{}'",
                    String::from_utf8_lossy(&buf)
                ),
            ),
        }
    }

    fn lex(&mut self) -> (Token, String) {
        let mut ch = self.read();
        while is_whitespace(ch) {
            ch = self.read();
        }
        if ch == 0 {
            (Token::EndOfString, String::new())
        } else if is_special_symbol(ch) {
            self.unread();
            self.scan_special_symbol()
        } else {
            self.unread();
            self.scan_id_or_keyword()
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    position: usize,
}

impl Parser {
    fn item(&self, i: usize) -> (Token, String) {
        self.items
            .get(i)
            .or(self.items.last())
            .cloned()
            .unwrap_or((Token::EndOfString, String::new()))
    }

    fn lookahead(&self, ctx: Context) -> (Token, String) {
        let (mut tok, lit) = self.item(self.position);
        if ctx == Context::Values && matches!(tok, Token::In | Token::NotIn) {
            tok = Token::Identifier;
        }
        (tok, lit)
    }

    fn consume(&mut self, ctx: Context) -> (Token, String) {
        let r = self.lookahead(ctx);
        self.position += 1;
        r
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut reqs = Vec::new();
        loop {
            let (tok, lit) = self.lookahead(Context::Values);
            match tok {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::EndOfString => return Ok(reqs),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::EndOfString => return Ok(reqs),
                _ => {
                    return Err(format!(
                        "found '{lit}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        let (operator, values) = match op {
            Some(op @ (Operator::Exists | Operator::DoesNotExist)) => (op, Vec::new()),
            _ => {
                let operator = self.parse_operator()?;
                let values = match operator {
                    Operator::In | Operator::NotIn => self.parse_values()?,
                    _ => self.parse_exact_value()?,
                };
                (operator, values)
            }
        };
        let mut values = values;
        values.sort();
        values.dedup();
        let r = Requirement {
            key,
            operator,
            values,
        };
        r.validate()?;
        Ok(r)
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut operator = None;
        let (mut tok, mut lit) = self.consume(Context::Values);
        if tok == Token::DoesNotExist {
            operator = Some(Operator::DoesNotExist);
            (tok, lit) = self.consume(Context::Values);
        }
        if tok != Token::Identifier {
            return Err(format!("found '{lit}', expected: identifier"));
        }
        let errs = label_key_errors(&lit);
        if !errs.is_empty() {
            return Err(field_invalid("<nil>", &lit, &errs.join("; ")));
        }
        let (t, _) = self.lookahead(Context::Values);
        if (t == Token::EndOfString || t == Token::Comma) && operator.is_none() {
            operator = Some(Operator::Exists);
        }
        Ok((lit, operator))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let (tok, lit) = self.consume(Context::KeyAndOperator);
        Ok(match tok {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            _ => {
                return Err(format!(
                    "found '{lit}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let (tok, lit) = self.consume(Context::Values);
        if tok != Token::OpenPar {
            return Err(format!("found '{lit}' expected: '('"));
        }
        let (tok, lit) = self.lookahead(Context::Values);
        match tok {
            Token::Identifier | Token::Comma => {
                let s = self.parse_identifiers_list()?;
                let (tok, _) = self.consume(Context::Values);
                if tok != Token::ClosedPar {
                    return Err(format!("found '{lit}', expected: ')'"));
                }
                Ok(s)
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                Ok(vec![String::new()])
            }
            _ => Err(format!("found '{lit}', expected: ',', ')' or identifier")),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut s: Vec<String> = Vec::new();
        loop {
            let (tok, lit) = self.consume(Context::Values);
            match tok {
                Token::Identifier => {
                    s.push(lit);
                    let (tok2, lit2) = self.lookahead(Context::Values);
                    match tok2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(s),
                        _ => return Err(format!("found '{lit2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if s.is_empty() {
                        s.push(String::new());
                    }
                    let (tok2, _) = self.lookahead(Context::Values);
                    if tok2 == Token::ClosedPar {
                        s.push(String::new());
                        return Ok(s);
                    }
                    if tok2 == Token::Comma {
                        s.push(String::new());
                    }
                }
                _ => return Err(format!("found '{lit}', expected: ',', or identifier")),
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let (tok, _) = self.lookahead(Context::Values);
        if tok == Token::EndOfString || tok == Token::Comma {
            return Ok(vec![String::new()]);
        }
        let (tok, lit) = self.consume(Context::Values);
        if tok == Token::Identifier {
            return Ok(vec![lit]);
        }
        Err(format!("found '{lit}', expected: identifier"))
    }
}

impl LabelSelector {
    /// `labels.Parse`: the whole kube grammar (`=`, `==`, `!=`, `in`, `notin`, `key`,
    /// `!key`, `>`/`<`), with kube's validation of keys and values and its messages.
    pub fn parse(selector: &str) -> Result<LabelSelector, SelectorError> {
        let mut lexer = Lexer {
            s: selector.as_bytes(),
            pos: 0,
        };
        let mut items = Vec::new();
        loop {
            let (tok, lit) = lexer.lex();
            items.push((tok, lit));
            if tok == Token::EndOfString {
                break;
            }
        }
        let mut parser = Parser { items, position: 0 };
        let mut requirements = parser.parse().map_err(SelectorError::new)?;
        // sort.Sort(ByKey) is not stable, but equal keys only reorder requirements
        // that are ANDed anyway.
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// The selector that matches everything.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// True when the selector does not restrict anything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether a set of labels satisfies every requirement.
    pub fn matches<L: Labels + ?Sized>(&self, labels: &L) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches an object's `metadata.labels` (absent labels = no labels).
    pub fn matches_object(&self, obj: &Value) -> bool {
        static EMPTY: std::sync::OnceLock<serde_json::Map<String, Value>> =
            std::sync::OnceLock::new();
        let labels = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .unwrap_or_else(|| EMPTY.get_or_init(serde_json::Map::new));
        self.matches(labels)
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------

/// `=`/`==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    Equals,
    NotEquals,
}

/// One `field=value` / `field!=value` term; `value` is unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

/// A parsed field selector: the AND of its terms, in kube's order (terms sorted as
/// raw strings). The empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

/// `fields.splitTerms`: split on commas not escaped by a backslash.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// `fields.splitTerm`: the first occurrence of `!=`, `==` or `=` splits the term.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (op, fop) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(rhs) = rest.strip_prefix(op) {
                return Some((&term[..i], fop, rhs));
            }
        }
    }
    None
}

/// `fields.UnescapeValue`.
fn unescape_value(s: &str) -> Result<String, SelectorError> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => {
                    return Err(SelectorError::new(format!(
                        "invalid field selector: invalid escape sequence: \\{c}"
                    )));
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => {
                return Err(SelectorError::new(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                )));
            }
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err(SelectorError::new(
            "invalid field selector: invalid escape sequence: \\",
        ));
    }
    Ok(out)
}

/// `fields.EscapeValue`.
pub fn escape_field_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The field labels every kind accepts through apimachinery's
/// `DefaultMetaV1FieldSelectorConversion`.
const DEFAULT_FIELDS: [&str; 2] = ["metadata.name", "metadata.namespace"];

impl FieldSelector {
    /// `fields.ParseSelector` (kube's messages for terms without an operator and for
    /// bad escapes).
    pub fn parse(selector: &str) -> Result<FieldSelector, SelectorError> {
        let mut parts = split_terms(selector);
        parts.sort();
        let mut requirements = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, operator, rhs)) = split_term(part) else {
                return Err(SelectorError::new(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            requirements.push(FieldRequirement {
                field: lhs.to_string(),
                operator,
                value: unescape_value(rhs)?,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// The selector that matches everything.
    pub fn everything() -> FieldSelector {
        FieldSelector::default()
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// `RequiresExactMatch`: the value of the first `field=value` term for `field`.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }

    /// Whether the object satisfies every term. Values are read with
    /// [`selectable_field_value`] (dotted paths plus kube's per-kind special cases:
    /// Event `source`, events.k8s.io `regarding.*` ⇄ core `involvedObject.*`, Pod
    /// `spec.host`, …); a missing field reads as `""`, as in kube's `fields.Set`.
    pub fn matches(&self, obj: &Value) -> bool {
        self.requirements.iter().all(|r| {
            let v = selectable_field_value(obj, &r.field);
            match r.operator {
                FieldOperator::Equals => v == r.value,
                FieldOperator::NotEquals => v != r.value,
            }
        })
    }

    /// kube's field label conversion check, in kube's order (terms sorted as raw
    /// strings; the first unsupported one is reported). `supported` is the list of
    /// accepted labels (see [`supported_field_selectors`]; for a custom resource
    /// `metadata.name`, `metadata.namespace` when namespaced, plus the CRD's
    /// `selectableFields`).
    ///
    /// Message: custom resources and kinds with their own conversion function give
    /// `field label not supported: X`; kinds using apimachinery's default conversion
    /// (exactly `metadata.name` and `metadata.namespace` supported, not custom) give
    /// `"X" is not a known field selector: only "metadata.name", "metadata.namespace"`.
    pub fn validate_fields(
        &self,
        supported: &[&str],
        kind_is_custom: bool,
    ) -> Result<(), SelectorError> {
        for r in &self.requirements {
            if !supported.contains(&r.field.as_str()) {
                return Err(SelectorError::new(field_label_error(
                    &r.field,
                    supported,
                    kind_is_custom,
                )));
            }
        }
        Ok(())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match r.operator {
                FieldOperator::Equals => "=",
                FieldOperator::NotEquals => "!=",
            };
            write!(f, "{}{op}{}", r.field, escape_field_value(&r.value))?;
        }
        Ok(())
    }
}

/// The message kube gives for an unsupported field label (see
/// [`FieldSelector::validate_fields`]).
pub fn field_label_error(label: &str, supported: &[&str], kind_is_custom: bool) -> String {
    let default_conversion = !kind_is_custom && supported == DEFAULT_FIELDS;
    if default_conversion {
        format!(
            "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
            go_quote(label)
        )
    } else {
        format!("field label not supported: {label}")
    }
}

/// Field labels kube-apiserver accepts for a built-in kind (`group` empty for core).
/// Unknown kinds get apimachinery's default: `metadata.name`, `metadata.namespace`.
/// Not for custom resources (their list is `metadata.name`, `metadata.namespace` when
/// namespaced, and the CRD's `selectableFields`).
pub fn supported_field_selectors(group: &str, kind: &str) -> Vec<&'static str> {
    match (group, kind) {
        ("", "Pod") => vec![
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
            // old v1 clients; converted to spec.nodeName
            "spec.host",
        ],
        ("", "Event") => vec![
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "metadata.namespace",
            "metadata.name",
        ],
        ("events.k8s.io", "Event") => vec![
            "reason",
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reportingController",
            "source",
            "type",
            "metadata.namespace",
            "metadata.name",
        ],
        ("", "Secret") => vec!["type", "metadata.namespace", "metadata.name"],
        ("", "Namespace") => vec!["status.phase", "metadata.name"],
        ("", "Node") => vec!["metadata.name", "spec.unschedulable"],
        ("", "ReplicationController") => {
            vec!["metadata.name", "metadata.namespace", "status.replicas"]
        }
        ("", "Service") => vec![
            "metadata.namespace",
            "metadata.name",
            "spec.clusterIP",
            "spec.type",
        ],
        ("apps", "ReplicaSet") => vec!["metadata.name", "metadata.namespace", "status.replicas"],
        ("batch", "Job") => vec!["metadata.name", "metadata.namespace", "status.successful"],
        ("certificates.k8s.io", "CertificateSigningRequest") => {
            vec!["metadata.name", "spec.signerName"]
        }
        _ => DEFAULT_FIELDS.to_vec(),
    }
}

fn scalar_at<'a>(obj: &'a Value, dotted: &str) -> Option<&'a Value> {
    let mut cur = obj;
    for seg in dotted.split('.') {
        cur = cur.get(seg)?;
    }
    Some(cur)
}

fn scalar_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn path_string(obj: &Value, dotted: &str) -> String {
    scalar_string(scalar_at(obj, dotted)).unwrap_or_default()
}

/// The value of a selectable field of an object, as kube's `ToSelectableFields` has
/// it: a dotted path into the JSON (strings as they are, numbers and booleans
/// printed), `""` when absent, with kube's per-kind special cases:
///
/// - Events, in either API's JSON form: `involvedObject.X` ⇄ `regarding.X`,
///   `reportingComponent` ⇄ `reportingController`, and `source` is
///   `source.component` (`deprecatedSource.component`), else the reporting controller.
/// - Pod: `spec.host` is `spec.nodeName`; `status.podIP` is the first `status.podIPs`
///   IP if any; `spec.hostNetwork` defaults to `false`.
/// - Node: `spec.unschedulable` defaults to `false`.
pub fn selectable_field_value(obj: &Value, field: &str) -> String {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind == "Event" {
        let new_api = api_version.starts_with("events.k8s.io/");
        let (regarding, reporting, source) = if new_api {
            (
                "regarding",
                "reportingController",
                "deprecatedSource.component",
            )
        } else {
            ("involvedObject", "reportingComponent", "source.component")
        };
        let sub = field
            .strip_prefix("involvedObject.")
            .or_else(|| field.strip_prefix("regarding."));
        if let Some(sub) = sub {
            return path_string(obj, &format!("{regarding}.{sub}"));
        }
        match field {
            "reportingComponent" | "reportingController" => return path_string(obj, reporting),
            "source" => {
                let s = path_string(obj, source);
                return if s.is_empty() {
                    path_string(obj, reporting)
                } else {
                    s
                };
            }
            _ => {}
        }
    }
    if kind == "Pod" && api_version == "v1" {
        match field {
            "spec.host" => return path_string(obj, "spec.nodeName"),
            "status.podIP" => {
                if let Some(ip) = obj.pointer("/status/podIPs/0/ip").and_then(Value::as_str) {
                    return ip.to_string();
                }
            }
            "spec.hostNetwork" => {
                return scalar_string(scalar_at(obj, field)).unwrap_or_else(|| "false".into());
            }
            _ => {}
        }
    }
    if kind == "Node" && api_version == "v1" && field == "spec.unschedulable" {
        return scalar_string(scalar_at(obj, field)).unwrap_or_else(|| "false".into());
    }
    path_string(obj, field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_recordings::recording;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(sel: &str) -> String {
        match LabelSelector::parse(sel) {
            Ok(s) => panic!("{sel:?} parsed as {s:?}"),
            Err(e) => e.message,
        }
    }

    fn ferr(sel: &str) -> String {
        match FieldSelector::parse(sel) {
            Ok(s) => panic!("{sel:?} parsed as {s:?}"),
            Err(e) => e.message,
        }
    }

    fn sel(s: &str) -> LabelSelector {
        match LabelSelector::parse(s) {
            Ok(s) => s,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn fsel(s: &str) -> FieldSelector {
        match FieldSelector::parse(s) {
            Ok(s) => s,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    // ---- label selectors: matching ----

    #[test]
    fn label_operators_match_like_kube() {
        let l1 = labels(&[("case", "list"), ("tier", "front"), ("env", "prod")]);
        let l2 = labels(&[("case", "list"), ("tier", "back"), ("env", "dev")]);
        let l3 = labels(&[("case", "list"), ("tier", "front")]);
        let all = [&l1, &l2, &l3];
        let pick = |s: &str| -> Vec<usize> {
            let sel = sel(s);
            (0..3)
                .filter(|i| sel.matches(all[*i]))
                .map(|i| i + 1)
                .collect()
        };
        assert_eq!(pick("case=list,tier=front"), vec![1, 3]);
        assert_eq!(pick("case=list,tier==front"), vec![1, 3]);
        assert_eq!(pick("case=list,tier!=front"), vec![2]);
        assert_eq!(pick("case=list,tier in (front,back)"), vec![1, 2, 3]);
        assert_eq!(pick("case=list,env notin (prod)"), vec![2, 3]);
        assert_eq!(pick("case=list,env"), vec![1, 2]);
        assert_eq!(pick("case=list,!env"), vec![3]);
        assert_eq!(pick("case=list,env in (prod),tier"), vec![1]);
        assert_eq!(pick(""), vec![1, 2, 3]);
        assert_eq!(pick("   "), vec![1, 2, 3]);
        assert_eq!(
            pick("env!=prod"),
            vec![2, 3],
            "!= matches when the key is absent"
        );
        assert_eq!(pick("nope"), Vec::<usize>::new());
        assert_eq!(pick("!nope"), vec![1, 2, 3]);
    }

    #[test]
    fn whitespace_and_keywords_as_values() {
        let l = labels(&[("a", "in"), ("b", "notin"), ("in", "x")]);
        assert!(sel("  a = in ,  b==notin , in").matches(&l));
        assert!(sel("a in (in, notin), in in (x)").matches(&l));
        assert!(sel("a\tin\t(in)").matches(&l));
        assert!(!sel("a notin (in)").matches(&l));
        assert!(sel("x=").matches(&labels(&[("x", "")])));
        assert!(!sel("x=").matches(&labels(&[])));
        assert!(sel("x in ()").matches(&labels(&[("x", "")])));
        assert!(sel("x in (,a)").matches(&labels(&[("x", "")])));
        assert!(sel("x in (a,)").matches(&labels(&[("x", "")])));
        assert!(sel("example.com/app=web").matches(&labels(&[("example.com/app", "web")])));
    }

    #[test]
    fn gt_lt() {
        let l = labels(&[("n", "5"), ("s", "x")]);
        assert!(sel("n>4").matches(&l));
        assert!(!sel("n>5").matches(&l));
        assert!(sel("n<6").matches(&l));
        assert!(!sel("s<6").matches(&l));
        assert!(!sel("missing<6").matches(&l));
        assert_eq!(
            err("n>x"),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
    }

    #[test]
    fn matches_json_labels_and_objects() {
        let obj = json!({"metadata": {"labels": {"app": "demo", "n": 3}}});
        assert!(sel("app=demo").matches_object(&obj));
        assert!(!sel("app=other").matches_object(&obj));
        assert!(
            !sel("n").matches_object(&obj),
            "non-string label values are ignored"
        );
        assert!(sel("!app").matches_object(&json!({"metadata": {}})));
        assert!(!sel("app").matches_object(&json!({})));
        let map = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        assert!(sel("app in (demo)").matches(&map));
    }

    #[test]
    fn requirements_are_sorted_and_values_deduplicated() {
        let s = sel("z=1,a in (c,b,c),m");
        let keys: Vec<&str> = s.requirements().iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, vec!["a", "m", "z"]);
        assert_eq!(s.requirements()[0].values, vec!["b", "c"]);
        assert_eq!(s.requirements()[1].operator, Operator::Exists);
        assert_eq!(s.to_string(), "a in (b,c),m,z=1");
        assert_eq!(sel("!x, y notin (a)").to_string(), "!x,y notin (a)");
    }

    // ---- label selectors: errors ----

    #[test]
    fn label_parse_errors_match_kube_messages() {
        // recordings/14-list.json
        assert_eq!(
            err("tier in front"),
            "unable to parse requirement: found 'front' expected: '('"
        );
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(err("a=b,"), "found '', expected: identifier after ','");
        assert_eq!(err("a=b,,c"), "found ',', expected: identifier after ','");
        assert_eq!(
            err("=a"),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            err("(a)"),
            "found '(', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            err("!"),
            "unable to parse requirement: found '', expected: identifier"
        );
        assert_eq!(
            err("!=a"),
            "found '!=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            err("a=(b)"),
            "unable to parse requirement: found '(', expected: identifier"
        );
        assert_eq!(
            err("a in (b"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in (b c)"),
            "unable to parse requirement: found 'c', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in (=)"),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier"
        );
        assert_eq!(
            err("a in (b,=)"),
            "unable to parse requirement: found '=', expected: ',', or identifier"
        );
        assert_eq!(err("!a=b"), "found '=', expected: ',' or 'end of string'");
    }

    #[test]
    fn label_key_and_value_validation_messages() {
        assert_eq!(
            err("-a=b"),
            "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(
            err("a=-b"),
            "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        assert_eq!(
            err("Example.com/a=b"),
            "unable to parse requirement: <nil>: Invalid value: \"Example.com/a\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert_eq!(
            err("/a"),
            "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"
        );
        assert_eq!(
            err("a/"),
            "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be non-empty; name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(
            err("a/b/c"),
            "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        );
        let long = "a".repeat(64);
        assert_eq!(
            err(&format!("{long}=x")),
            format!(
                "unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be no more than 63 bytes"
            )
        );
        assert_eq!(
            err(&format!("x={long}")),
            format!(
                "unable to parse requirement: values[0][x]: Invalid value: \"{long}\": must be no more than 63 bytes"
            )
        );
        // Several bad values: one aggregate, values indexed in sorted order.
        let two = err("k in (ok,-b,_a)");
        assert!(
            two.starts_with("unable to parse requirement: [values[0][k]: Invalid value: \"-b\": "),
            "{two}"
        );
        assert!(
            two.contains(", values[1][k]: Invalid value: \"_a\": "),
            "{two}"
        );
        assert!(two.ends_with("')]"), "{two}");
        // Label values may not be quoted strings with odd characters.
        assert!(err("a=\"b\"").contains("Invalid value: \"\\\"b\\\"\""));
    }

    #[test]
    fn go_quote_matches_strconv_quote() {
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("\n\t\u{1}"), "\"\\n\\t\\x01\"");
        assert_eq!(go_quote("é"), "\"é\"");
        assert_eq!(go_quote("\u{85}"), "\"\\u0085\"");
    }

    // ---- field selectors ----

    #[test]
    fn field_selector_parsing() {
        let s = fsel("metadata.name=a,type!=b,status.phase==Running");
        assert_eq!(
            s.requirements(),
            &[
                FieldRequirement {
                    field: "metadata.name".into(),
                    operator: FieldOperator::Equals,
                    value: "a".into()
                },
                FieldRequirement {
                    field: "status.phase".into(),
                    operator: FieldOperator::Equals,
                    value: "Running".into()
                },
                FieldRequirement {
                    field: "type".into(),
                    operator: FieldOperator::NotEquals,
                    value: "b".into()
                },
            ]
        );
        assert!(fsel("").is_empty());
        assert!(fsel(",,").is_empty());
        assert_eq!(fsel("a=").requirements()[0].value, "");
        assert_eq!(fsel(r"a=x\,y\=z\\").requirements()[0].value, r"x,y=z\");
        assert_eq!(fsel("a=x").requires_exact_match("a"), Some("x"));
        assert_eq!(fsel("a!=x").requires_exact_match("a"), None);
        assert_eq!(fsel(r"b=1,a=x\,y").to_string(), r"a=x\,y,b=1");
        assert_eq!(
            ferr("metadata.name"),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert_eq!(
            ferr("a=b,c"),
            "invalid selector: 'a=b,c'; can't understand 'c'"
        );
        assert_eq!(
            ferr("a=b=c"),
            "invalid field selector: unescaped character in value: 61"
        );
        assert_eq!(
            ferr(r"a=b\x"),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert_eq!(
            ferr(r"a=b\"),
            r"invalid field selector: invalid escape sequence: \"
        );
    }

    #[test]
    fn field_selector_matching_reads_dotted_paths() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always"},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.2"}], "podIP": "10.0.0.1"}
        });
        assert!(fsel("metadata.name=p,metadata.namespace=ns").matches(&pod));
        assert!(!fsel("metadata.name=q").matches(&pod));
        assert!(fsel("metadata.name!=q").matches(&pod));
        assert!(fsel("spec.nodeName=n1,status.phase=Running").matches(&pod));
        assert!(fsel("spec.host=n1").matches(&pod));
        assert!(fsel("status.podIP=10.0.0.2").matches(&pod));
        assert!(fsel("spec.hostNetwork=false").matches(&pod));
        assert!(
            fsel("spec.schedulerName=").matches(&pod),
            "absent reads as empty"
        );
        assert!(!fsel("spec.schedulerName!=").matches(&pod));
        let rc = json!({"kind": "ReplicationController", "status": {"replicas": 3}});
        assert!(fsel("status.replicas=3").matches(&rc));
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}});
        assert!(fsel("spec.unschedulable=false").matches(&node));
    }

    #[test]
    fn event_fields_work_in_both_apis() {
        let core = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "rec"},
            "involvedObject": {"kind": "Widget", "name": "w1", "namespace": "rec"},
            "reason": "Made", "type": "Normal",
            "reportingComponent": "ctl",
            "source": {"component": "src"}
        });
        let new = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "rec"},
            "regarding": {"kind": "Widget", "name": "w1", "namespace": "rec"},
            "reason": "Made", "type": "Normal",
            "reportingController": "ctl"
        });
        for obj in [&core, &new] {
            assert!(fsel("involvedObject.name=w1,involvedObject.kind=Widget").matches(obj));
            assert!(fsel("regarding.name=w1").matches(obj));
            assert!(!fsel("regarding.name=w2").matches(obj));
            assert!(fsel("reportingComponent=ctl").matches(obj));
            assert!(fsel("reportingController=ctl").matches(obj));
            assert!(fsel("type=Normal,reason=Made").matches(obj));
        }
        assert!(fsel("source=src").matches(&core));
        assert!(
            fsel("source=ctl").matches(&new),
            "source falls back to the reporting controller"
        );
    }

    #[test]
    fn validate_fields_messages() {
        // recordings/14-list.json: a custom resource
        let cr = ["metadata.name", "metadata.namespace"];
        assert_eq!(
            fsel("spec.size=3").validate_fields(&cr, true),
            Err(SelectorError::new("field label not supported: spec.size"))
        );
        assert_eq!(
            fsel("status.phase=x").validate_fields(&cr, true),
            Err(SelectorError::new(
                "field label not supported: status.phase"
            ))
        );
        assert_eq!(fsel("metadata.name=l1").validate_fields(&cr, true), Ok(()));
        // recordings/14-list.json: a ConfigMap (default conversion)
        let cm = supported_field_selectors("", "ConfigMap");
        assert_eq!(
            fsel("data.k=v").validate_fields(&cm, false).map_err(|e| e.message),
            Err("\"data.k\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"".to_string())
        );
        assert_eq!(
            fsel("metadata.namespace=rec").validate_fields(&cm, false),
            Ok(())
        );
        // recordings/15-secrets.json
        let secret = supported_field_selectors("", "Secret");
        assert_eq!(
            fsel("type=kubernetes.io/tls").validate_fields(&secret, false),
            Ok(())
        );
        assert_eq!(
            fsel("data.x=1")
                .validate_fields(&secret, false)
                .map_err(|e| e.message),
            Err("field label not supported: data.x".to_string())
        );
        // recordings/19-events.json
        let core_ev = supported_field_selectors("", "Event");
        let new_ev = supported_field_selectors("events.k8s.io", "Event");
        assert_eq!(
            fsel("involvedObject.name=w1,involvedObject.kind=Widget")
                .validate_fields(&core_ev, false),
            Ok(())
        );
        assert_eq!(
            fsel("regarding.name=w1").validate_fields(&new_ev, false),
            Ok(())
        );
        assert_eq!(
            fsel("involvedObject.name=w1")
                .validate_fields(&new_ev, false)
                .map_err(|e| e.message),
            Err("field label not supported: involvedObject.name".to_string())
        );
        assert_eq!(
            fsel("regarding.name=w1")
                .validate_fields(&core_ev, false)
                .map_err(|e| e.message),
            Err("field label not supported: regarding.name".to_string())
        );
        // first unsupported term in sorted order is reported
        assert_eq!(
            fsel("zz=1,aa=2,metadata.name=x")
                .validate_fields(&cr, true)
                .map_err(|e| e.message),
            Err("field label not supported: aa".to_string())
        );
        // Namespace has its own conversion without metadata.namespace
        let ns = supported_field_selectors("", "Namespace");
        assert_eq!(
            fsel("metadata.namespace=x")
                .validate_fields(&ns, false)
                .map_err(|e| e.message),
            Err("field label not supported: metadata.namespace".to_string())
        );
        let pod = supported_field_selectors("", "Pod");
        for f in [
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ] {
            assert!(pod.contains(&f), "{f}");
        }
    }

    // ---- recordings ----

    fn percent_decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                    out.push(
                        u8::from_str_radix(h, 16).unwrap_or_else(|_| panic!("bad escape in {s}")),
                    );
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).unwrap_or_else(|_| panic!("bad utf-8 in {s}"))
    }

    fn query_param(path: &str, key: &str) -> Option<String> {
        let q = path.split_once('?')?.1;
        q.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| percent_decode(v))
        })
    }

    fn names(items: &[Value]) -> Vec<String> {
        let mut v: Vec<String> = items
            .iter()
            .map(|i| {
                i.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        v.sort();
        v
    }

    /// Replays every selector LIST of a recording against the objects the recording
    /// created in the same collection (201 responses, minus DELETEd ones), and checks
    /// the names returned and the 400 messages.
    fn replay_lists(file: &str, supported: &dyn Fn(&str) -> (Vec<&'static str>, bool)) -> usize {
        let rec = recording(file);
        let exchanges = rec["exchanges"].as_array().cloned().unwrap_or_default();
        let mut objects: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        let mut checked = 0;
        for ex in &exchanges {
            let req = &ex["request"];
            let resp = &ex["response"];
            let method = req["method"].as_str().unwrap_or("");
            let path = req["path"].as_str().unwrap_or("");
            let collection = path.split('?').next().unwrap_or("").to_string();
            let status = resp["status"].as_i64().unwrap_or(0);
            if method == "POST" && status == 201 {
                objects
                    .entry(collection)
                    .or_default()
                    .push(resp["body"].clone());
                continue;
            }
            if method == "DELETE" && status == 200 {
                if let Some((coll, name)) = collection.rsplit_once('/')
                    && let Some(v) = objects.get_mut(coll)
                {
                    v.retain(|o| o.pointer("/metadata/name").and_then(Value::as_str) != Some(name));
                }
                continue;
            }
            let ls = query_param(path, "labelSelector");
            let fs = query_param(path, "fieldSelector");
            if method != "GET" || (ls.is_none() && fs.is_none()) || path.contains("watch=") {
                continue;
            }
            if query_param(path, "limit").is_some()
                || query_param(path, "resourceVersion").is_some()
            {
                continue;
            }
            let parsed_l = LabelSelector::parse(ls.as_deref().unwrap_or(""));
            let parsed_f = FieldSelector::parse(fs.as_deref().unwrap_or("")).and_then(|f| {
                let (sup, custom) = supported(&collection);
                f.validate_fields(&sup, custom).map(|()| f)
            });
            if status == 400 {
                let msg = resp["body"]["message"].as_str().unwrap_or("");
                let got = parsed_l.err().or(parsed_f.err()).map(|e| e.message);
                assert_eq!(got.as_deref(), Some(msg), "{path}");
                checked += 1;
                continue;
            }
            assert_eq!(status, 200, "{path}");
            let (Ok(l), Ok(f)) = (parsed_l, parsed_f) else {
                panic!("{path}: should parse");
            };
            let items = resp["body"]["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for item in &items {
                assert!(
                    l.matches_object(item) && f.matches(item),
                    "{path}: returned item must match"
                );
            }
            // The universe: objects created in this collection (or, for an
            // all-namespaces list, in the same collection of any namespace).
            let all_ns = !collection.contains("/namespaces/");
            let universe: Vec<Value> = objects
                .iter()
                .filter(|(c, _)| {
                    **c == collection || (all_ns && without_namespace(c) == collection)
                })
                .flat_map(|(_, v)| v.clone())
                .collect();
            let expected: Vec<Value> = universe
                .into_iter()
                .filter(|o| l.matches_object(o) && f.matches(o))
                .collect();
            let returned = names(&items);
            for n in names(&expected) {
                assert!(
                    returned.contains(&n),
                    "{path}: {n} matched locally but was not returned ({returned:?})"
                );
            }
            checked += 1;
        }
        checked
    }

    /// `/apis/g/v/namespaces/ns/widgets` -> `/apis/g/v/widgets`.
    fn without_namespace(collection: &str) -> String {
        let parts: Vec<&str> = collection.split('/').collect();
        match parts.iter().position(|p| *p == "namespaces") {
            Some(i) if i + 2 < parts.len() => {
                let mut v = parts[..i].to_vec();
                v.extend_from_slice(&parts[i + 2..]);
                v.join("/")
            }
            _ => collection.to_string(),
        }
    }

    fn widget_or_core(collection: &str) -> (Vec<&'static str>, bool) {
        let custom = collection.starts_with("/apis/example.certgate.test/");
        let kind = if collection.ends_with("/configmaps") {
            "ConfigMap"
        } else if collection.ends_with("/secrets") {
            "Secret"
        } else {
            "Event"
        };
        let group = if collection.starts_with("/apis/events.k8s.io/") {
            "events.k8s.io"
        } else {
            ""
        };
        if custom {
            (vec!["metadata.name", "metadata.namespace"], true)
        } else {
            (supported_field_selectors(group, kind), false)
        }
    }

    #[test]
    fn recording_14_list_selectors() {
        let n = replay_lists("14-list.json", &widget_or_core);
        assert!(n >= 15, "only {n} selector exchanges checked");
    }

    #[test]
    fn recording_15_secret_type_selector() {
        let n = replay_lists("15-secrets.json", &widget_or_core);
        assert_eq!(n, 1);
        // and explicitly: the tls ones, not the Opaque ones
        let rec = recording("15-secrets.json");
        let created: Vec<Value> = rec["exchanges"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["response"]["status"] == 201)
            .map(|e| e["response"]["body"].clone())
            .collect();
        assert_eq!(created.len(), 4);
        let f = fsel("type=kubernetes.io/tls");
        let hit: Vec<Value> = created.into_iter().filter(|o| f.matches(o)).collect();
        assert_eq!(names(&hit), vec!["tls-junk", "tls-ok"]);
    }

    #[test]
    fn recording_19_event_selectors() {
        let n = replay_lists("19-events.json", &widget_or_core);
        assert_eq!(n, 2);
        let other = json!({"apiVersion": "v1", "kind": "Event", "involvedObject": {"name": "w2", "kind": "Widget"}});
        assert!(!fsel("involvedObject.name=w1,involvedObject.kind=Widget").matches(&other));
    }

    #[test]
    fn recording_13_selector_watches() {
        let rec = recording("13-watch.json");
        let mut checked = 0;
        for ex in rec["exchanges"].as_array().cloned().unwrap_or_default() {
            let path = ex["request"]["path"].as_str().unwrap_or("").to_string();
            if !path.contains("watch=true") {
                continue;
            }
            let l = sel(&query_param(&path, "labelSelector").unwrap_or_default());
            let f = fsel(&query_param(&path, "fieldSelector").unwrap_or_default());
            if l.is_empty() && f.is_empty() {
                continue;
            }
            for ev in ex["response"]["events"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                if ev["type"] == "BOOKMARK" || ev["type"] == "ERROR" {
                    continue;
                }
                assert!(
                    l.matches_object(&ev["object"]) && f.matches(&ev["object"]),
                    "{path}: {ev}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 5, "{checked}");
    }
}
