//! docs/users-guide.md, "Traces and OpenTelemetry": the ID is on a span, so
//! every subscriber layer sees it, not only the fmt layer. A recording layer
//! stands for "any layer": it sees only what tracing hands every layer (span
//! attributes and the span context of each event), never the formatter.
//!
//! - `#[correlated(span)]`: a span named after the function (or `span =
//!   "name"`), at INFO, in the user's module, with `correlation_id` and the
//!   bound slots as fields, current for the whole body on every shape;
//! - the tower layer's `request_span` and `correlated::tracing::request_span`
//!   in tower-http's `TraceLayer`: one span named `request`, with tower-http's
//!   fields and `correlation_id`, around the handler and the response body.

mod support;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Mutex;

use correlated::correlated;
use tracing::instrument::WithSubscriber;
use tracing::{Dispatch, Level};
use tracing_subscriber::prelude::*;

use support::YieldOnce;

correlated::slot! {
    static USER_ID: String;
}

// --- A layer that records what every layer sees -----------------------------

#[path = "support/span_recorder.rs"]
mod span_recorder;

use span_recorder::{Recorder, SeenEvent};

/// A subscriber made of the registry and `recorder` alone.
fn dispatch(recorder: &Recorder) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(recorder.clone()))
}

/// Tests run one at a time (see logging.rs): callsite interest is cached
/// per process and rebuilt whenever a dispatcher comes or goes.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `future` on a two-worker runtime with `dispatch` attached to it and
/// to every task it spawns with `correlated::spawn`.
fn run<F: Future + Send + 'static>(dispatch: &Dispatch, future: F) -> F::Output
where
    F::Output: Send,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _default = tracing::dispatcher::set_default(dispatch);
    let future = future.with_subscriber(dispatch.clone());
    runtime
        .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(20), future).await })
        .expect("the test finishes in time")
}

// --- #[correlated(span)] ----------------------------------------------------

#[correlated(span, id = order_id.to_string(), USER_ID = user)]
async fn load_order(order_id: u32, user: &str) {
    tracing::info!("before");
    YieldOnce(false).await;
    tokio::task::yield_now().await;
    tracing::info!("after");
}

#[test]
fn an_async_function_runs_in_its_span_across_awaits_and_threads() {
    let _serial = serial();
    let recorder = Recorder::default();
    run(&dispatch(&recorder), async {
        let tasks: Vec<_> = (0..20)
            .map(|n| tokio::spawn(load_order(n, "alice").with_current_subscriber()))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    let events = recorder.events();
    assert_eq!(events.len(), 40);
    for event in &events {
        let span = &event.spans[0];
        assert_eq!(span.name, "load_order");
        assert_eq!(span.level, Level::INFO);
        assert_eq!(span.target, module_path!());
        // The field is the ID the body sees, on every event, whichever
        // worker thread polled it.
        assert_eq!(event.span_id(), event.current.as_deref(), "{event:?}");
        assert_eq!(span.fields["user_id"], "alice");
        assert_eq!(event.spans.len(), 1, "no other span: {event:?}");
    }
    let ids: std::collections::BTreeSet<_> = events.iter().map(SeenEvent::span_id).collect();
    assert_eq!(ids.len(), 20);
}

#[correlated(span = "nightly-report", fresh)]
fn report() -> Option<String> {
    let _guard = LogOnDrop;
    tracing::info!("working");
    support::current_text()
}

/// Logs when dropped: destructors of the body run inside its span too.
struct LogOnDrop;

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        tracing::info!("dropped");
    }
}

#[test]
fn a_sync_function_runs_in_its_named_span_until_its_locals_drop() {
    let _serial = serial();
    let recorder = Recorder::default();
    let seen = tracing::dispatcher::with_default(&dispatch(&recorder), report);
    let events = recorder.events();
    assert_eq!(events.len(), 2);
    for event in &events {
        assert_eq!(event.spans[0].name, "nightly-report");
        assert_eq!(event.span_id(), seen.as_deref());
    }
    assert_eq!(events[1].message, "dropped");
}

#[correlated(span, id = "future-1")]
fn returns_future() -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    tracing::info!("building");
    Box::pin(async {
        YieldOnce(false).await;
        tracing::info!("polled later");
    })
}

#[test]
fn a_returned_future_keeps_the_span_after_the_function_returned() {
    let _serial = serial();
    let recorder = Recorder::default();
    let dispatch = dispatch(&recorder);
    let future = tracing::dispatcher::with_default(&dispatch, returns_future);
    tracing::dispatcher::with_default(&dispatch, || futures::executor::block_on(future));
    let events = recorder.events();
    assert_eq!(events.len(), 2);
    for event in &events {
        assert_eq!(event.spans[0].name, "returns_future");
        assert_eq!(event.span_id(), Some("future-1"));
        assert_eq!(event.current.as_deref(), Some("future-1"));
    }
}

#[test]
fn outside_the_function_nothing_is_in_its_span() {
    let _serial = serial();
    let recorder = Recorder::default();
    tracing::dispatcher::with_default(&dispatch(&recorder), || {
        report();
        tracing::info!("after");
    });
    let events = recorder.events();
    assert_eq!(events.last().unwrap().message, "after");
    assert!(events.last().unwrap().spans.is_empty());
}

// --- The request span: the tower layer, or tower-http's TraceLayer ---------

