//! The correlation ID on every [`tracing`] event (feature
//! `tracing`).
//!
//! [`CorrelatedFormat`] wraps the event formatter of
//! [`tracing_subscriber::fmt`](mod@::tracing_subscriber::fmt) and writes the
//! current correlation ID, plus any user slots registered on it, into every
//! event it formats: `correlation_id=<id>` in text, a `"correlation_id"` key in
//! JSON, and `-` when no ID is set. Events logged through the `log` crate and
//! bridged into `tracing` (`tracing-log`) get it too, since they are
//! formatted by the same layer.
//!
//! # Setup
//!
//! One line for text output, or `json_layer()` (feature `tracing-json`) for
//! JSON:
//!
//! ```
//! use tracing_subscriber::prelude::*;
//!
//! tracing_subscriber::registry()
//!     .with(correlated::tracing::fmt_layer())
//!     .init();
//! ```
//!
//! Any other configuration of the fmt layer works the same way: configure it
//! as usual, then wrap its formatter last, with
//! [`map_event_format`](::tracing_subscriber::fmt::Layer::map_event_format):
//!
//! ```
//! use correlated::tracing::CorrelatedFormat;
//! use tracing_subscriber::prelude::*;
//!
//! correlated::slot! {
//!     /// The authenticated user.
//!     pub static USER_ID: String;
//! }
//!
//! let layer = tracing_subscriber::fmt::layer()
//!     .with_target(false)
//!     .map_event_format(|format| CorrelatedFormat::text(format).with_slot(&USER_ID));
//! tracing_subscriber::registry().with(layer).init();
//! ```
//!
//! # Output
//!
//! Inside a correlated scope, every event carries the scope's ID, before and
//! after each `.await` and on whichever thread the task runs:
//!
//! ```
//! # use std::io;
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Clone, Default)]
//! # struct Capture(Arc<Mutex<Vec<u8>>>);
//! # impl io::Write for Capture {
//! #     fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
//! #         self.0.lock().unwrap().extend_from_slice(bytes);
//! #         Ok(bytes.len())
//! #     }
//! #     fn flush(&mut self) -> io::Result<()> { Ok(()) }
//! # }
//! # impl Capture {
//! #     fn text(&self) -> String { String::from_utf8(self.0.lock().unwrap().clone()).unwrap() }
//! # }
//! use correlated::{CorrelationId, Correlate};
//! use correlated::tracing::CorrelatedFormat;
//! use tracing_subscriber::prelude::*;
//!
//! correlated::slot! { static USER_ID: String; }
//!
//! # let output = Capture::default();
//! # let writer = output.clone();
//! let subscriber = tracing_subscriber::registry().with(
//!     tracing_subscriber::fmt::layer()
//!         .without_time()
//!         .with_target(false)
//! #       .with_writer(move || writer.clone())
//!         .map_event_format(|format| CorrelatedFormat::text(format).with_slot(&USER_ID)),
//! );
//!
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info!("starting");
//!     let request = async {
//!         let _user = USER_ID.scope("alice".to_owned());
//!         tracing::info!(order = 7, "loading");
//!     };
//!     futures::executor::block_on(request.correlated(CorrelationId::parse("req-1").unwrap()));
//! });
//!
//! assert_eq!(
//!     output.text(),
//!     "correlation_id=- user_id=-  INFO starting\n\
//!      correlation_id=req-1 user_id=alice  INFO loading order=7\n",
//! );
//! ```
//!
//! In JSON the fields are top-level keys, after the formatter's own. With
//! `json_layer()` (which flattens the event's fields to the top level as well)
//! a line looks like this:
//!
//! ```text
//! {"timestamp":"2025-11-26T10:45:00.123456Z","level":"INFO","message":"loading","order":7,"target":"shop","correlation_id":"req-1","user_id":"alice"}
//! ```
//!
//! # Rules
//!
//! - **The caller wins.** A field the event sets itself is never overwritten
//!   nor duplicated: `tracing::info!(correlation_id = %other, "..")` is
//!   written with `other` only. The same holds for the names of user slots.
//! - **Text** fields come first on the line, before the wrapped formatter's
//!   output (a formatter can only be wrapped, not entered, and writing first
//!   keeps colours and every other option of the wrapped formatter intact).
//!   Values are written bare when they are plain tokens and quoted with
//!   escapes otherwise, e.g. `user_id="Alice Smith"`, so a value can never
//!   break a line or forge another field.
//! - **JSON** fields are top-level keys of the object the wrapped formatter
//!   writes, as JSON strings with every character escaped as JSON requires.
//!   With a non-flattened formatter (`fmt::format().json()`), the event's own
//!   fields stay inside `"fields"`, while the correlation fields are still
//!   top-level.
//! - User slot values are written with their [`Display`](std::fmt::Display)
//!   impl; an unset slot is `-`, like the ID.
//!
//! # Spans: the ID for every subscriber layer
//!
//! The formatter reaches only the fmt layer it wraps. For every other layer
//! (tracing-opentelemetry, a JSON or Bunyan layer, Sentry, your own), put the
//! ID on a span they see: [`RequestSpan`] is a request span with
//! `correlation_id` (and tower-http's `method`, `uri`, `version`) as fields,
//! made by the tower layer's `request_span` option or by tower-http's
//! `TraceLayer` with `.make_span_with(correlated::tracing::request_span)`;
//! `#[correlated(span)]` makes one for a handler or job, with the slots the
//! attribute binds as fields too. Events inside those spans are in their
//! span context, in every layer.
//!
//! Other subscribers can also read the ID themselves with
//! [`current`](crate::current) or [`with_current`](crate::with_current)
//! while they handle an event: events are always handled on the thread that
//! emits them, in its context.

