//! The request span: a [`tracing`] span that carries `correlation_id` as a
//! field, so every layer of a subscriber sees the ID in the span context,
//! not only the fmt layer that [`CorrelatedFormat`](super::CorrelatedFormat)
//! wraps.

// Making the span needs a request: the `http` feature, which every server
// integration has.
use std::fmt;
use std::sync::{Arc, OnceLock};

use ::tracing::Level;
#[cfg(feature = "http")]
use ::tracing::Span;

use super::callsite::DynamicCallsite;
use crate::fields::SlotFields;
#[cfg(feature = "http")]
use crate::id::CorrelationId;
use crate::slot::Slot;

/// The span's name, as tower-http's `DefaultMakeSpan` names its own.
#[cfg(feature = "http")]
const NAME: &str = "request";

/// The span's target.
#[cfg(feature = "http")]
const TARGET: &str = "correlated::tracing";

/// How the request span is made: the span tower-http's `TraceLayer` makes by
/// default (`DefaultMakeSpan`: name `request`, level `DEBUG`, fields
/// `method`, `uri` and `version`), plus `correlation_id`.
///
/// Use it in one of two places, never both (each makes a span named
/// `request`):
///
/// - on the layer, with
#[cfg_attr(
    feature = "tower",
    doc = "  [`CorrelationLayerBuilder::request_span`](crate::tower::CorrelationLayerBuilder::request_span),"
)]
#[cfg_attr(
    not(feature = "tower"),
    doc = "  `CorrelationLayerBuilder::request_span`,"
)]
///   when the service has no `TraceLayer`: the layer makes the span and
///   enters it for every poll of the request's future and response body;
/// - in tower-http's `TraceLayer`, with
///   `.make_span_with(correlated::tracing::request_span)` (or a closure
///   calling `RequestSpan::make` for another level), when the service has
///   one: `TraceLayer` then makes this span instead of its own. Add it
///   *after* `CorrelationLayer` in a `ServiceBuilder` (inside it), so the ID
///   is decided before the span is made.
///
/// User slots chosen with [`slot`](Self::slot) are fields too.
///
/// The span's target is `correlated::tracing`. With the `opentelemetry`
/// feature and the layer's trace-context bridge on, a span made for a
/// request whose `traceparent` the layer accepted continues that trace: its
/// OpenTelemetry parent is the caller's span.
///
/// # Examples
///
/// ```
/// use correlated::tracing::RequestSpan;
/// use tracing::Level;
///
/// let spans = RequestSpan::new().level(Level::INFO);
/// # drop(spans);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpan {
    level: Level,
    // `None` without slots: the span is `span!`'s, with a callsite of its
    // own. Shared by clones, with the callsites made for it.
    slots: Option<Arc<Slots>>,
}

/// The user slots of a [`RequestSpan`], and the callsite of its spans at
/// each level, made on first use.
struct Slots {
    fields: SlotFields,
    // Read only where requests are (`http`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    callsites: [OnceLock<&'static DynamicCallsite>; 5],
}

impl Slots {
    fn new(fields: SlotFields) -> Self {
        Self {
            fields,
            callsites: Default::default(),
        }
    }
}

impl fmt::Debug for Slots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fields.fmt(f)
    }
}

// Two `RequestSpan`s that make the same spans are equal.
impl PartialEq for Slots {
    fn eq(&self, other: &Self) -> bool {
        self.fields
            .iter()
            .map(|field| field.name())
            .eq(other.fields.iter().map(|field| field.name()))
    }
}

impl Eq for Slots {}

/// The fields every request span has, in order, before the slots'.
#[cfg(feature = "http")]
const FIELDS: [&str; 4] = ["method", "uri", "version", crate::fields::CORRELATION_ID];

impl RequestSpan {
    /// Spans at level `DEBUG`, tower-http's default.
    ///
    /// # Examples
    ///
    /// ```
    /// let spans = correlated::tracing::RequestSpan::new();
    /// # drop(spans);
    /// ```
    pub const fn new() -> Self {
        Self {
            level: Level::DEBUG,
            slots: None,
        }
    }

