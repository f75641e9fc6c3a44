//! `props` as the JSON text stored in the `props` column: sensitive names dropped, e-mails and
//! card numbers in values redacted, keys in sorted order (the last of repeated keys wins).
//!
//! Written straight into a caller's buffer: sorting uses an index array on the stack for up to
//! [`SORTED_ON_STACK`] entries (the wire limit is 32), so a typical event allocates only the
//! output text.

use ecomdash_protocol::{PropValue, Props};

use super::pii::{is_sensitive_param_name, scrub_text};

/// Entries sorted with an index array on the stack; larger maps use a heap vector.
pub const SORTED_ON_STACK: usize = 32;

/// Appends `props` as a JSON object to `out`.
pub fn write_props_json(props: &Props<'_>, out: &mut String) {
    let entries = &props.0;
    let mut stack = [0usize; SORTED_ON_STACK];
    let mut heap = Vec::new();
    let order: &mut [usize] = if entries.len() <= SORTED_ON_STACK {
        &mut stack[..entries.len()]
    } else {
        heap.extend(0..entries.len());
        &mut heap
    };
    for (i, slot) in order.iter_mut().enumerate() {
        *slot = i;
    }
    // stable: repeated keys keep their order, and the last one is written
    order.sort_by(|a, b| entries[*a].0.as_str().cmp(entries[*b].0.as_str()));
    out.reserve(16 * entries.len() + 2);
    out.push('{');
    let mut first = true;
    for (position, &index) in order.iter().enumerate() {
        let (key, value) = &entries[index];
        let repeated_later = order
            .get(position + 1)
            .is_some_and(|&next| entries[next].0.as_str() == key.as_str());
        if repeated_later || is_sensitive_param_name(key) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_json_str(key, out);
        out.push(':');
        match value {
            PropValue::Null => out.push_str("null"),
            PropValue::Bool(true) => out.push_str("true"),
            PropValue::Bool(false) => out.push_str("false"),
            PropValue::Number(n) if n.is_finite() => {
                // serde_json's own formatting (shortest round-trip, `1.0` for integers)
                let text = serde_json::to_string(n).unwrap_or_else(|_| "null".to_owned());
                out.push_str(&text);
            }
            PropValue::Number(_) => out.push_str("null"),
            PropValue::Text(text) => write_json_str(&scrub_text(text), out),
        }
    }
    out.push('}');
}

/// A JSON string literal, escaped as serde_json escapes it.
fn write_json_str(value: &str, out: &mut String) {
    out.push('"');
    if !value.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(value);
        out.push('"');
        return;
    }
    let mut plain_from = 0;
    for (i, byte) in value.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[plain_from..i]);
        if escape.is_empty() {
            out.push_str(&format!("\\u{byte:04x}"));
        } else {
            out.push_str(escape);
        }
        plain_from = i + 1;
    }
    out.push_str(&value[plain_from..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use ecomdash_protocol::Text;

    use super::*;

    /// What the column held before: a serde_json map (sorted keys, last repeat wins).
    fn via_serde_json(props: &Props<'_>) -> String {
        let mut map = serde_json::Map::new();
        for (key, value) in &props.0 {
            if is_sensitive_param_name(key) {
                continue;
            }
            let value = match value {
                PropValue::Null => serde_json::Value::Null,
                PropValue::Bool(b) => serde_json::Value::Bool(*b),
                PropValue::Number(n) => serde_json::Number::from_f64(*n)
                    .map_or(serde_json::Value::Null, serde_json::Value::Number),
                PropValue::Text(t) => serde_json::Value::String(scrub_text(t).into_owned()),
            };
            map.insert(key.to_string(), value);
        }
        serde_json::Value::Object(map).to_string()
    }

    #[test]
    fn same_text_as_a_serde_json_map() {
        let props = Props(vec![
            (Text::from("z"), PropValue::Number(1.0)),
            (
                Text::from("a\"b"),
                PropValue::Text(Text::from("tab\there \u{1} é")),
            ),
            (Text::from("password"), PropValue::Text(Text::from("x"))),
            (Text::from("m"), PropValue::Bool(true)),
            (Text::from("z"), PropValue::Number(2.5e-7)),
            (Text::from("n"), PropValue::Null),
            (Text::from("nan"), PropValue::Number(f64::NAN)),
            (
                Text::from("mail"),
                PropValue::Text(Text::from("write to a@b.example")),
            ),
            (
                Text::from("note"),
                PropValue::Text(Text::from("write to a@b.example")),
            ),
        ]);
        let mut out = String::new();
        write_props_json(&props, &mut out);
        assert_eq!(out, via_serde_json(&props));
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["z"], serde_json::json!(2.5e-7));
        assert!(!out.contains("a@b.example") && !out.contains("password"));
    }

    #[test]
    fn empty_and_large_maps() {
        let mut out = String::new();
        write_props_json(&Props::default(), &mut out);
        assert_eq!(out, "{}");
        let many = Props(
            (0..40)
                .map(|i| {
                    (
                        Text::from(format!("k{i:02}")),
                        PropValue::Number(f64::from(i)),
                    )
                })
                .collect(),
        );
        let mut out = String::new();
        write_props_json(&many, &mut out);
        assert_eq!(out, via_serde_json(&many));
    }
}
