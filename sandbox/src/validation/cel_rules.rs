//! `x-kubernetes-validations` CEL rules, evaluated with `self` (and `oldSelf` for
//! transition rules) bound to the node the rule is declared on.

use cel::objects::{Key, Map as CelMap};
use cel::{Context, Env, Program, Value as CelValue};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::field_error::{FieldError, child, index};

/// A rule that cannot be compiled.
#[derive(Debug, thiserror::Error)]
#[error("{path}: compilation failed: {detail} (rule: {rule})")]
pub struct RuleCompileError {
    pub path: String,
    pub rule: String,
    pub detail: String,
}

/// The CEL environment: the standard library, the strings extension, and the
/// Kubernetes library functions certgate's rules use.
pub struct CelRuntime {
    env: Arc<Env>,
    programs: Mutex<HashMap<String, Arc<Program>>>,
}

impl Default for CelRuntime {
    fn default() -> Self {
        let mut env = Env::stdlib();
        // The strings extension only adds functions; a failure leaves the stdlib.
        let _ = env.add_extension(cel::extensions::strings);
        CelRuntime {
            env: Arc::new(env),
            programs: Mutex::new(HashMap::new()),
        }
    }
}

impl CelRuntime {
    /// Compiles (and caches) a rule.
    pub fn compile(&self, rule: &str) -> Result<Arc<Program>, String> {
        if let Some(p) = self.programs.lock().ok().and_then(|m| m.get(rule).cloned()) {
            return Ok(p);
        }
        let program = Arc::new(self.env.compile(rule).map_err(|e| e.to_string())?);
        if let Ok(mut m) = self.programs.lock() {
            m.insert(rule.to_string(), program.clone());
        }
        Ok(program)
    }

    /// Compiles every rule in a schema; the first that fails is returned.
    pub fn check_schema(&self, schema: &Value, path: &str) -> Result<(), RuleCompileError> {
        let Some(s) = schema.as_object() else {
            return Ok(());
        };
        for r in rules_of(s) {
            self.compile(&r.rule).map_err(|detail| RuleCompileError {
                path: path.to_string(),
                rule: r.rule.clone(),
                detail,
            })?;
        }
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (k, ps) in props {
                self.check_schema(ps, &child(path, k))?;
            }
        }
        if let Some(items) = s.get("items") {
            self.check_schema(items, &format!("{path}[*]"))?;
        }
        if let Some(a) = s.get("additionalProperties").filter(|a| a.is_object()) {
            self.check_schema(a, &format!("{path}[*]"))?;
        }
        Ok(())
    }

    /// Evaluates every rule under `schema` against `value` (and `old`).
    pub fn validate(
        &self,
        schema: &Value,
        value: &Value,
        old: Option<&Value>,
        path: &str,
        errs: &mut Vec<FieldError>,
    ) {
        let Some(s) = schema.as_object() else { return };
        let rules = rules_of(s);
        if !rules.is_empty() {
            // One conversion and one context for every rule of the node.
            let mut ctx = Context::with_env(self.env.clone());
            ctx.add_variable_from_value("self", to_cel(value));
            if let Some(o) = old {
                ctx.add_variable_from_value("oldSelf", to_cel(o));
            }
            register_kubernetes_functions(&mut ctx);
            for r in &rules {
                self.evaluate(r, &ctx, value, old.is_some(), path, errs);
            }
        }
        match value {
            Value::Object(map) => {
                let props = s.get("properties").and_then(Value::as_object);
                let additional = s.get("additionalProperties").filter(|a| a.is_object());
                for (k, v) in map {
                    let old_child = old.and_then(|o| o.get(k));
                    if let Some(ps) = props.and_then(|p| p.get(k)) {
                        self.validate(ps, v, old_child, &child(path, k), errs);
                    } else if let Some(a) = additional {
                        self.validate(a, v, old_child, &index(path, k), errs);
                    }
                }
            }
            Value::Array(items) => {
                let Some(item_schema) = s.get("items") else {
                    return;
                };
                let old_items = old.and_then(Value::as_array);
                let keys = map_keys(s);
                for (i, item) in items.iter().enumerate() {
                    // Old items correlate only in `map` lists (by key) and `set`s (by value).
                    let old_item = match (
                        s.get("x-kubernetes-list-type").and_then(Value::as_str),
                        old_items,
                    ) {
                        (Some("map"), Some(olds)) => olds
                            .iter()
                            .find(|o| keys.iter().all(|k| o.get(k) == item.get(k))),
                        (Some("set"), Some(olds)) => olds.iter().find(|o| *o == item),
                        _ => None,
                    };
                    self.validate(item_schema, item, old_item, &index(path, i), errs);
                }
            }
            _ => {}
        }
    }

    fn evaluate(
        &self,
        r: &Rule,
        ctx: &Context<'_, '_>,
        value: &Value,
        has_old: bool,
        path: &str,
        errs: &mut Vec<FieldError>,
    ) {
        let is_transition = r.rule.contains("oldSelf");
        if is_transition && !has_old {
            return;
        }
        let field = match &r.field_path {
            Some(fp) => format!(
                "{path}{}",
                if fp.starts_with('.') {
                    fp.clone()
                } else {
                    format!(".{fp}")
                }
            ),
            None => path.to_string(),
        };
        let shown = (!value.is_object() && !value.is_array()).then(|| value.clone());
        let program = match self.compile(&r.rule) {
            Ok(p) => p,
            Err(e) => {
                errs.push(FieldError::invalid(
                    field,
                    None,
                    format!("rule compile error: {e}"),
                ));
                return;
            }
        };
        match program.execute(ctx) {
            Ok(CelValue::Bool(true)) => {}
            Ok(CelValue::Bool(false)) => {
                let message = r
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("failed rule: {}", r.rule));
                errs.push(FieldError::invalid(field, shown, message));
            }
            Ok(other) => errs.push(FieldError::invalid(
                field,
                shown,
                format!("rule did not evaluate to a bool: {other:?}"),
            )),
            Err(e) => errs.push(FieldError::invalid(
                field,
                shown,
                format!("rule evaluation error: {e}"),
            )),
        }
    }
}

/// One `x-kubernetes-validations` entry.
struct Rule {
    rule: String,
    message: Option<String>,
    field_path: Option<String>,
}

fn rules_of(s: &serde_json::Map<String, Value>) -> Vec<Rule> {
    s.get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|r| {
                    Some(Rule {
                        rule: r.get("rule")?.as_str()?.to_string(),
                        message: r.get("message").and_then(Value::as_str).map(str::to_string),
                        field_path: r
                            .get("fieldPath")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn map_keys(s: &serde_json::Map<String, Value>) -> Vec<String> {
    s.get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The Kubernetes CEL library functions certgate's rules use.
fn register_kubernetes_functions(ctx: &mut Context<'_, '_>) {
    let _ = ctx.add_function("isIP", |s: Arc<String>| {
        s.parse::<std::net::IpAddr>().is_ok()
    });
    let _ = ctx.add_function("isCIDR", |s: Arc<String>| is_cidr(&s));
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(bits) = bits.parse::<u8>() else {
        return false;
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => bits <= 32,
        Ok(std::net::IpAddr::V6(_)) => bits <= 128,
        Err(_) => false,
    }
}

/// JSON to a CEL value: integers become `int`, other numbers `double`.
pub fn to_cel(v: &Value) -> CelValue {
    match v {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => CelValue::Int(i),
            (None, Some(u)) => CelValue::UInt(u),
            _ => CelValue::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let m: HashMap<Key, CelValue> = map
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            CelValue::Map(CelMap::from(m))
        }
    }
}