// Without `http` no request span is made, so no callsite either.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
mod callsite;
mod span;

#[cfg(feature = "http")]
#[allow(unused_imports)] // used by the server integrations, when built
pub(crate) use span::RequestLine;
pub use span::RequestSpan;
#[cfg(feature = "http")]
pub use span::request_span;

use std::cell::Cell;
use std::fmt;

use ::tracing::field::{Field, Visit};
use ::tracing::{Event, Subscriber};
use ::tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use ::tracing_subscriber::fmt::{FmtContext, Layer};
use ::tracing_subscriber::registry::LookupSpan;

use crate::fields::{self, SlotFields};
use crate::id::CorrelationId;
use crate::slot::Slot;

/// A [`FormatEvent`] that writes the correlation ID, and the user slots
/// registered with [`with_slot`](CorrelatedFormat::with_slot), into every
/// event, then lets the wrapped formatter write the rest.
///
/// Build it with [`CorrelatedFormat::text`] around a text formatter (full,
/// compact or pretty) or [`CorrelatedFormat::json`] around a JSON one, and
/// install it with the fmt layer's `event_format` or `map_event_format`.
/// [`fmt_layer`] and `json_layer` (feature `tracing-json`) do that for the
/// default formatters.
///
/// # Examples
///
/// ```
/// # use std::io;
/// # use std::sync::{Arc, Mutex};
/// # #[derive(Clone, Default)]
/// # struct Capture(Arc<Mutex<Vec<u8>>>);
/// # impl io::Write for Capture {
/// #     fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
/// #         self.0.lock().unwrap().extend_from_slice(bytes);
/// #         Ok(bytes.len())
/// #     }
/// #     fn flush(&mut self) -> io::Result<()> { Ok(()) }
/// # }
/// # impl Capture {
/// #     fn text(&self) -> String { String::from_utf8(self.0.lock().unwrap().clone()).unwrap() }
/// # }
/// use correlated::tracing::CorrelatedFormat;
/// use tracing_subscriber::fmt;
///
/// # let output = Capture::default();
/// # let writer = output.clone();
/// let subscriber = fmt()
///     .compact()
///     .without_time()
/// #   .with_writer(move || writer.clone())
///     .map_event_format(CorrelatedFormat::text)
///     .finish();
///
/// tracing::subscriber::with_default(subscriber, || {
///     let _id = correlated::scope(correlated::CorrelationId::parse("job-9").unwrap());
///     tracing::warn!(target: "worker", "retrying");
/// });
/// assert_eq!(output.text(), "correlation_id=job-9  WARN worker: retrying\n");
/// ```
#[derive(Clone, Debug)]
pub struct CorrelatedFormat<F> {
    inner: F,
    output: Output,
    slots: SlotFields,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Text,
    Json,
}

