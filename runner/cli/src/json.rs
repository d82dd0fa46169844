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

/// `--json` on `upgrade`/`downgrade`: every event as one JSON line on stdout (JSON Lines),
/// each with `version` and `event`; the command's last line is its `finished` document.
pub(super) struct JsonObserver;

fn level(level: retort::core::observe::Level) -> &'static str {
    use retort::core::observe::Level;
    match level {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

/// An event as its JSON line's name and fields.
fn event_fields(
    event: &retort::core::observe::Event<'_>,
) -> Option<(&'static str, serde_json::Value)> {
    // Every event is one a machine may want; a new one must be named here.
    use retort::core::observe::Event;
    use serde_json::json;
    Some(match event {
        Event::StepStarted {
            database,
            revision,
            description,
            direction,
        } => (
            "step-started",
            json!({"database": database, "revision": revision, "description": description, "direction": direction}),
        ),
        Event::StepFinished {
            database,
            revision,
            direction,
            duration,
        } => (
            "step-finished",
            json!({"database": database, "revision": revision, "direction": direction,
                   "duration_ms": duration.as_secs_f64() * 1000.0}),
        ),
        Event::GuestLog {
            revision,
            level: l,
            message,
        } => (
            "log",
            json!({"revision": revision, "level": level(*l), "message": message}),
        ),
        Event::GuestOutput {
            revision,
            stream,
            line,
        } => (
            "output",
            json!({"revision": revision, "stream": stream, "line": line}),
        ),
        Event::Progress {
            revision,
            done,
            total,
        } => (
            "progress",
            json!({"revision": revision, "done": done, "total": total}),
        ),
        Event::StoredArtifact { database, revision } => (
            "stored-artifact",
            json!({"database": database, "revision": revision}),
        ),
        Event::Built { database, artifact } => {
            ("built", json!({"database": database, "artifact": artifact}))
        }
        Event::Waiting { database } => ("waiting-for-lock", json!({"database": database})),
        Event::Compiling { what, bytes } => ("compiling", json!({"what": what, "bytes": bytes})),
        Event::Compiled { what, duration } => (
            "compiled",
            json!({"what": what, "duration_ms": duration.as_secs_f64() * 1000.0}),
        ),
        Event::Warning { database, message } => {
            ("warning", json!({"database": database, "message": message}))
        }
        Event::Note { message } => ("note", json!({"message": message})),
        Event::BuildingRuntime { language, tool } => (
            "building-runtime",
            json!({"language": language, "tool": tool}),
        ),
        Event::BuiltRuntime { language, duration } => (
            "built-runtime",
            json!({"language": language, "duration_ms": duration.as_secs_f64() * 1000.0}),
        ),
        Event::Writing { source, language } => {
            ("writing", json!({"source": source, "language": language}))
        }
        Event::Backtrace {
            revision,
            backtrace,
        } => (
            "backtrace",
            json!({"revision": revision, "frames": backtrace.lines().collect::<Vec<_>>()}),
        ),
        // An event this binary does not know (the library's list is open): not printed.
        _ => return None,
    })
}

impl retort::core::observe::Observer for JsonObserver {
    fn event(&self, event: &retort::core::observe::Event<'_>) {
        let Some((name, fields)) = event_fields(event) else {
            return;
        };
        let mut out = std::io::stdout().lock();
        let _ = line(&mut out, name, fields);
    }
}

/// One event line: `{"version": 1, "event": NAME, …fields}`.
pub(super) fn line(
    out: &mut impl Write,
    event: &str,
    fields: serde_json::Value,
) -> std::io::Result<()> {
    let mut doc = serde_json::Map::new();
    doc.insert("version".into(), VERSION.into());
    doc.insert("event".into(), event.into());
    if let serde_json::Value::Object(map) = fields {
        doc.extend(map);
    }
    serde_json::to_writer(&mut *out, &serde_json::Value::Object(doc))?;
    writeln!(out)?;
    out.flush()
}
