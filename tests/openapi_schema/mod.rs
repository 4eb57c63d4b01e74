//! A JSON Schema check for the OpenAPI document's schemas (2020-12, the keywords the document
//! uses). It refuses any keyword it does not know: one it skipped would be a check that
//! silently passes.

use serde_json::Value;

/// Validates `value` against `schema`; `doc` resolves `$ref`s. Returns the first violation.
pub(crate) fn validate(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        return Err(format!("{at}: schema is not an object"));
    };
    for (keyword, rule) in schema {
        match keyword.as_str() {
            "description" | "format" => {}
            "$ref" => {
                let pointer = rule.as_str().unwrap().strip_prefix('#').unwrap();
                let target = doc
                    .pointer(pointer)
                    .ok_or(format!("{at}: unresolved {rule}"))?;
                validate(doc, target, value, at)?;
            }
            "allOf" => {
                for sub in rule.as_array().unwrap() {
                    validate(doc, sub, value, at)?;
                }
            }
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                    _ => return Err(format!("{at}: bad type {rule}")),
                };
                let fits = |t: &str| match t {
                    "object" => value.is_object(),
                    "array" => value.is_array(),
                    "string" => value.is_string(),
                    "boolean" => value.is_boolean(),
                    "integer" => value.is_i64() || value.is_u64(),
                    "number" => value.is_number(),
                    "null" => value.is_null(),
                    other => panic!("unknown type {other}"),
                };
                if !types.iter().any(|t| fits(t)) {
                    return Err(format!("{at}: {value} is not {rule}"));
                }
            }
            "properties" => {
                if let Some(object) = value.as_object() {
                    for (name, sub) in rule.as_object().unwrap() {
                        if let Some(v) = object.get(name) {
                            validate(doc, sub, v, &format!("{at}/{name}"))?;
                        }
                    }
                }
            }
            "required" => {
                if let Some(object) = value.as_object() {
                    for name in rule.as_array().unwrap() {
                        if !object.contains_key(name.as_str().unwrap()) {
                            return Err(format!("{at}: {name} is missing from {value}"));
                        }
                    }
                }
            }
            "additionalProperties" => {
                assert_eq!(rule, &Value::Bool(false), "only `false` is used");
                let known = schema.get("properties").and_then(Value::as_object);
                if let Some(object) = value.as_object() {
                    for name in object.keys() {
                        if !known.is_some_and(|k| k.contains_key(name)) {
                            return Err(format!("{at}: {name} is not documented"));
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (i, v) in items.iter().enumerate() {
                        validate(doc, rule, v, &format!("{at}/{i}"))?;
                    }
                }
            }
            "enum" => {
                if !rule.as_array().unwrap().contains(value) {
                    return Err(format!("{at}: {value} is not one of {rule}"));
                }
            }
            "const" => {
                if rule != value {
                    return Err(format!("{at}: {value} is not {rule}"));
                }
            }
            "pattern" => {
                if let Some(s) = value.as_str() {
                    let re = regex_lite::Regex::new(rule.as_str().unwrap()).unwrap();
                    if !re.is_match(s) {
                        return Err(format!("{at}: {s:?} does not match {rule}"));
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let Some(s) = value.as_str() {
                    let (n, bound) = (s.chars().count() as u64, rule.as_u64().unwrap());
                    let ok = if keyword == "minLength" {
                        n >= bound
                    } else {
                        n <= bound
                    };
                    if !ok {
                        return Err(format!("{at}: {s:?} breaks {keyword} {bound}"));
                    }
                }
            }
            "minimum" => {
                if let Some(n) = value.as_f64()
                    && n < rule.as_f64().unwrap()
                {
                    return Err(format!("{at}: {n} < {rule}"));
                }
            }
            other => panic!("{at}: the validator does not know `{other}`"),
        }
    }
    Ok(())
}