impl<F> CorrelatedFormat<F> {
    /// Wraps a text formatter: the fields are written first on the line as
    /// `name=value`, followed by a space and the formatter's output.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tracing::CorrelatedFormat;
    /// use tracing_subscriber::prelude::*;
    ///
    /// let format = CorrelatedFormat::text(tracing_subscriber::fmt::format().with_level(false));
    /// let subscriber = tracing_subscriber::registry()
    ///     .with(tracing_subscriber::fmt::layer().event_format(format));
    /// # drop(subscriber);
    /// ```
    pub fn text(inner: F) -> Self {
        Self {
            inner,
            output: Output::Text,
            slots: SlotFields::default(),
        }
    }

    /// Wraps a formatter that writes one JSON object per event: the fields
    /// become top-level keys of that object, as JSON strings.
    ///
    /// Output that is not a JSON object gets the fields in text form in front
    /// instead, so no event ever loses its ID.
    ///
    /// # Examples
    ///
    /// With tracing-subscriber's JSON formatter (its feature `json`, which
    /// `tracing-json` turns on):
    ///
    #[cfg_attr(feature = "tracing-json", doc = "```")]
    #[cfg_attr(not(feature = "tracing-json"), doc = "```ignore")]
    /// # use std::io;
    /// # use std::sync::{Arc, Mutex};
    /// # #[derive(Clone, Default)]
    /// # struct Capture(Arc<Mutex<Vec<u8>>>);
    /// # impl io::Write for Capture {
    /// #     fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
    /// #         self.0.lock().unwrap().extend_from_slice(bytes);
    /// #         Ok(bytes.len())
    /// #     }
    /// #     fn flush(&mut self) -> io::Result<()> { Ok(()) }
    /// # }
    /// # impl Capture {
    /// #     fn text(&self) -> String { String::from_utf8(self.0.lock().unwrap().clone()).unwrap() }
    /// # }
    /// use correlated::tracing::CorrelatedFormat;
    /// use tracing_subscriber::fmt;
    ///
    /// # let output = Capture::default();
    /// # let writer = output.clone();
    /// let subscriber = fmt()
    ///     .json()
    ///     .without_time()
    /// #   .with_writer(move || writer.clone())
    ///     .map_event_format(CorrelatedFormat::json)
    ///     .finish();
    ///
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let _id = correlated::scope(correlated::CorrelationId::parse("req-1").unwrap());
    ///     tracing::info!(target: "shop", "paid");
    /// });
    /// assert_eq!(
    ///     output.text(),
    ///     "{\"level\":\"INFO\",\"fields\":{\"message\":\"paid\"},\"target\":\"shop\",\
    ///      \"correlation_id\":\"req-1\"}\n",
    /// );
    /// ```
    pub fn json(inner: F) -> Self {
        Self {
            inner,
            output: Output::Json,
            slots: SlotFields::default(),
        }
    }

