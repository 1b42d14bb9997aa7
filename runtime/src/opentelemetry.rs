//! The correlation ID in OpenTelemetry (feature `opentelemetry`): on
//! exported spans, on exported log records, and in traces that continue the
//! caller's.
//!
//! - **Spans.** A `tracing` span with a `correlation_id` field is exported by
//!   `tracing-opentelemetry` with a `correlation_id` attribute. The request
//!   span (the layer's
#![cfg_attr(
    feature = "tower",
    doc = "  [`request_span`](crate::tower::CorrelationLayerBuilder::request_span)"
)]
#![cfg_attr(not(feature = "tower"), doc = "  `request_span`")]
//!   option, or `correlated::tracing::request_span` in tower-http's
//!   `TraceLayer`) and `#[correlated(span)]` functions make such spans; the
//!   spans inside them share their trace.
//! - **Continued traces.** With this feature, a request span made for a
//!   request whose `traceparent` the layer's trace-context bridge accepted
//!   has that remote span as its OpenTelemetry parent: the same trace-id,
//!   and the caller's span as parent. The trace-id is also the correlation
//!   ID when no correlation header was accepted.
//! - **Logs.** `opentelemetry-appender-tracing` exports an event's own
//!   fields only; [`CorrelationLogProcessor`] adds `correlation_id` (and
//!   chosen user slots) to every log record emitted in a correlated
//!   context.
//!
//! # Setup
//!
//! The subscriber: the fmt layer with the ID on every line, the spans to
//! OpenTelemetry, and the events as OpenTelemetry log records (exporters
//! elided: use `opentelemetry-otlp`'s in production).
//!
//! ```
//! use correlated::opentelemetry::CorrelationLogProcessor;
//! use opentelemetry::trace::TracerProvider as _;
//! use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
//! use opentelemetry_sdk::logs::SdkLoggerProvider;
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//! use tracing_subscriber::prelude::*;
//! # let span_exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
//! # let log_exporter = opentelemetry_sdk::logs::InMemoryLogExporter::default();
//!
//! let tracer_provider = SdkTracerProvider::builder()
//!     .with_simple_exporter(span_exporter)
//!     .build();
//! let logger_provider = SdkLoggerProvider::builder()
//!     // Before the exporter: processors run in the order they are added.
//!     .with_log_processor(CorrelationLogProcessor::new())
//!     .with_simple_exporter(log_exporter)
//!     .build();
//!
//! tracing_subscriber::registry()
//!     .with(correlated::tracing::fmt_layer())
//!     .with(tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer("shop")))
//!     .with(OpenTelemetryTracingBridge::new(&logger_provider))
//!     .init();
//! ```

use std::fmt;

use ::opentelemetry::logs::LogRecord as _;
use ::opentelemetry::{InstrumentationScope, Key};
use ::opentelemetry_sdk::error::OTelSdkResult;
use ::opentelemetry_sdk::logs::{LogProcessor, SdkLogRecord};

use crate::fields::{self, SlotFields};
use crate::slot::Slot;

/// A [`LogProcessor`] that adds the current correlation ID, as
/// `correlation_id`, and the user slots registered with
/// [`with_slot`](Self::with_slot) to every log record, before the processors
/// added after it export it.
///
/// OpenTelemetry's tracing appender emits a record while the event is being
/// handled, on the thread that logged it and in its context, so the ID is
/// the event's. Unset values are left out (no `-` placeholder: a missing
/// attribute is what OpenTelemetry backends expect). A record that already
/// has an attribute of that name (the event set the field itself) keeps its
/// own.
///
/// # Examples
///
/// ```
/// use correlated::opentelemetry::CorrelationLogProcessor;
/// use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
/// use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
/// use tracing_subscriber::prelude::*;
///
/// correlated::slot! { static USER_ID: String; }
///
/// let exporter = InMemoryLogExporter::default();
/// let provider = SdkLoggerProvider::builder()
///     .with_log_processor(CorrelationLogProcessor::new().with_slot(&USER_ID))
///     .with_simple_exporter(exporter.clone())
///     .build();
/// let subscriber = tracing_subscriber::registry().with(OpenTelemetryTracingBridge::new(&provider));
///
/// tracing::subscriber::with_default(subscriber, || {
///     let _id = correlated::scope("req-1".parse().unwrap());
///     let _user = USER_ID.scope("alice".to_owned());
///     tracing::info!("loading");
/// });
///
/// let logs = exporter.get_emitted_logs().unwrap();
/// let attributes: Vec<(String, String)> = logs[0]
///     .record
///     .attributes_iter()
///     .map(|(key, value)| (key.to_string(), format!("{value:?}")))
///     .collect();
/// assert!(attributes.contains(&("correlation_id".into(), r#"String(Owned("req-1"))"#.into())));
/// assert!(attributes.contains(&("user_id".into(), r#"String(Owned("alice"))"#.into())));
/// ```
#[derive(Clone, Default)]
pub struct CorrelationLogProcessor {
    slots: SlotFields,
}