mod request_span {
    use axum::body::Body;
    use axum::routing::get;
    use correlated::tower::CorrelationLayer;
    use correlated::tracing::RequestSpan;
    use futures::StreamExt as _;
    use http_body_util::BodyExt;
    use tower::{ServiceBuilder, ServiceExt};
    use tower_http::trace::TraceLayer;

    use super::*;

    /// Logs in the handler, then in every chunk of a body streamed after the
    /// handler returned.
    async fn orders() -> Body {
        tracing::info!("handler");
        let chunks = futures::stream::iter(0..2).map(|n| {
            tracing::info!(n, "chunk");
            Ok::<_, Infallible>(format!("{n};"))
        });
        Body::from_stream(chunks)
    }

    fn app() -> axum::Router {
        axum::Router::new().route("/orders", get(orders))
    }

    /// Sends one request; returns the echoed ID. The body is read to its
    /// end, so its chunks are logged.
    async fn send<S, B>(service: S) -> String
    where
        S: tower::Service<http::Request<Body>, Response = http::Response<B>, Error = Infallible>,
        B: http_body::Body<Error: std::fmt::Debug>,
    {
        let request = http::Request::get("/orders?page=2")
            .body(Body::empty())
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        let id = response.headers()["x-correlation-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "0;1;");
        id
    }

    /// Every application event is in exactly one span named `request`, with
    /// tower-http's fields and the request's ID, the ID the code saw.
    fn assert_one_request_span(events: &[SeenEvent], id: &str, level: Level) {
        let ours: Vec<_> = events
            .iter()
            .filter(|event| event.message == "handler" || event.message == "chunk")
            .collect();
        assert_eq!(ours.len(), 3, "{events:#?}");
        for event in ours {
            let requests: Vec<_> = event
                .spans
                .iter()
                .filter(|span| span.name == "request")
                .collect();
            assert_eq!(requests.len(), 1, "{event:#?}");
            let span = requests[0];
            assert_eq!(span.level, level);
            assert_eq!(span.fields["method"], "GET");
            assert_eq!(span.fields["uri"], "/orders?page=2");
            assert_eq!(span.fields["version"], "HTTP/1.1");
            assert_eq!(span.fields["correlation_id"], id);
            assert_eq!(event.current.as_deref(), Some(id));
        }
    }

    #[test]
    fn the_layers_span_covers_the_handler_and_the_streamed_body() {
        let _serial = serial();
        let recorder = Recorder::default();
        let id = run(&dispatch(&recorder), async {
            let layer = CorrelationLayer::builder()
                .request_span(RequestSpan::new())
                .build();
            send(app().layer(layer)).await
        });
        let events = recorder.events();
        assert_one_request_span(&events, &id, Level::DEBUG);
        let span = &events[0].spans[0];
        assert_eq!(span.target, "correlated::tracing");
    }

    #[test]
    fn trace_layer_makes_the_same_span_inside_the_layer() {
        let _serial = serial();
        let recorder = Recorder::default();
        let spans = RequestSpan::new().level(Level::INFO);
        let id = run(&dispatch(&recorder), async move {
            let service = ServiceBuilder::new()
                .layer(CorrelationLayer::new())
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(move |request: &http::Request<Body>| spans.make(request)),
                )
                .service(app());
            send(service).await
        });
        assert_one_request_span(&recorder.events(), &id, Level::INFO);
    }

    #[test]
    fn request_span_is_a_make_span_for_trace_layer() {
        let _serial = serial();
        let recorder = Recorder::default();
        let id = run(&dispatch(&recorder), async move {
            let service = ServiceBuilder::new()
                .layer(CorrelationLayer::new())
                .layer(TraceLayer::new_for_http().make_span_with(correlated::tracing::request_span))
                .service(app());
            send(service).await
        });
        assert_one_request_span(&recorder.events(), &id, Level::DEBUG);
    }

    /// Sets `USER_ID` for the rest of the request (a bare set, in the
    /// request's frame), then streams as `orders` does.
    async fn orders_for_bob() -> Body {
        let _persists = USER_ID.set("bob".to_owned());
        orders().await
    }

    #[test]
    fn a_chosen_slot_is_a_field_recorded_when_the_handler_is_done() {
        let _serial = serial();
        let recorder = Recorder::default();
        let id = run(&dispatch(&recorder), async {
            let layer = CorrelationLayer::builder()
                .request_span(RequestSpan::new().slot(&USER_ID))
                .build();
            let app = axum::Router::new().route("/orders", get(orders_for_bob));
            send(app.layer(layer)).await
        });
        let events = recorder.events();
        assert_one_request_span(&events, &id, Level::DEBUG);
        for event in events.iter().filter(|event| !event.message.is_empty()) {
            let user = event.spans[0].fields.get("user_id").map(String::as_str);
            match event.message.as_str() {
                // Set by the handler after the span was made.
                "handler" => assert_eq!(user, None, "{event:#?}"),
                // Recorded when the handler's future completed.
                _ => assert_eq!(user, Some("bob"), "{event:#?}"),
            }
        }
    }

    #[test]
    fn no_span_unless_asked() {
        let _serial = serial();
        let recorder = Recorder::default();
        run(&dispatch(&recorder), async {
            send(app().layer(CorrelationLayer::new())).await
        });
        for event in recorder.events() {
            assert!(event.spans.is_empty(), "{event:#?}");
        }
    }
}