    /// Also writes `slot`, under its declared name in lower case
    /// (`USER_ID` → `user_id`), `-` when unset.
    ///
    /// Fields are written in the order they are registered, after
    /// `correlation_id`.
    ///
    /// # Panics
    ///
    /// If that name is already registered; see
    /// [`with_slot_named`](Self::with_slot_named).
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tracing::CorrelatedFormat;
    ///
    /// correlated::slot! {
    ///     pub static USER_ID: String;
    ///     pub static TENANT_ID: u64;
    /// }
    ///
    /// let format = CorrelatedFormat::text(tracing_subscriber::fmt::format())
    ///     .with_slot(&USER_ID)
    ///     .with_slot(&TENANT_ID);
    /// assert!(format!("{format:?}").contains(r#"["user_id", "tenant_id"]"#));
    /// ```
    #[must_use]
    #[track_caller]
    pub fn with_slot<T>(mut self, slot: &'static Slot<T>) -> Self
    where
        T: fmt::Display + Clone + Send + Sync + 'static,
    {
        self.slots.push(slot);
        self
    }

    /// Also writes `slot` under the field name `name`, `-` when unset.
    ///
    /// # Panics
    ///
    /// If `name` is not 1 to 64 ASCII letters, digits, `_`, `.` or `-`, is
    /// `correlation_id`, or is already registered: each would make every
    /// event ambiguous, so it is reported when the formatter is built.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tracing::CorrelatedFormat;
    ///
    /// correlated::slot! { pub static USER_ID: String; }
    ///
    /// let format = CorrelatedFormat::text(tracing_subscriber::fmt::format())
    ///     .with_slot_named(&USER_ID, "user.id");
    /// # drop(format);
    /// ```
    #[must_use]
    #[track_caller]
    pub fn with_slot_named<T>(mut self, slot: &'static Slot<T>, name: &str) -> Self
    where
        T: fmt::Display + Clone + Send + Sync + 'static,
    {
        self.slots.push_named(slot, name.to_owned());
        self
    }

    /// Calls `f` with each field to add to `event`, skipping the ones the
    /// event sets itself.
    fn for_each_field(
        &self,
        event: &Event<'_>,
        mut f: impl FnMut(&str, &str) -> fmt::Result,
    ) -> fmt::Result {
        if !event_has_field(event, fields::CORRELATION_ID) {
            // Copied out (no allocation) so that no slot is borrowed while
            // the writer runs.
            let id = crate::current();
            f(
                fields::CORRELATION_ID,
                id.as_ref().map_or(fields::UNSET, CorrelationId::as_str),
            )?;
        }
        // Allocated only if a slot has a value.
        let mut value = String::new();
        for slot in self.slots.iter() {
            if event_has_field(event, slot.name()) {
                continue;
            }
            value.clear();
            let value = if slot.render(&mut value) {
                value.as_str()
            } else {
                fields::UNSET
            };
            f(slot.name(), value)?;
        }
        Ok(())
    }

    fn write_text_fields(&self, writer: &mut Writer<'_>, event: &Event<'_>) -> fmt::Result {
        self.for_each_field(event, |name, value| {
            writer.write_str(name)?;
            writer.write_char('=')?;
            write_text_value(writer, value)?;
            writer.write_char(' ')
        })
    }

    /// Writes `formatted` (one event as the wrapped formatter wrote it) with
    /// the fields spliced in before the object's closing brace.
    fn write_json(
        &self,
        writer: &mut Writer<'_>,
        formatted: &str,
        event: &Event<'_>,
    ) -> fmt::Result {
        let object = formatted.trim_end();
        if !(object.trim_start().starts_with('{') && object.ends_with('}')) {
            self.write_text_fields(writer, event)?;
            return writer.write_str(formatted);
        }
        let (head, tail) = formatted.split_at(object.len() - 1);
        writer.write_str(head)?;
        let mut comma = !head.trim_end().ends_with('{');
        self.for_each_field(event, |name, value| {
            if comma {
                writer.write_char(',')?;
            }
            comma = true;
            write_json_string(writer, name)?;
            writer.write_char(':')?;
            write_json_string(writer, value)
        })?;
        writer.write_str(tail)
    }
}

impl<S, N, F> FormatEvent<S, N> for CorrelatedFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        match self.output {
            Output::Text => {
                self.write_text_fields(&mut writer, event)?;
                self.inner.format_event(ctx, writer, event)
            }
            Output::Json => with_buffer(|buffer| {
                // A JSON formatter writes no colours, so a plain `Writer`
                // over the buffer loses nothing.
                self.inner.format_event(ctx, Writer::new(buffer), event)?;
                self.write_json(&mut writer, buffer, event)
            }),
        }
    }
}

/// The fmt layer with the default text formatter, wrapped in a
/// [`CorrelatedFormat`]: every line starts with `correlation_id=<id>`.
///
/// Add user slots with
/// `fmt_layer().map_event_format(|format| format.with_slot(&USER_ID))`. To
/// change the wrapped formatter's options, start from
/// `tracing_subscriber::fmt::layer()` instead and wrap the formatter last (see
/// the [module docs](self)).
///
/// # Examples
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// tracing_subscriber::registry()
///     .with(correlated::tracing::fmt_layer())
///     .init();
///
/// let _id = correlated::scope(correlated::CorrelationId::generate());
/// tracing::info!("this line carries the ID");
/// ```
pub fn fmt_layer<S>() -> Layer<S, format::DefaultFields, CorrelatedFormat<format::Format>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ::tracing_subscriber::fmt::layer().map_event_format(CorrelatedFormat::text)
}