    /// Makes the spans at `level` instead. A span whose level the subscriber
    /// filters out is not made at all, so an `info` filter needs
    /// `Level::INFO` here (or a directive such as `correlated=debug`).
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tracing::RequestSpan;
    ///
    /// let spans = RequestSpan::new().level(tracing::Level::INFO);
    /// # drop(spans);
    /// ```
    #[must_use = "this returns a new `RequestSpan` and leaves the original unchanged"]
    pub const fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Adds the value of `slot` as a span field, under the slot's declared
    /// name in lower case (`TENANT` → `tenant`), written with its `Display`
    /// impl as the formatter writes it.
    ///
    /// The span is made before the handler runs, so the field is recorded
    /// twice: when the span is made, from the request's context (a value the
    /// caller's context or a middleware outside this one set), and again when
    /// the handler's future completes, from the context it ran in (a value
    /// an inner middleware or the handler set with a bare `set`, which lasts
    /// until the request ends). A slot unset both times leaves the field
    /// empty. Events in between see the first value only; code that sets a
    /// slot can record it at once with
    /// `tracing::Span::current().record("tenant", ..)`.
    /// [`make`](Self::make), inside tower-http's `TraceLayer`, records the
    /// first value only: the completion is `TraceLayer`'s.
    ///
    /// # Panics
    ///
    /// If the field's name is taken (`method`, `uri`, `version`,
    /// `correlation_id`, or another slot's), or is not 1 to 64 ASCII
    /// letters, digits, `_`, `.` or `-`: set-up mistakes, found when the
    /// service is built. Use [`slot_named`](Self::slot_named) to pick
    /// another name.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tracing::RequestSpan;
    ///
    /// correlated::slot! {
    ///     /// The customer the request acts for.
    ///     pub static TENANT: String;
    /// }
    ///
    /// let spans = RequestSpan::new().slot(&TENANT);
    /// # drop(spans);
    /// ```
    #[must_use = "this returns a new `RequestSpan` and leaves the original unchanged"]
    #[track_caller]
    pub fn slot<T>(self, slot: &'static Slot<T>) -> Self
    where
        T: fmt::Display + Clone + Send + Sync + 'static,
    {
        let name = slot.name().to_ascii_lowercase();
        self.slot_named(slot, name)
    }

    /// Adds the value of `slot` as a span field named `name`; otherwise as
    /// [`slot`](Self::slot).
    ///
    /// # Panics
    ///
    /// As [`slot`](Self::slot), for `name`.
    ///
    /// # Examples
    ///
    /// ```
    /// use correlated::tracing::RequestSpan;
    ///
    /// correlated::slot! { pub static TENANT: String; }
    ///
    /// let spans = RequestSpan::new().slot_named(&TENANT, "tenant.id");
    /// # drop(spans);
    /// ```
    #[must_use = "this returns a new `RequestSpan` and leaves the original unchanged"]
    #[track_caller]
    pub fn slot_named<T>(mut self, slot: &'static Slot<T>, name: impl Into<String>) -> Self
    where
        T: fmt::Display + Clone + Send + Sync + 'static,
    {
        let name = name.into();
        assert!(
            !["method", "uri", "version"].contains(&name.as_str()),
            "correlated: cannot record slot `{}` as `{name}` on the request span: that field \
             holds the request line; pick another name with `slot_named`",
            slot.name(),
        );
        let mut fields = self
            .slots
            .as_ref()
            .map_or_else(SlotFields::default, |slots| slots.fields.clone());
        fields.push_named(slot, name);
        self.slots = Some(Arc::new(Slots::new(fields)));
        self
    }

    /// Records the slots' values in the current context on `span`: those
    /// that are set; an unset one keeps what it had.
    #[cfg(feature = "http")]
    pub(crate) fn record_slots(&self, span: &::tracing::Span) {
        let Some(slots) = &self.slots else { return };
        if span.is_disabled() {
            return;
        }
        let mut value = String::new();
        for field in slots.fields.iter() {
            value.clear();
            if field.render(&mut value) {
                span.record(field.name(), ::tracing::field::display(&value));
            }
        }
    }

    /// The span for `request`: `correlation_id` is the [`CorrelationId`] in
    /// the request's extensions (where `CorrelationLayer` puts it), else the
    /// current one; the field is left empty when there is neither.
    ///
    /// With the `opentelemetry` feature, a
    #[cfg_attr(feature = "tower", doc = "[`TraceParent`](crate::tower::TraceParent)")]
    #[cfg_attr(not(feature = "tower"), doc = "`TraceParent`")]
    /// in the extensions (the layer's trace-context bridge accepted it)
    /// becomes the span's OpenTelemetry parent.
    ///
    /// # Examples
    ///
    /// Inside tower-http's `TraceLayer`, at level `INFO`:
    ///
    /// ```
    /// # #[cfg(feature = "tower")]
    /// # futures::executor::block_on(async {
    /// use correlated::tower::CorrelationLayer;
    /// use correlated::tracing::RequestSpan;
    /// use tower::{ServiceBuilder, ServiceExt};
    /// use tower_http::trace::TraceLayer;
    /// # use std::convert::Infallible;
    /// # let app = tower::service_fn(|_: http::Request<String>| async {
    /// #     Ok::<_, Infallible>(http::Response::new(String::new()))
    /// # });
    ///
    /// let spans = RequestSpan::new().level(tracing::Level::INFO);
    /// let service = ServiceBuilder::new()
    ///     .layer(CorrelationLayer::new())
    ///     .layer(TraceLayer::new_for_http().make_span_with(move |request: &http::Request<_>| {
    ///         spans.make(request)
    ///     }))
    ///     .service(app);
    ///
    /// let response = service.oneshot(http::Request::new(String::new())).await.unwrap();
    /// assert!(response.headers().contains_key("x-correlation-id"));
    /// # });
    /// ```
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn make<B>(&self, request: &::http::Request<B>) -> Span {
        let extensions = request.extensions();
        let span = match extensions.get::<CorrelationId>() {
            Some(id) => self.make_with(Some(id), request),
            None => self.make_with(crate::current().as_ref(), request),
        };
        self.record_slots(&span);
        #[cfg(all(feature = "tower", feature = "opentelemetry"))]
        if let Some(parent) = extensions.get::<crate::tower::TraceParent>() {
            crate::opentelemetry::continue_trace(&span, parent);
        }
        span
    }

    /// The span for a request with correlation ID `id`; the shared maker of
    /// every integration (tower, actix-web), which differ only in how they
    /// hold the method, URI and version. The slots' fields are declared
    /// empty: [`record_slots`](Self::record_slots) fills them.
    #[cfg(feature = "http")]
    pub(crate) fn make_with(&self, id: Option<&CorrelationId>, request: &impl RequestLine) -> Span {
        let method = request.method();
        let uri = request.uri();
        let version = request.version();
        let id = id.map(|id| ::tracing::field::display(id.as_str()));
        if let Some(slots) = &self.slots {
            let callsite = self.callsite(slots);
            if !callsite.enabled() {
                return Span::none();
            }
            let metadata = callsite.static_metadata();
            let fields = metadata.fields();
            let field = |name| fields.field(name).expect("the callsite declares it");
            let [method_field, uri_field, version_field, id_field] = FIELDS.map(field);
            let method = ::tracing::field::display(&method);
            let uri = ::tracing::field::display(&uri);
            let version = ::tracing::field::debug(&version);
            let values: [(&::tracing::field::Field, Option<&dyn ::tracing::Value>); 4] = [
                (&method_field, Some(&method)),
                (&uri_field, Some(&uri)),
                (&version_field, Some(&version)),
                (&id_field, id.as_ref().map(|id| id as &dyn ::tracing::Value)),
            ];
            return Span::new(metadata, &fields.value_set(&values));
        }
        // `span!` needs its level as a constant (tower-http does the same).
        macro_rules! make_span {
            ($level:expr) => {
                ::tracing::span!(
                    target: TARGET,
                    $level,
                    NAME,
                    method = %method,
                    uri = %uri,
                    version = ?version,
                    correlation_id = id,
                )
            };
        }
        match self.level {
            Level::ERROR => make_span!(Level::ERROR),
            Level::WARN => make_span!(Level::WARN),
            Level::INFO => make_span!(Level::INFO),
            Level::DEBUG => make_span!(Level::DEBUG),
            Level::TRACE => make_span!(Level::TRACE),
        }
    }

    /// The callsite of this configuration's spans at its level.
    #[cfg(feature = "http")]
    fn callsite(&self, slots: &Slots) -> &'static DynamicCallsite {
        let index = match self.level {
            Level::ERROR => 0,
            Level::WARN => 1,
            Level::INFO => 2,
            Level::DEBUG => 3,
            Level::TRACE => 4,
        };
        slots.callsites[index].get_or_init(|| {
            let names: Vec<&str> = FIELDS
                .into_iter()
                .chain(slots.fields.iter().map(|field| field.name()))
                .collect();
            DynamicCallsite::get(NAME, TARGET, self.level, &names)
        })
    }
}

impl Default for RequestSpan {
    fn default() -> Self {
        Self::new()
    }
}

/// What the request span shows of a request, whichever `http` types the
/// framework uses (actix-web's differ from `http` 1's). Every server
/// integration has the `http` feature.
#[cfg(feature = "http")]
pub(crate) trait RequestLine {
    fn method(&self) -> impl fmt::Display;
    fn uri(&self) -> impl fmt::Display;
    /// Shown with `Debug`, as `HTTP/1.1`, like tower-http.
    fn version(&self) -> impl fmt::Debug;
}

#[cfg(feature = "http")]
impl<B> RequestLine for ::http::Request<B> {
    fn method(&self) -> impl fmt::Display {
        self.method()
    }

