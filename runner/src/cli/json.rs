//! `--json`: one JSON document per command on stdout, versioned (docs/json.md).

use std::io::Write;

/// The version of the documents' schema: a field may be added within a version, never
/// removed or changed in meaning.
pub(super) const VERSION: u32 = 1;

/// Writes `fields` (an object) as one line, with `version` and `command` added.
pub(super) fn emit(
    out: &mut impl Write,
    command: &str,
    fields: serde_json::Value,
) -> std::io::Result<()> {
    let mut doc = serde_json::Map::new();
    doc.insert("version".into(), VERSION.into());
    doc.insert("command".into(), command.into());
    if let serde_json::Value::Object(map) = fields {
        doc.extend(map);
    }
    serde_json::to_writer(&mut *out, &serde_json::Value::Object(doc))?;
    writeln!(out)
}
