//! Every invalid fixture is refused by the CRD schema or a CEL rule, with an error
//! on the field its header names (`# field:`), of the reason and message it names.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use certgate_sandbox::validation::SchemaValidator;

struct Expectation {
    field: String,
    reason: Option<String>,
    message: Option<String>,
}

fn expectation(text: &str) -> Option<Expectation> {
    let header = |key: &str| {
        text.lines()
            .take_while(|l| l.starts_with('#'))
            .find_map(|l| {
                l.strip_prefix('#')
                    .map(str::trim)
                    .and_then(|l| l.strip_prefix(key))
                    .map(|v| v.trim().to_string())
            })
    };
    Some(Expectation {
        field: header("field:")?,
        reason: header("reason:"),
        message: header("message:"),
    })
}

/// The Status cause reason for a header's short reason.
fn cause_reason(short: &str) -> &str {
    match short {
        "Required" => "FieldValueRequired",
        "Unsupported" | "NotSupported" => "FieldValueNotSupported",
        "Invalid" => "FieldValueInvalid",
        "TooLong" => "FieldValueTooLong",
        "TooMany" => "FieldValueTooMany",
        "Duplicate" => "FieldValueDuplicate",
        "TypeInvalid" => "FieldValueTypeInvalid",
        other => other,
    }
}

#[test]
fn invalid_fixtures_are_refused_naming_the_field() {
    let crds = common::checked_in_crds();
    let fixtures = common::fixtures("invalid");
    assert!(
        fixtures.len() >= 40,
        "expected at least 40 invalid fixtures, found {}",
        fixtures.len()
    );
    let mut failures = Vec::new();
    for (path, text) in &fixtures {
        let name = common::name(path);
        let Some(expect) = expectation(text) else {
            failures.push(format!("{name}: no `# field:` header"));
            continue;
        };
        let object = match common::yaml_to_json(text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: not YAML: {e}"));
                continue;
            }
        };
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let Some(schema) = common::schema_for(&crds, api_version, kind) else {
            failures.push(format!("{name}: no CRD serves {api_version} {kind}"));
            continue;
        };
        let validator = SchemaValidator::new(schema).expect("rules compile");
        let mut object = object;
        validator.prune_and_default(&mut object);
        let errors = validator.validate(&object, None);
        let matching = errors.iter().find(|e| {
            e.field == expect.field
                && expect
                    .reason
                    .as_deref()
                    .is_none_or(|r| e.reason() == cause_reason(r))
                && expect
                    .message
                    .as_deref()
                    .is_none_or(|m| e.message().contains(m))
        });
        if matching.is_none() {
            let got: Vec<String> = errors
                .iter()
                .map(|e| format!("{e} ({})", e.reason()))
                .collect();
            failures.push(format!(
                "{name}: expected an error on {} (reason {:?}, message {:?}); got [{}]",
                expect.field,
                expect.reason,
                expect.message,
                got.join("; ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} invalid fixtures failed:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
}