/// The fmt layer with the JSON formatter, the event's fields flattened to the
/// top level, wrapped in a [`CorrelatedFormat`]: every object has a
/// `"correlation_id"` key (feature `tracing-json`).
///
/// # Examples
///
/// ```
/// # use std::io;
/// # use std::sync::{Arc, Mutex};
/// # #[derive(Clone, Default)]
/// # struct Capture(Arc<Mutex<Vec<u8>>>);
/// # impl io::Write for Capture {
/// #     fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
/// #         self.0.lock().unwrap().extend_from_slice(bytes);
/// #         Ok(bytes.len())
/// #     }
/// #     fn flush(&mut self) -> io::Result<()> { Ok(()) }
/// # }
/// # impl Capture {
/// #     fn text(&self) -> String { String::from_utf8(self.0.lock().unwrap().clone()).unwrap() }
/// # }
/// use tracing_subscriber::prelude::*;
///
/// correlated::slot! { static USER_ID: String; }
///
/// # let output = Capture::default();
/// # let writer = output.clone();
/// let layer = correlated::tracing::json_layer()
/// #   .with_writer(move || writer.clone())
///     .map_event_format(|format| format.with_slot(&USER_ID));
///
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     let _id = correlated::scope(correlated::CorrelationId::parse("req-1").unwrap());
///     tracing::info!(target: "shop", order = 7, "loading");
/// });
/// // {"timestamp":"..","level":"INFO","message":"loading","order":7,"target":"shop",
/// //  "correlation_id":"req-1","user_id":"-"}
/// let line = output.text();
/// assert!(line.contains(r#""message":"loading","order":7,"target":"shop","#));
/// assert!(line.ends_with(",\"correlation_id\":\"req-1\",\"user_id\":\"-\"}\n"));
/// ```
///
/// The layer's formatter is already wrapped, so options of the JSON
/// formatter itself (`without_time`, `with_target`, ..) are set by building
/// the layer by hand:
///
/// ```
/// use correlated::tracing::CorrelatedFormat;
///
/// let layer = tracing_subscriber::fmt::layer()
///     .json()
///     .flatten_event(true)
///     .without_time()
///     .map_event_format(CorrelatedFormat::json);
/// # let _: &dyn tracing_subscriber::Layer<tracing_subscriber::Registry> = &layer;
/// ```
#[cfg(feature = "tracing-json")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing-json")))]
pub fn json_layer<S>()
-> Layer<S, format::JsonFields, CorrelatedFormat<format::Format<format::Json>>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ::tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .map_event_format(CorrelatedFormat::json)
}

/// Whether `event` records a field called `name` (declared and given a
/// value, not `field::Empty`).
fn event_has_field(event: &Event<'_>, name: &str) -> bool {
    struct Recorded<'a> {
        name: &'a str,
        found: bool,
    }

    impl Visit for Recorded<'_> {
        fn record_debug(&mut self, field: &Field, _: &dyn fmt::Debug) {
            self.found |= field.name() == self.name;
        }
    }

    // Most events have no such field: the metadata says so without a visit.
    if event.metadata().fields().field(name).is_none() {
        return false;
    }
    let mut recorded = Recorded { name, found: false };
    event.record(&mut recorded);
    recorded.found
}

/// Writes `value` bare when it is a plain token (visible ASCII, no `"` or
/// `=`), and quoted with Rust's escapes otherwise, so that no value can end
/// the line or look like another field.
fn write_text_value(writer: &mut Writer<'_>, value: &str) -> fmt::Result {
    let bare = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=');
    if bare {
        writer.write_str(value)
    } else {
        write!(writer, "{value:?}")
    }
}

/// Writes `value` as a JSON string (RFC 8259): `"` and `\` escaped, control
/// characters as short escapes or `\u00XX`, everything else verbatim.
fn write_json_string(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    let mut plain = 0;
    for (index, c) in value.char_indices() {
        let short = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if c < ' ' => "",
            _ => continue,
        };
        out.write_str(&value[plain..index])?;
        if short.is_empty() {
            write!(out, "\\u{:04x}", u32::from(c))?;
        } else {
            out.write_str(short)?;
        }
        plain = index + c.len_utf8();
    }
    out.write_str(&value[plain..])?;
    out.write_char('"')
}

