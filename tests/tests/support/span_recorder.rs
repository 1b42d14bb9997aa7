//! A tracing layer that records what every layer of a subscriber sees: each
//! event with the spans around it (their names, targets, levels and fields
//! as recorded so far) and the correlation ID the emitting code saw. Used by
//! the request-span tests (spans.rs, e2e_actix_spans.rs) as a stand-in for
//! any third-party layer (tracing-opentelemetry, Loki, Sentry).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context as LayerContext;
use tracing_subscriber::registry::LookupSpan;

/// One span as a layer sees it when an event happens in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SeenSpan {
    pub name: String,
    pub target: String,
    pub level: Level,
    pub fields: BTreeMap<String, String>,
}

/// One event: its message, its other fields, the spans it is in (innermost
/// first), and the ID the code that emitted it saw.
#[derive(Clone, Debug)]
pub(crate) struct SeenEvent {
    pub message: String,
    pub fields: BTreeMap<String, String>,
    pub spans: Vec<SeenSpan>,
    pub current: Option<String>,
}

impl SeenEvent {
    /// The innermost span's `correlation_id` field.
    pub(crate) fn span_id(&self) -> Option<&str> {
        self.spans
            .first()
            .and_then(|span| span.fields.get("correlation_id"))
            .map(String::as_str)
    }

    /// The spans named `request` around the event.
    pub(crate) fn requests(&self) -> Vec<&SeenSpan> {
        self.spans
            .iter()
            .filter(|span| span.name == "request")
            .collect()
    }
}

/// The layer; clones share what it recorded.
#[derive(Clone, Default)]
pub(crate) struct Recorder(Arc<Mutex<Vec<SeenEvent>>>);

impl Recorder {
    /// Every event recorded so far.
    pub(crate) fn events(&self) -> Vec<SeenEvent> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        attrs.record(&mut fields);
        let meta = attrs.metadata();
        let seen = SeenSpan {
            name: meta.name().to_owned(),
            target: meta.target().to_owned(),
            level: *meta.level(),
            fields: fields.0,
        };
        ctx.span(id).unwrap().extensions_mut().insert(seen);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let span = ctx.span(id).unwrap();
        let mut extensions = span.extensions_mut();
        let seen = extensions.get_mut::<SeenSpan>().unwrap();
        let mut fields = Fields(std::mem::take(&mut seen.fields));
        values.record(&mut fields);
        seen.fields = fields.0;
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .map(|span| span.extensions().get::<SeenSpan>().unwrap().clone())
                    .collect()
            })
            .unwrap_or_default();
        let message = fields.0.remove("message").unwrap_or_default();
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(SeenEvent {
                message,
                fields: fields.0,
                spans,
                current: correlated::current().map(|id| id.to_string()),
            });
    }
}