    fn uri(&self) -> impl fmt::Display {
        self.uri()
    }

    fn version(&self) -> impl fmt::Debug {
        self.version()
    }
}

/// [`RequestSpan::new().make(request)`](RequestSpan::make): the default
/// request span, as a function to hand to tower-http's
/// `TraceLayer::make_span_with`.
///
/// # Examples
///
/// `TraceLayer` inside `CorrelationLayer` (added after it), making this span
/// instead of its own:
///
/// ```
/// # #[cfg(feature = "tower")]
/// # futures::executor::block_on(async {
/// use correlated::tower::CorrelationLayer;
/// use tower::{ServiceBuilder, ServiceExt};
/// use tower_http::trace::TraceLayer;
/// # use std::convert::Infallible;
/// # let app = tower::service_fn(|_: http::Request<String>| async {
/// #     Ok::<_, Infallible>(http::Response::new(String::new()))
/// # });
///
/// let service = ServiceBuilder::new()
///     .layer(CorrelationLayer::new())
///     .layer(TraceLayer::new_for_http().make_span_with(correlated::tracing::request_span))
///     .service(app);
///
/// let response = service.oneshot(http::Request::new(String::new())).await.unwrap();
/// assert!(response.headers().contains_key("x-correlation-id"));
/// # });
/// ```
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub fn request_span<B>(request: &::http::Request<B>) -> Span {
    RequestSpan::new().make(request)
}