/// Runs `f` with an empty buffer, reusing one per thread.
fn with_buffer<R>(f: impl FnOnce(&mut String) -> R) -> R {
    /// A buffer that grew past this is dropped rather than kept for the
    /// thread's lifetime.
    const KEEP_AT_MOST: usize = 64 * 1024;

    thread_local! {
        static BUFFER: Cell<String> = const { Cell::new(String::new()) };
    }

    // The buffer is taken out of the cell rather than borrowed: a nested
    // call (an event logged while formatting one) finds the cell empty and
    // gets a fresh buffer instead of a `RefCell` panic. During thread
    // teardown the cell is gone and a fresh buffer is used as well.
    let mut buffer = BUFFER.try_with(Cell::take).unwrap_or_default();
    buffer.clear();
    let result = f(&mut buffer);
    if buffer.capacity() <= KEEP_AT_MOST {
        let _ = BUFFER.try_with(|cell| cell.set(buffer));
    }
    result
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use ::tracing::subscriber::with_default;
    use ::tracing_subscriber::fmt::MakeWriter;
    use ::tracing_subscriber::prelude::*;

    use super::*;
    use crate::Correlate;

    crate::slot! {
        static USER_ID: String;
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Capture {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    impl io::Write for Capture {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;

        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    /// See `crate::tracing_test_lock`.
    fn serial() -> std::sync::MutexGuard<'static, ()> {
        crate::tracing_test_lock()
    }

    fn id(value: &str) -> CorrelationId {
        CorrelationId::parse(value).unwrap()
    }

    fn text_subscriber(capture: &Capture) -> impl Subscriber + Send + Sync + 'static {
        let layer = ::tracing_subscriber::fmt::layer()
            .without_time()
            .with_target(false)
            .with_level(false)
            .with_ansi(false)
            .with_writer(capture.clone())
            .map_event_format(|format| CorrelatedFormat::text(format).with_slot(&USER_ID));
        ::tracing_subscriber::registry().with(layer)
    }

    fn json_subscriber(capture: &Capture) -> impl Subscriber + Send + Sync + 'static {
        let layer = ::tracing_subscriber::fmt::layer()
            .without_time()
            .with_writer(capture.clone())
            .event_format(
                CorrelatedFormat::json(FakeJson(r#"{"message":"hi"}"#)).with_slot(&USER_ID),
            );
        ::tracing_subscriber::registry().with(layer)
    }

    /// Stands in for a JSON formatter (the real one needs `tracing-json`).
    struct FakeJson(&'static str);

    impl<S, N> FormatEvent<S, N> for FakeJson
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        fn format_event(
            &self,
            _: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            _: &Event<'_>,
        ) -> fmt::Result {
            writeln!(writer, "{}", self.0)
        }
    }

    #[test]
    fn text_lines_start_with_the_id_and_slots() {
        let _serial = serial();
        let capture = Capture::default();
        with_default(text_subscriber(&capture), || {
            ::tracing::info!("outside");
            let _id = crate::scope(id("req-1"));
            let _user = USER_ID.scope("alice".into());
            ::tracing::info!(n = 1, "inside");
        });
        assert_eq!(
            capture.lines(),
            [
                "correlation_id=- user_id=- outside",
                "correlation_id=req-1 user_id=alice inside n=1",
            ]
        );
    }

    #[test]
    fn text_id_follows_a_correlated_future_across_awaits() {
        let _serial = serial();
        let capture = Capture::default();
        with_default(text_subscriber(&capture), || {
            let task = async {
                ::tracing::info!("before");
                futures::future::ready(()).await;
                ::tracing::info!("after");
            };
            futures::executor::block_on(task.correlated(id("task-7")));
            ::tracing::info!("done");
        });
        assert_eq!(
            capture.lines(),
            [
                "correlation_id=task-7 user_id=- before",
                "correlation_id=task-7 user_id=- after",
                "correlation_id=- user_id=- done",
            ]
        );
    }

    #[test]
    fn text_keeps_the_callers_fields() {
        let _serial = serial();
        let capture = Capture::default();
        with_default(text_subscriber(&capture), || {
            let _id = crate::scope(id("req-1"));
            ::tracing::info!(correlation_id = "other", user_id = "bob", "explicit");
        });
        assert_eq!(
            capture.lines(),
            [r#"explicit correlation_id="other" user_id="bob""#]
        );
    }

    #[test]
    fn an_empty_field_is_not_the_callers_value() {
        let _serial = serial();
        let capture = Capture::default();
        with_default(text_subscriber(&capture), || {
            let _id = crate::scope(id("req-1"));
            ::tracing::info!(correlation_id = ::tracing::field::Empty, "declared only");
        });
        assert_eq!(
            capture.lines(),
            ["correlation_id=req-1 user_id=- declared only"]
        );
    }

    #[test]
    fn text_quotes_values_that_are_not_plain_tokens() {
        let _serial = serial();
        let capture = Capture::default();
        with_default(text_subscriber(&capture), || {
            let _id = crate::scope(id(r#"a"b\c="#));
            let _user = USER_ID.scope("Alice Smith\nforged=1".into());
            ::tracing::info!("x");
        });
        assert_eq!(
            capture.lines(),
            [r#"correlation_id="a\"b\\c=" user_id="Alice Smith\nforged=1" x"#]
        );
    }

    #[test]
    fn json_fields_are_spliced_into_the_object() {
        let _serial = serial();
        let capture = Capture::default();
        with_default(json_subscriber(&capture), || {
            ::tracing::info!("outside");
            let _id = crate::scope(id(r#"a"b\c"#));
            let _user = USER_ID.scope("tab\there \u{1}".into());
            ::tracing::info!("inside");
        });
        assert_eq!(
            capture.lines(),
            [
                r#"{"message":"hi","correlation_id":"-","user_id":"-"}"#,
                r#"{"message":"hi","correlation_id":"a\"b\\c","user_id":"tab\there \u0001"}"#,
            ]
        );
    }

    #[test]
    fn json_keeps_the_callers_fields() {
        let _serial = serial();
        let capture = Capture::default();
        with_default(json_subscriber(&capture), || {
            let _id = crate::scope(id("req-1"));
            ::tracing::info!(correlation_id = "other", "explicit");
        });
        assert_eq!(capture.lines(), [r#"{"message":"hi","user_id":"-"}"#]);
    }

    #[test]
    fn json_into_an_empty_object_needs_no_comma() {
        let _serial = serial();
        let capture = Capture::default();
        let layer = ::tracing_subscriber::fmt::layer()
            .with_writer(capture.clone())
            .event_format(CorrelatedFormat::json(FakeJson("{ }")));
        with_default(::tracing_subscriber::registry().with(layer), || {
            ::tracing::info!("x");
        });
        assert_eq!(capture.lines(), [r#"{ "correlation_id":"-"}"#]);
    }

    #[test]
    fn json_mode_falls_back_to_text_for_output_that_is_not_an_object() {
        let _serial = serial();
        let capture = Capture::default();
        let layer = ::tracing_subscriber::fmt::layer()
            .with_writer(capture.clone())
            .event_format(CorrelatedFormat::json(FakeJson("not json")));
        with_default(::tracing_subscriber::registry().with(layer), || {
            let _id = crate::scope(id("req-1"));
            ::tracing::info!("x");
        });
        assert_eq!(capture.lines(), ["correlation_id=req-1 not json"]);
    }

    #[test]
    fn json_strings_are_escaped_as_rfc_8259_requires() {
        let _serial = serial();
        let mut out = String::new();
        write_json_string(&mut out, "q\"b\\s/\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}é").unwrap();
        // DEL and non-ASCII need no escape in JSON and are kept verbatim.
        let expected = concat!(r#""q\"b\\s/\n\r\t\b\f\u0000\u001f"#, "\u{7f}é\"");
        assert_eq!(out, expected);
    }

    #[test]
    fn nested_buffers_do_not_collide() {
        let _serial = serial();
        let outer = with_buffer(|outer| {
            outer.push_str("outer");
            let inner = with_buffer(|inner| {
                assert!(inner.is_empty());
                inner.push_str("inner");
                inner.clone()
            });
            format!("{outer}+{inner}")
        });
        assert_eq!(outer, "outer+inner");
        assert_eq!(with_buffer(|buffer| buffer.len()), 0);
    }

    #[test]
    fn concurrent_tasks_each_log_their_own_id() {
        let _serial = serial();
        let capture = Capture::default();
        let dispatch = ::tracing::Dispatch::new(text_subscriber(&capture));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        runtime.block_on(async {
            let tasks: Vec<_> = (0..50)
                .map(|n| {
                    let dispatch = dispatch.clone();
                    tokio::spawn(
                        async move {
                            for step in 0..3 {
                                ::tracing::dispatcher::with_default(&dispatch, || {
                                    ::tracing::info!(n, step, "work");
                                });
                                tokio::task::yield_now().await;
                            }
                        }
                        .correlated(id(&format!("task-{n}"))),
                    )
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        let lines = capture.lines();
        assert_eq!(lines.len(), 150);
        for line in lines {
            let n = line.split(" n=").nth(1).unwrap().split(' ').next().unwrap();
            assert!(
                line.starts_with(&format!("correlation_id=task-{n} ")),
                "{line}"
            );
        }
    }
}