impl CorrelationLogProcessor {
    /// A processor that adds the correlation ID only.
    ///
    /// # Examples
    ///
    /// ```
    /// let logger_provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
    ///     .with_log_processor(correlated::opentelemetry::CorrelationLogProcessor::new())
    ///     .build();
    /// # drop(logger_provider);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Also adds `slot`, under its declared name in lower case (`USER_ID` →
    /// `user_id`), as the formatter's
    /// [`with_slot`](crate::tracing::CorrelatedFormat::with_slot) does.
    ///
    /// # Panics
    ///
    /// When the name is not a valid field name, is `correlation_id`, or is
    /// already registered: set-up mistakes that would make every record
    /// ambiguous.
    ///
    /// # Examples
    ///
    /// ```
    /// correlated::slot! { pub static TENANT: u32; }
    ///
    /// let processor = correlated::opentelemetry::CorrelationLogProcessor::new().with_slot(&TENANT);
    /// # drop(processor);
    /// ```
    #[track_caller]
    #[must_use = "this returns a new processor and leaves the original unchanged"]
    pub fn with_slot<T>(mut self, slot: &'static Slot<T>) -> Self
    where
        T: fmt::Display + Clone + Send + Sync + 'static,
    {
        self.slots.push(slot);
        self
    }
}

impl fmt::Debug for CorrelationLogProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CorrelationLogProcessor")
            .field("slots", &self.slots)
            .finish()
    }
}

impl LogProcessor for CorrelationLogProcessor {
    fn emit(&self, record: &mut SdkLogRecord, _: &InstrumentationScope) {
        let has = |record: &SdkLogRecord, name: &str| {
            record
                .attributes_iter()
                .any(|(key, _)| key.as_str() == name)
        };
        if let Some(id) = crate::current()
            && !has(record, fields::CORRELATION_ID)
        {
            record.add_attribute(Key::from_static_str(fields::CORRELATION_ID), id.to_string());
        }
        for slot in self.slots.iter() {
            let mut value = String::new();
            if slot.render(&mut value) && !has(record, slot.name()) {
                record.add_attribute(Key::from(slot.name().to_owned()), value);
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    // Nothing to release: the processor holds no resources.
    fn shutdown_with_timeout(&self, _: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Makes `span`'s OpenTelemetry parent the remote span of `parent`, so the
/// span continues the caller's trace. Called right after the span is made,
/// before it is first entered: tracing-opentelemetry starts the span then,
/// and a started span's parent cannot change.
#[cfg(feature = "tower")]
pub(crate) fn continue_trace(span: &::tracing::Span, parent: &crate::inbound::TraceParent) {
    use ::opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use ::tracing_opentelemetry::OpenTelemetrySpanExt;

    // The parser accepted only lowercase hex of the right lengths.
    let (Ok(trace_id), Ok(span_id)) = (
        TraceId::from_hex(parent.trace_id()),
        SpanId::from_hex(parent.parent_id()),
    ) else {
        debug_assert!(false, "a parsed traceparent is valid hex");
        return;
    };
    // Only the sampled bit is defined by Trace Context level 1; the layer
    // does not read `tracestate`, so none is carried on.
    let flags = TraceFlags::new(parent.flags()) & TraceFlags::SAMPLED;
    let remote = SpanContext::new(trace_id, span_id, flags, true, TraceState::NONE);
    // Without an OpenTelemetry layer in the subscriber there is nothing to
    // continue: the span is exported nowhere.
    let _ = span.set_parent(::opentelemetry::Context::new().with_remote_span_context(remote));
}
