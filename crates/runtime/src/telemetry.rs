//! JSON logs in Cloud Logging's structured shape: one object per line on stdout with
//! `severity`, `message` (= the event name), `component`, `timestamp`, every field of the event
//! and of its enclosing spans (so `request_id` is on every line of a request), and
//! `logging.googleapis.com/trace` when a valid trace id arrived and the project is known.
//!
//! Client-controlled strings are bounded so a hostile header cannot flood the logs. What is
//! *not* logged (names, e-mails, phones, file names) is the callers' discipline, checked by the
//! end-to-end tests that scan the logs for the personal data they submitted.

use serde_json::{Map, Value};
use std::fmt::Debug;
use std::io::Write;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

const MAX_FIELD_CHARS: usize = 512;

/// Where log lines go: stdout for servers (Cloud Logging reads it), stderr for operator
/// commands whose stdout is their output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    Stdout,
    Stderr,
}

/// Installs the global JSON logger. `level` is an `EnvFilter` directive (`info`, `debug`, …).
pub fn init(component: &'static str, level: &str, project: Option<String>, sink: Sink) {
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::registry()
        .with(
            CloudJson {
                component,
                project,
                sink,
            }
            .with_filter(filter),
        )
        .try_init();
}

pub struct CloudJson {
    component: &'static str,
    project: Option<String>,
    sink: Sink,
}

struct SpanFields(Map<String, Value>);

struct Visitor<'a>(&'a mut Map<String, Value>);

fn bounded(s: String) -> Value {
    if s.chars().count() > MAX_FIELD_CHARS {
        let cut: String = s.chars().take(MAX_FIELD_CHARS).collect();
        Value::String(cut + "…")
    } else {
        Value::String(s)
    }
}

impl Visit for Visitor<'_> {
    fn record_str(&mut self, f: &Field, v: &str) {
        self.0.insert(f.name().to_owned(), bounded(v.to_owned()));
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.0.insert(f.name().to_owned(), v.into());
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.0.insert(f.name().to_owned(), v.into());
    }
    fn record_f64(&mut self, f: &Field, v: f64) {
        self.0.insert(f.name().to_owned(), v.into());
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.0.insert(f.name().to_owned(), v.into());
    }
    fn record_error(&mut self, f: &Field, v: &(dyn std::error::Error + 'static)) {
        self.0.insert(f.name().to_owned(), bounded(v.to_string()));
    }
    fn record_debug(&mut self, f: &Field, v: &dyn Debug) {
        self.0
            .insert(f.name().to_owned(), bounded(format!("{v:?}")));
    }
}

fn severity(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "ERROR",
        Level::WARN => "WARNING",
        Level::INFO => "INFO",
        _ => "DEBUG",
    }
}

impl<S> Layer<S> for CloudJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut map = Map::new();
        attrs.record(&mut Visitor(&mut map));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(map));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(fields) = span.extensions_mut().get_mut::<SpanFields>()
        {
            values.record(&mut Visitor(&mut fields.0));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut map = Map::new();
        map.insert("severity".into(), severity(event.metadata().level()).into());
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    for (k, v) in &fields.0 {
                        map.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        event.record(&mut Visitor(&mut map));
        if let Some(Value::String(m)) = map.get("message") {
            let m = m.clone();
            map.insert("event".into(), m.into());
        }
        map.insert("component".into(), self.component.into());
        map.insert(
            "timestamp".into(),
            chrono::Utc::now()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        let trace = map.remove("trace_id");
        if let (Some(project), Some(Value::String(t))) = (&self.project, trace)
            && !t.is_empty()
        {
            map.insert(
                "logging.googleapis.com/trace".into(),
                format!("projects/{project}/traces/{t}").into(),
            );
        }
        let mut line = serde_json::to_vec(&Value::Object(map)).unwrap_or_default();
        line.push(b'\n');
        match self.sink {
            Sink::Stdout => {
                let mut lock = std::io::stdout().lock();
                let _ = lock.write_all(&line);
                let _ = lock.flush();
            }
            Sink::Stderr => {
                let _ = std::io::stderr().lock().write_all(&line);
            }
        }
    }
}
