//! Decisions of the server layer, one promise per test.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use futures::executor::block_on;
use tower::{Layer, ServiceExt, service_fn};

use super::*;
use crate::CorrelationId;
use crate::http::X_CORRELATION_ID;

const VALID: &str = "req-0001";

/// What the inner service saw.
#[derive(Debug)]
struct Seen {
    current: Option<CorrelationId>,
    extension: Option<CorrelationId>,
    header: Option<HeaderValue>,
    trace_parent: Option<TraceParent>,
    trace_id: Option<String>,
    traceparent_header: Option<HeaderValue>,
}

/// Sends `request` through `layer` to a handler that records what it sees.
fn send<P>(layer: &CorrelationLayer<P>, request: Request<()>) -> (Response<String>, Option<Seen>)
where
    P: PeerAddr<()> + Clone,
{
    let seen = Arc::new(std::sync::Mutex::new(None));
    let record = Arc::clone(&seen);
    let service = layer.layer(service_fn(move |request: Request<()>| {
        let record = Arc::clone(&record);
        async move {
            *record.lock().unwrap() = Some(Seen {
                current: crate::current(),
                extension: request.extensions().get::<CorrelationId>().cloned(),
                header: request.headers().get(X_CORRELATION_ID).cloned(),
                trace_parent: request.extensions().get::<TraceParent>().copied(),
                trace_id: TRACE_ID.get(),
                traceparent_header: request.headers().get("traceparent").cloned(),
            });
            Ok::<_, Infallible>(Response::new(String::from("ok")))
        }
    }));
    let response = block_on(service.oneshot(request)).unwrap();
    let seen = seen.lock().unwrap().take();
    (
        response.map(|body| body.into_inner().unwrap_or_default()),
        seen,
    )
}

fn request(header: Option<&[u8]>, peer: Option<&str>) -> Request<()> {
    let mut request = Request::new(());
    if let Some(value) = header {
        let value = HeaderValue::from_bytes(value).unwrap();
        request.headers_mut().insert(X_CORRELATION_ID, value);
    }
    if let Some(peer) = peer {
        let addr = SocketAddr::new(peer.parse().unwrap(), 443);
        request.extensions_mut().insert(addr);
    }
    request
}

fn echoed<B>(response: &Response<B>) -> &str {
    response.headers()[X_CORRELATION_ID].to_str().unwrap()
}

fn assert_v7(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id:?} is not a UUID"));
    assert_eq!(uuid.get_version_num(), 7, "{id}");
}

fn trusting(sources: &[&str]) -> CorrelationLayer {
    CorrelationLayer::builder()
        .trust_many(sources)
        .unwrap()
        .build()
}

#[test]
fn no_header_gets_a_generated_v7_that_the_handler_sees_and_the_response_echoes() {
    let _serial = crate::tracing_test_lock();
    let (response, seen) = send(&CorrelationLayer::new(), request(None, None));
    let seen = seen.unwrap();
    let id = echoed(&response);
    assert_v7(id);
    assert_eq!(seen.current.as_ref().unwrap(), id);
    assert_eq!(seen.extension.as_ref().unwrap(), id);
}

#[test]
fn by_default_no_one_is_trusted() {
    let _serial = crate::tracing_test_lock();
    let (response, seen) = send(
        &CorrelationLayer::new(),
        request(Some(VALID.as_bytes()), Some("127.0.0.1")),
    );
    assert_v7(echoed(&response));
    assert_ne!(seen.unwrap().current.unwrap(), VALID);
}

#[test]
fn trusted_peers_keep_their_valid_id() {
    let _serial = crate::tracing_test_lock();
    let layer = trusting(&["192.0.2.7", "10.0.0.0/8", "2001:db8::/32"]);
    for peer in [
        "192.0.2.7",
        "10.255.0.1",
        "2001:db8:1::5",
        "::ffff:10.0.0.9",
    ] {
        let (response, seen) = send(&layer, request(Some(VALID.as_bytes()), Some(peer)));
        assert_eq!(echoed(&response), VALID, "{peer}");
        assert_eq!(seen.unwrap().current.unwrap(), VALID, "{peer}");
    }
}

#[test]
fn untrusted_peers_get_a_new_id() {
    let _serial = crate::tracing_test_lock();
    let layer = trusting(&["192.0.2.7", "10.0.0.0/8", "2001:db8::/32"]);
    for peer in ["192.0.2.8", "11.0.0.1", "2001:db9::1", "::ffff:11.0.0.1"] {
        let (response, _) = send(&layer, request(Some(VALID.as_bytes()), Some(peer)));
        assert_ne!(echoed(&response), VALID, "{peer}");
        assert_v7(echoed(&response));
    }
}

#[test]
fn an_unknown_peer_is_not_trusted_even_when_everyone_is() {
    let _serial = crate::tracing_test_lock();
    let layer = trusting(&["0.0.0.0/0", "::/0"]);
    let (response, _) = send(&layer, request(Some(VALID.as_bytes()), None));
    assert_ne!(echoed(&response), VALID);
    let (response, _) = send(&layer, request(Some(VALID.as_bytes()), Some("203.0.113.1")));
    assert_eq!(echoed(&response), VALID);
}

#[test]
fn x_forwarded_for_is_never_trusted_implicitly() {
    let _serial = crate::tracing_test_lock();
    let layer = trusting(&["10.0.0.0/8"]);
    let mut request = request(Some(VALID.as_bytes()), Some("203.0.113.1"));
    request
        .headers_mut()
        .insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
    let (response, _) = send(&layer, request);
    assert_ne!(echoed(&response), VALID);
}

#[test]
fn a_custom_peer_extractor_decides_trust() {
    let _serial = crate::tracing_test_lock();
    let layer = CorrelationLayer::builder()
        .trust("10.0.0.0/8")
        .unwrap()
        .peer_addr(|request: &Request<()>| -> Option<IpAddr> {
            request
                .headers()
                .get("x-test-peer")?
                .to_str()
                .ok()?
                .parse()
                .ok()
        })
        .build();
    let mut trusted = request(Some(VALID.as_bytes()), None);
    trusted
        .headers_mut()
        .insert("x-test-peer", HeaderValue::from_static("10.1.1.1"));
    assert_eq!(echoed(&send(&layer, trusted).0), VALID);
    // The socket address extension is not consulted any more.
    let untrusted = request(Some(VALID.as_bytes()), Some("10.1.1.1"));
    assert_ne!(echoed(&send(&layer, untrusted).0), VALID);
}

#[test]
fn hostile_values_from_trusted_peers_are_replaced_and_never_echoed() {
    let _serial = crate::tracing_test_lock();
    let layer = trusting(&["127.0.0.1"]);
    let long = vec![b'x'; 600];
    let hostile: [&[u8]; 6] = [
        b"",
        b"two words",
        b"tab\there",
        b"caf\xe9",
        "caf\u{e9}".as_bytes(),
        &long,
    ];
    for value in hostile {
        let (response, seen) = send(&layer, request(Some(value), Some("127.0.0.1")));
        let id = echoed(&response);
        assert_v7(id);
        let seen = seen.unwrap();
        assert_eq!(seen.current.unwrap(), id);
        assert_eq!(
            response.headers().get_all(X_CORRELATION_ID).iter().count(),
            1
        );
    }
}

#[test]
fn a_repeated_header_is_replaced() {
    let _serial = crate::tracing_test_lock();
    let layer = trusting(&["127.0.0.1"]);
    let mut request = request(Some(VALID.as_bytes()), Some("127.0.0.1"));
    request
        .headers_mut()
        .append(X_CORRELATION_ID, HeaderValue::from_static("req-0002"));
    let (response, _) = send(&layer, request);
    assert_v7(echoed(&response));
}

#[test]
fn the_validator_runs_after_the_floor_and_a_panic_means_invalid() {
    let _serial = crate::tracing_test_lock();
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .validator(|id| {
            assert!(!id.contains("boom"), "validator bug");
            id.starts_with("req-")
        })
        .build();
    let send_value = |value: &str| {
        let (response, _) = send(&layer, request(Some(value.as_bytes()), Some("127.0.0.1")));
        echoed(&response).to_owned()
    };
    assert_eq!(send_value("req-1"), "req-1");
    assert_v7(&send_value("job-1"));
    assert_v7(&send_value("req-boom"));
}

#[test]
fn uuid_only_normalises_and_rejects_other_formats() {
    let _serial = crate::tracing_test_lock();
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .uuid_only()
        .build();
    let upper = "0192F0C3E1B27C3A8F4D2B1A0C9E8D7F";
    let (response, seen) = send(&layer, request(Some(upper.as_bytes()), Some("127.0.0.1")));
    assert_eq!(echoed(&response), "0192f0c3-e1b2-7c3a-8f4d-2b1a0c9e8d7f");
    assert_eq!(
        seen.unwrap().current.unwrap(),
        "0192f0c3-e1b2-7c3a-8f4d-2b1a0c9e8d7f"
    );
    let (response, _) = send(&layer, request(Some(VALID.as_bytes()), Some("127.0.0.1")));
    assert_v7(echoed(&response));
}

#[test]
fn a_custom_generator_makes_the_new_ids() {
    let _serial = crate::tracing_test_lock();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let layer = CorrelationLayer::builder()
        .generator(move || {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            CorrelationId::parse(&format!("gen-{n}")).unwrap()
        })
        .build();
    let (response, seen) = send(&layer, request(None, None));
    assert_eq!(echoed(&response), "gen-0");
    assert_eq!(seen.unwrap().current.unwrap(), "gen-0");
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

#[test]
fn reject_answers_400_to_an_invalid_trusted_value_without_calling_the_handler() {
    let _serial = crate::tracing_test_lock();
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .on_invalid(OnInvalid::Reject)
        .build();
    let (response, seen) = send(&layer, request(Some(b"bad value"), Some("127.0.0.1")));
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(seen.is_none(), "the handler ran");
    assert_eq!(response.body(), "");
    assert_v7(echoed(&response));
}

#[test]
fn reject_does_not_apply_to_untrusted_or_missing_values() {
    let _serial = crate::tracing_test_lock();
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .on_invalid(OnInvalid::Reject)
        .build();
    for request in [
        request(Some(b"bad value"), Some("192.0.2.1")),
        request(None, Some("127.0.0.1")),
    ] {
        let (response, seen) = send(&layer, request);
        assert_eq!(response.status(), StatusCode::OK);
        assert!(seen.is_some());
    }
}

#[test]
fn echo_overwrites_the_handlers_header_and_can_be_turned_off() {
    let _serial = crate::tracing_test_lock();
    let inner = || {
        service_fn(|_: Request<()>| async {
            let mut response = Response::new(String::new());
            response
                .headers_mut()
                .insert(X_CORRELATION_ID, HeaderValue::from_static("from-handler"));
            Ok::<_, Infallible>(response)
        })
    };
    let response = block_on(
        CorrelationLayer::new()
            .layer(inner())
            .oneshot(request(None, None)),
    )
    .unwrap();
    assert_v7(echoed(&response));

    let silent = CorrelationLayer::builder().echo(false).build();
    let response = block_on(silent.layer(inner()).oneshot(request(None, None))).unwrap();
    assert_eq!(echoed(&response), "from-handler");

    let silent = CorrelationLayer::builder().echo(false).build();
    let (response, _) = send(&silent, request(None, None));
    assert!(!response.headers().contains_key(X_CORRELATION_ID));
}

#[test]
fn set_request_header_writes_the_chosen_id_for_the_handler() {
    let _serial = crate::tracing_test_lock();
    let layer = CorrelationLayer::builder().set_request_header(true).build();
    let (response, seen) = send(&layer, request(Some(b"bad value"), None));
    let seen = seen.unwrap();
    assert_eq!(seen.header.unwrap(), echoed(&response));

    let (_, seen) = send(&CorrelationLayer::new(), request(Some(b"untouched"), None));
    assert_eq!(seen.unwrap().header.unwrap(), "untouched");
}

#[test]
fn fallback_headers_are_read_in_priority_order_and_echoed_under_the_primary() {
    let _serial = crate::tracing_test_lock();
    let x_request_id = HeaderName::from_static("x-request-id");
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .fallback_header(x_request_id.clone())
        .build();

    let mut only_fallback = request(None, Some("127.0.0.1"));
    only_fallback
        .headers_mut()
        .insert(&x_request_id, HeaderValue::from_static("from-envoy"));
    let (response, _) = send(&layer, only_fallback);
    assert_eq!(echoed(&response), "from-envoy");
    assert!(!response.headers().contains_key(&x_request_id));

    let mut both = request(Some(VALID.as_bytes()), Some("127.0.0.1"));
    both.headers_mut()
        .insert(&x_request_id, HeaderValue::from_static("from-envoy"));
    assert_eq!(echoed(&send(&layer, both).0), VALID);
}

#[test]
fn header_replaces_the_name_everywhere() {
    let _serial = crate::tracing_test_lock();
    let x_request_id = HeaderName::from_static("x-request-id");
    let layer = CorrelationLayer::builder()
        .header(x_request_id.clone())
        .trust("127.0.0.1")
        .unwrap()
        .build();
    let mut request = request(Some(b"ignored"), Some("127.0.0.1"));
    request
        .headers_mut()
        .insert(&x_request_id, HeaderValue::from_static("req-77"));
    let (response, _) = send(&layer, request);
    assert_eq!(response.headers()[&x_request_id], "req-77");
    assert!(!response.headers().contains_key(X_CORRELATION_ID));
}

#[test]
fn the_inner_call_itself_runs_in_the_requests_context() {
    let _serial = crate::tracing_test_lock();
    // Routers and tracing layers do work in `call`, before any poll.
    let service = trusting(&["127.0.0.1"]).layer(service_fn(|_: Request<()>| {
        let in_call = crate::current();
        std::future::ready(Ok::<_, Infallible>(Response::new(
            in_call.map_or_else(String::new, |id| id.to_string()),
        )))
    }));
    let response =
        block_on(service.oneshot(request(Some(VALID.as_bytes()), Some("127.0.0.1")))).unwrap();
    assert_eq!(response.body().get_ref().unwrap(), VALID);
    assert_eq!(crate::current(), None, "nothing leaks out of `call`");
}

#[test]
fn what_call_sets_is_seen_by_its_future_and_nowhere_else() {
    let _serial = crate::tracing_test_lock();
    crate::slot! { static ROUTE: &'static str; }
    // A router in `call` records the route it chose; the handler's future,
    // polled later, runs in the same frame and sees it, as the rest of an
    // `async fn` sees what its first poll set.
    let service = trusting(&["127.0.0.1"]).layer(service_fn(|_: Request<()>| {
        drop(ROUTE.set("/orders"));
        async {
            let route = ROUTE.get().unwrap_or("none");
            Ok::<_, Infallible>(Response::new(format!(
                "{route} {}",
                crate::current().unwrap()
            )))
        }
    }));
    let response =
        block_on(service.oneshot(request(Some(VALID.as_bytes()), Some("127.0.0.1")))).unwrap();
    assert_eq!(
        response.body().get_ref().unwrap(),
        &format!("/orders {VALID}")
    );
    assert_eq!(ROUTE.get(), None, "nothing leaks out of the request");
    assert_eq!(crate::current(), None);
}

#[test]
fn inner_errors_pass_through_unchanged() {
    let _serial = crate::tracing_test_lock();
    #[derive(Debug, PartialEq)]
    struct Boom(u32);
    let service = CorrelationLayer::new().layer(service_fn(|_: Request<()>| async {
        Err::<Response<String>, _>(Boom(7))
    }));
    assert_eq!(
        block_on(service.oneshot(request(None, None))).unwrap_err(),
        Boom(7)
    );
}

#[test]
fn debug_output_never_contains_request_values() {
    let _serial = crate::tracing_test_lock();
    let layer = trusting(&["10.0.0.0/8"]);
    let rendered = format!("{layer:?}");
    assert!(rendered.contains("10.0.0.0/8"));
    let mut service = layer.layer(service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(String::new()))
    }));
    use tower::Service as _;
    let future = service.call(request(Some(b"secret-value"), None));
    assert!(!format!("{future:?}").contains("secret"));
}

/// The `traceparent` of the W3C Trace Context specification's example.
const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn with_traceparent(mut request: Request<()>, value: &[u8]) -> Request<()> {
    let value = HeaderValue::from_bytes(value).unwrap();
    request.headers_mut().append("traceparent", value);
    request
}

fn tracing_context(sources: &[&str]) -> CorrelationLayer {
    CorrelationLayer::builder()
        .trust_many(sources)
        .unwrap()
        .trace_context(true)
        .build()
}

#[test]
fn trace_context_uses_the_trace_id_when_no_correlation_header_is_sent() {
    let _serial = crate::tracing_test_lock();
    let layer = tracing_context(&["127.0.0.1"]);
    let request = with_traceparent(request(None, Some("127.0.0.1")), TRACEPARENT.as_bytes());
    let (response, seen) = send(&layer, request);
    let seen = seen.unwrap();
    assert_eq!(echoed(&response), TRACE);
    assert_eq!(seen.current.unwrap(), TRACE);
    assert_eq!(seen.extension.unwrap(), TRACE);
    assert_eq!(seen.trace_parent.unwrap().trace_id(), TRACE);
    assert_eq!(seen.trace_id.as_deref(), Some(TRACE));
}

#[test]
fn trace_context_uses_the_trace_id_when_the_correlation_header_is_invalid() {
    let _serial = crate::tracing_test_lock();
    let layer = tracing_context(&["127.0.0.1"]);
    let request = with_traceparent(
        request(Some(b"bad value"), Some("127.0.0.1")),
        TRACEPARENT.as_bytes(),
    );
    let (response, seen) = send(&layer, request);
    assert_eq!(echoed(&response), TRACE);
    assert_eq!(seen.unwrap().trace_id.as_deref(), Some(TRACE));
}

#[test]
fn a_valid_correlation_header_wins_over_traceparent_and_both_are_recorded() {
    let _serial = crate::tracing_test_lock();
    let layer = tracing_context(&["127.0.0.1"]);
    let request = with_traceparent(
        request(Some(VALID.as_bytes()), Some("127.0.0.1")),
        TRACEPARENT.as_bytes(),
    );
    let (response, seen) = send(&layer, request);
    let seen = seen.unwrap();
    assert_eq!(echoed(&response), VALID);
    assert_eq!(seen.current.unwrap(), VALID);
    let parent = seen.trace_parent.unwrap();
    assert_eq!(parent.trace_id(), TRACE);
    assert_eq!(parent.parent_id(), "00f067aa0ba902b7");
    assert!(parent.sampled());
    assert_eq!(seen.trace_id.as_deref(), Some(TRACE));
}

#[test]
fn an_untrusted_peers_traceparent_is_ignored_entirely() {
    let _serial = crate::tracing_test_lock();
    let layer = tracing_context(&["127.0.0.1"]);
    for peer in [Some("192.0.2.1"), None] {
        let request = with_traceparent(request(None, peer), TRACEPARENT.as_bytes());
        let (response, seen) = send(&layer, request);
        let seen = seen.unwrap();
        assert_v7(echoed(&response));
        assert!(seen.trace_parent.is_none(), "{peer:?}");
        assert_eq!(seen.trace_id, None, "{peer:?}");
    }
    // Trusting no one (the default) means no traceparent is ever used.
    let layer = CorrelationLayer::builder().trace_context(true).build();
    let request = with_traceparent(request(None, Some("127.0.0.1")), TRACEPARENT.as_bytes());
    let (response, seen) = send(&layer, request);
    assert_v7(echoed(&response));
    assert_eq!(seen.unwrap().trace_id, None);
}

#[test]
fn traceparent_is_ignored_when_the_bridge_is_off() {
    let _serial = crate::tracing_test_lock();
    let layer = trusting(&["127.0.0.1"]);
    let request = with_traceparent(request(None, Some("127.0.0.1")), TRACEPARENT.as_bytes());
    let (response, seen) = send(&layer, request);
    let seen = seen.unwrap();
    assert_v7(echoed(&response));
    assert!(seen.trace_parent.is_none());
    assert_eq!(seen.trace_id, None);
}

#[test]
fn an_invalid_or_repeated_traceparent_is_ignored() {
    let _serial = crate::tracing_test_lock();
    let layer = tracing_context(&["127.0.0.1"]);
    let upper = TRACEPARENT.to_uppercase();
    let extra = format!("{TRACEPARENT}-extra");
    let invalid: [&[u8]; 5] = [
        upper.as_bytes(),
        extra.as_bytes(),
        b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        b"00-4bf92f3577b34da6a3ce929d0e0e473\xe9-00f067aa0ba902b7-01",
    ];
    for value in invalid {
        let request = with_traceparent(request(None, Some("127.0.0.1")), value);
        let (response, seen) = send(&layer, request);
        let seen = seen.unwrap();
        assert_v7(echoed(&response));
        assert!(seen.trace_parent.is_none());
        assert_eq!(seen.trace_id, None);
        // Left as it came, for whatever else reads it.
        assert_eq!(seen.traceparent_header.unwrap().as_bytes(), value);
    }
    let repeated = with_traceparent(
        with_traceparent(request(None, Some("127.0.0.1")), TRACEPARENT.as_bytes()),
        TRACEPARENT.as_bytes(),
    );
    let (response, seen) = send(&layer, repeated);
    assert_v7(echoed(&response));
    assert!(seen.unwrap().trace_parent.is_none());
}

#[test]
fn a_future_traceparent_version_is_read_like_version_00() {
    let _serial = crate::tracing_test_lock();
    let layer = tracing_context(&["127.0.0.1"]);
    let future = format!("cc-{TRACE}-00f067aa0ba902b7-00-future-field");
    let request = with_traceparent(request(None, Some("127.0.0.1")), future.as_bytes());
    let (response, seen) = send(&layer, request);
    assert_eq!(echoed(&response), TRACE);
    let parent = seen.unwrap().trace_parent.unwrap();
    assert_eq!(parent.version(), 0xcc);
    assert!(!parent.sampled());
}

#[test]
fn the_traceparent_header_is_never_rewritten() {
    let _serial = crate::tracing_test_lock();
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .trace_context(true)
        .set_request_header(true)
        .build();
    // Valid, from the handler's point of view too, and with an ID of its own.
    let future = format!("01-{TRACE}-00f067aa0ba902b7-01-x");
    for value in [TRACEPARENT, future.as_str()] {
        let request = with_traceparent(request(None, Some("127.0.0.1")), value.as_bytes());
        let (response, seen) = send(&layer, request);
        let seen = seen.unwrap();
        assert_eq!(seen.traceparent_header.unwrap(), value);
        assert_eq!(seen.header.unwrap(), TRACE, "the correlation header is set");
        assert!(!response.headers().contains_key("traceparent"));
    }

    // A traceparent the handler puts on its response passes untouched.
    let service = layer.layer(service_fn(|_: Request<()>| async {
        let mut response = Response::new(String::new());
        response
            .headers_mut()
            .insert("traceparent", HeaderValue::from_static("from-handler"));
        Ok::<_, Infallible>(response)
    }));
    let request = with_traceparent(request(None, Some("127.0.0.1")), TRACEPARENT.as_bytes());
    let response = block_on(service.oneshot(request)).unwrap();
    assert_eq!(response.headers()["traceparent"], "from-handler");
    assert_eq!(echoed(&response), TRACE);
}

#[test]
fn the_validator_applies_to_the_correlation_header_only() {
    let _serial = crate::tracing_test_lock();
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .trace_context(true)
        .uuid_only()
        .build();
    let request = with_traceparent(request(None, Some("127.0.0.1")), TRACEPARENT.as_bytes());
    // Verbatim: not reformatted as a hyphenated UUID.
    assert_eq!(echoed(&send(&layer, request).0), TRACE);
}

#[test]
fn reject_still_answers_400_to_an_invalid_correlation_header_with_a_traceparent() {
    let _serial = crate::tracing_test_lock();
    let layer = CorrelationLayer::builder()
        .trust("127.0.0.1")
        .unwrap()
        .trace_context(true)
        .on_invalid(OnInvalid::Reject)
        .build();
    let request = with_traceparent(
        request(Some(b"bad value"), Some("127.0.0.1")),
        TRACEPARENT.as_bytes(),
    );
    let (response, seen) = send(&layer, request);
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(seen.is_none(), "the handler ran");
    assert_v7(echoed(&response));
}

#[test]
fn the_trace_id_slot_is_only_set_for_the_request() {
    let _serial = crate::tracing_test_lock();
    let layer = tracing_context(&["127.0.0.1"]);
    let traced = with_traceparent(request(None, Some("127.0.0.1")), TRACEPARENT.as_bytes());
    let (_, seen) = send(&layer, traced);
    assert_eq!(seen.unwrap().trace_id.as_deref(), Some(TRACE));
    assert_eq!(TRACE_ID.get(), None, "nothing leaks out of the request");
    // A request without a traceparent does not see the previous one's.
    let (_, seen) = send(&layer, request(None, Some("127.0.0.1")));
    assert_eq!(seen.unwrap().trace_id, None);
}

#[test]
fn a_request_without_a_traceparent_does_not_inherit_the_callers_trace_id() {
    let _serial = crate::tracing_test_lock();
    let layer = tracing_context(&["127.0.0.1"]);
    let caller = crate::Context::new().with_value(&TRACE_ID, "caller-trace".to_owned());
    let (_, seen) = caller.run(|| send(&layer, request(None, Some("127.0.0.1"))));
    assert_eq!(seen.unwrap().trace_id, None);
}

// --- The `baggage` member ------------------------------------------------

fn with_baggage(mut request: Request<()>, value: &[u8]) -> Request<()> {
    let value = HeaderValue::from_bytes(value).unwrap();
    request.headers_mut().append("baggage", value);
    request
}

fn reading_baggage(sources: &[&str]) -> crate::inbound::CorrelationBuilder<CorrelationLayer> {
    CorrelationLayer::builder()
        .trust_many(sources)
        .unwrap()
        .baggage(true)
}

#[test]
fn baggage_gives_the_id_when_no_correlation_header_is_sent() {
    let _serial = crate::tracing_test_lock();
    let layer = reading_baggage(&["127.0.0.1"]).build();
    let request = with_baggage(
        request(None, Some("127.0.0.1")),
        b"userId=alice, correlation_id = req%2D7;p",
    );
    let (response, seen) = send(&layer, request);
    let seen = seen.unwrap();
    assert_eq!(echoed(&response), "req-7");
    assert_eq!(seen.current.unwrap(), "req-7");
    assert_eq!(seen.extension.unwrap(), "req-7");
}

#[test]
fn baggage_is_read_only_when_turned_on() {
    let _serial = crate::tracing_test_lock();
    let layer = trusting(&["127.0.0.1"]);
    let request = with_baggage(request(None, Some("127.0.0.1")), b"correlation_id=req-7");
    let (response, _) = send(&layer, request);
    assert_v7(echoed(&response));
}

#[test]
fn the_order_is_header_then_baggage_then_traceparent() {
    let _serial = crate::tracing_test_lock();
    let layer = reading_baggage(&["127.0.0.1"]).trace_context(true).build();
    let all = with_traceparent(
        with_baggage(
            request(Some(VALID.as_bytes()), Some("127.0.0.1")),
            b"correlation_id=from-baggage",
        ),
        TRACEPARENT.as_bytes(),
    );
    assert_eq!(echoed(&send(&layer, all).0), VALID);
    let no_header = with_traceparent(
        with_baggage(
            request(None, Some("127.0.0.1")),
            b"correlation_id=from-baggage",
        ),
        TRACEPARENT.as_bytes(),
    );
    let (response, seen) = send(&layer, no_header);
    assert_eq!(echoed(&response), "from-baggage");
    // The `traceparent` is still recorded, as beside an accepted header.
    assert_eq!(seen.unwrap().trace_id.as_deref(), Some(TRACE));
    // An invalid header under `Regenerate` falls back to the baggage.
    let invalid_header = with_baggage(
        request(Some(b"bad value"), Some("127.0.0.1")),
        b"correlation_id=from-baggage",
    );
    assert_eq!(echoed(&send(&layer, invalid_header).0), "from-baggage");
    // No `correlation_id` member: on to the `traceparent`.
    let other_members = with_traceparent(
        with_baggage(request(None, Some("127.0.0.1")), b"userId=alice"),
        TRACEPARENT.as_bytes(),
    );
    assert_eq!(echoed(&send(&layer, other_members).0), TRACE);
}

#[test]
fn an_untrusted_peers_baggage_is_ignored() {
    let _serial = crate::tracing_test_lock();
    let layer = reading_baggage(&["127.0.0.1"]).build();
    for peer in [Some("192.0.2.1"), None] {
        let request = with_baggage(request(None, peer), b"correlation_id=chosen-by-client");
        let (response, seen) = send(&layer, request);
        assert_v7(echoed(&response));
        assert_ne!(seen.unwrap().current.unwrap(), "chosen-by-client");
    }
}

#[test]
fn an_invalid_baggage_id_is_rejected_like_an_invalid_header() {
    let _serial = crate::tracing_test_lock();
    let long = format!("correlation_id={}", "x".repeat(600));
    let invalid: [&[u8]; 5] = [
        b"correlation_id=a%0Db",
        long.as_bytes(),
        b"correlation_id=caf%C3%A9",
        b"correlation_id=",
        b"correlation_id=a,correlation_id=a",
    ];
    let layer = reading_baggage(&["127.0.0.1"]).trace_context(true).build();
    let strict = reading_baggage(&["127.0.0.1"])
        .on_invalid(OnInvalid::Reject)
        .build();
    for value in invalid {
        let shown = String::from_utf8_lossy(value);
        // `Regenerate`: the next source, here the `traceparent`.
        let traced = with_traceparent(
            with_baggage(request(None, Some("127.0.0.1")), value),
            TRACEPARENT.as_bytes(),
        );
        assert_eq!(echoed(&send(&layer, traced).0), TRACE, "{shown}");
        // `Reject`: 400, under a new ID, and the handler is not called.
        let rejected = with_baggage(request(None, Some("127.0.0.1")), value);
        let (response, seen) = send(&strict, rejected);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{shown}");
        assert_v7(echoed(&response));
        assert!(seen.is_none(), "{shown}");
    }
}

#[test]
fn the_validator_and_uuid_only_apply_to_the_baggage_id() {
    let _serial = crate::tracing_test_lock();
    let layer = reading_baggage(&["127.0.0.1"])
        .validator(|id| id.starts_with("req-"))
        .build();
    let ok = with_baggage(request(None, Some("127.0.0.1")), b"correlation_id=req-1");
    assert_eq!(echoed(&send(&layer, ok).0), "req-1");
    let refused = with_baggage(request(None, Some("127.0.0.1")), b"correlation_id=other-1");
    assert_v7(echoed(&send(&layer, refused).0));

    let layer = reading_baggage(&["127.0.0.1"]).uuid_only().build();
    let upper = b"correlation_id=0190B5D2-7E3F-7C4B-9A1D-2F3E4D5C6B7A";
    let normalised = with_baggage(request(None, Some("127.0.0.1")), upper);
    assert_eq!(
        echoed(&send(&layer, normalised).0),
        "0190b5d2-7e3f-7c4b-9a1d-2f3e4d5c6b7a"
    );
}

#[test]
fn a_malformed_or_oversize_baggage_is_ignored_whole_and_never_rejected() {
    let _serial = crate::tracing_test_lock();
    let members: Vec<String> = (0..70).map(|i| format!("k{i}=v")).collect();
    let too_many = format!("correlation_id=req-1,{}", members.join(","));
    let too_long = format!("correlation_id=req-1,pad={}", "v".repeat(8200));
    let malformed: [&[u8]; 4] = [
        b"correlation_id=req-1,,a=1",
        b"correlation_id=req-1,a=two words",
        too_many.as_bytes(),
        too_long.as_bytes(),
    ];
    let strict = reading_baggage(&["127.0.0.1"])
        .on_invalid(OnInvalid::Reject)
        .build();
    for value in malformed {
        let ignored = with_baggage(request(None, Some("127.0.0.1")), value);
        let (response, seen) = send(&strict, ignored);
        assert_eq!(response.status(), StatusCode::OK);
        assert_v7(echoed(&response));
        assert!(seen.is_some());
    }
    // Several lines are one list: a bad second line spoils the first.
    let mut split = with_baggage(request(None, Some("127.0.0.1")), b"correlation_id=req-1");
    split = with_baggage(split, b"b");
    assert_v7(echoed(&send(&strict, split).0));
}

#[test]
fn baggage_lines_are_read_as_one_list() {
    let _serial = crate::tracing_test_lock();
    let layer = reading_baggage(&["127.0.0.1"]).build();
    let first = with_baggage(request(None, Some("127.0.0.1")), b"userId=alice");
    let both = with_baggage(first, b"correlation_id=req-9");
    assert_eq!(echoed(&send(&layer, both).0), "req-9");
}

#[cfg(feature = "tracing")]
mod logging {
    use std::fmt::Write as _;
    use std::sync::Mutex;

    use ::tracing::field::{Field, Visit};
    use ::tracing::span::{Attributes, Id, Record};
    use ::tracing::{Event, Level, Metadata, Subscriber};

    use super::*;

    /// Records every event as `level message fields | current-id`.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<String>>>);

    struct Line<'a>(&'a mut String);

    impl Visit for Line<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, "{}={:?} ", field.name(), value);
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut line = format!("{} ", event.metadata().level());
            event.record(&mut Line(&mut line));
            let current = crate::current();
            let _ = write!(line, "| {}", current.as_ref().map_or("-", |id| id.as_str()));
            self.0.lock().unwrap().push(line);
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    fn logged(layer: &CorrelationLayer, request: Request<()>) -> (Vec<String>, String) {
        let capture = Capture::default();
        let (response, _) =
            ::tracing::subscriber::with_default(capture.clone(), || send(layer, request));
        let lines = capture.0.lock().unwrap().clone();
        (lines, echoed(&response).to_owned())
    }

    #[test]
    fn a_rejection_is_logged_at_debug_without_the_value_under_the_new_id() {
        let _serial = crate::tracing_test_lock();
        let layer = trusting(&["127.0.0.1"]);
        let (lines, id) = logged(&layer, request(Some(b"secret\tvalue"), Some("127.0.0.1")));
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(line.starts_with(&Level::DEBUG.to_string()), "{line}");
        assert!(
            line.contains("rejected the incoming correlation id"),
            "{line}"
        );
        assert!(line.contains("not visible ASCII"), "{line}");
        assert!(line.ends_with(&format!("| {id}")), "{line}");
        assert!(!line.contains("secret"), "{line}");
    }

    #[test]
    fn an_untrusted_header_is_logged_without_the_value() {
        let _serial = crate::tracing_test_lock();
        let layer = trusting(&["127.0.0.1"]);
        let (lines, _) = logged(&layer, request(Some(b"secret-value"), Some("192.0.2.1")));
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("not trusted"), "{}", lines[0]);
        assert!(!lines[0].contains("secret"), "{}", lines[0]);
    }

    #[test]
    fn an_invalid_traceparent_is_logged_at_debug_without_the_value() {
        let _serial = crate::tracing_test_lock();
        let layer = tracing_context(&["127.0.0.1"]);
        let secret = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-secret";
        let request = with_traceparent(request(None, Some("127.0.0.1")), secret);
        let (lines, id) = logged(&layer, request);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(line.starts_with(&Level::DEBUG.to_string()), "{line}");
        assert!(line.contains("ignored the incoming traceparent"), "{line}");
        assert!(line.contains("version 00 is exactly 55"), "{line}");
        assert!(line.ends_with(&format!("| {id}")), "{line}");
        assert!(!line.contains("secret"), "{line}");
        assert!(!line.contains(TRACE), "{line}");
    }

    #[test]
    fn an_untrusted_traceparent_is_logged_without_the_value() {
        let _serial = crate::tracing_test_lock();
        let layer = tracing_context(&["127.0.0.1"]);
        let request = with_traceparent(request(None, Some("192.0.2.1")), TRACEPARENT.as_bytes());
        let (lines, _) = logged(&layer, request);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("traceparent header"), "{}", lines[0]);
        assert!(lines[0].contains("not trusted"), "{}", lines[0]);
        assert!(!lines[0].contains(TRACE), "{}", lines[0]);
    }

    #[test]
    fn an_invalid_header_replaced_by_the_trace_id_says_so() {
        let _serial = crate::tracing_test_lock();
        let layer = tracing_context(&["127.0.0.1"]);
        let request = with_traceparent(
            request(Some(b"bad value"), Some("127.0.0.1")),
            TRACEPARENT.as_bytes(),
        );
        let (lines, id) = logged(&layer, request);
        assert_eq!(id, TRACE);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("using the traceparent's trace-id"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn a_rejected_baggage_id_is_logged_at_debug_without_the_value() {
        let _serial = crate::tracing_test_lock();
        let layer = reading_baggage(&["127.0.0.1"]).build();
        let request = with_baggage(
            request(None, Some("127.0.0.1")),
            b"userId=alice,correlation_id=secret%0Dvalue",
        );
        let (lines, id) = logged(&layer, request);
        assert_v7(&id);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(line.starts_with(&Level::DEBUG.to_string()), "{line}");
        assert!(
            line.contains("rejected the correlation id in the incoming baggage; using a new id"),
            "{line}"
        );
        assert!(line.contains("byte 6 is not visible ASCII"), "{line}");
        assert!(line.ends_with(&format!("| {id}")), "{line}");
        assert!(
            !line.contains("secret") && !line.contains("alice"),
            "{line}"
        );
    }

    #[test]
    fn a_malformed_baggage_is_logged_at_debug_without_its_content() {
        let _serial = crate::tracing_test_lock();
        let layer = reading_baggage(&["127.0.0.1"]).build();
        let request = with_baggage(
            request(None, Some("127.0.0.1")),
            b"correlation_id=secret-id,,token=secret",
        );
        let (lines, id) = logged(&layer, request);
        assert_v7(&id);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(line.starts_with(&Level::DEBUG.to_string()), "{line}");
        assert!(line.contains("ignored the incoming baggage"), "{line}");
        assert!(line.contains("member 1 is empty"), "{line}");
        assert!(!line.contains("secret"), "{line}");
    }

    #[test]
    fn an_untrusted_baggage_is_logged_without_the_value() {
        let _serial = crate::tracing_test_lock();
        let layer = reading_baggage(&["127.0.0.1"]).trace_context(true).build();
        let request = with_traceparent(
            with_baggage(
                request(Some(b"secret-1"), Some("192.0.2.1")),
                b"correlation_id=secret-2",
            ),
            TRACEPARENT.as_bytes(),
        );
        let (lines, _) = logged(&layer, request);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert!(
            line.contains("correlation id, baggage and traceparent headers"),
            "{line}"
        );
        assert!(line.contains("not trusted"), "{line}");
        assert!(!line.contains("secret"), "{line}");
    }

    #[test]
    fn an_invalid_header_replaced_by_the_baggage_id_says_so() {
        let _serial = crate::tracing_test_lock();
        let layer = reading_baggage(&["127.0.0.1"]).build();
        let request = with_baggage(
            request(Some(b"bad value"), Some("127.0.0.1")),
            b"correlation_id=req-5",
        );
        let (lines, id) = logged(&layer, request);
        assert_eq!(id, "req-5");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains("using the baggage's correlation_id"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn a_valid_or_idless_baggage_logs_nothing() {
        let _serial = crate::tracing_test_lock();
        let layer = reading_baggage(&["127.0.0.1"]).build();
        for value in [&b"correlation_id=req-1"[..], b"userId=alice", b""] {
            let sent = with_baggage(request(None, Some("127.0.0.1")), value);
            let (lines, _) = logged(&layer, sent);
            assert!(lines.is_empty(), "{lines:?}");
        }
    }

    #[test]
    fn a_valid_traceparent_logs_nothing() {
        let _serial = crate::tracing_test_lock();
        let layer = tracing_context(&["127.0.0.1"]);
        let request = with_traceparent(request(None, Some("127.0.0.1")), TRACEPARENT.as_bytes());
        let (lines, _) = logged(&layer, request);
        assert!(lines.is_empty(), "{lines:?}");
    }

    #[test]
    fn accepted_and_absent_headers_log_nothing() {
        let _serial = crate::tracing_test_lock();
        let layer = trusting(&["127.0.0.1"]);
        let (lines, _) = logged(&layer, request(Some(VALID.as_bytes()), Some("127.0.0.1")));
        assert!(lines.is_empty(), "{lines:?}");
        let (lines, _) = logged(&layer, request(None, Some("127.0.0.1")));
        assert!(lines.is_empty(), "{lines:?}");
    }
}

// --- The response body --------------------------------------------------

/// A body of `n` frames, each made when polled: the ID current then, or `-`.
/// Its drop records the ID current then in `dropped_under`.
struct IdsWhilePolled {
    left: u32,
    dropped_under: Arc<std::sync::Mutex<Option<Option<String>>>>,
    fail_at: Option<u32>,
}

#[derive(Debug, PartialEq)]
struct BodyFailed(u32);

impl http_body::Body for IdsWhilePolled {
    type Data = bytes::Bytes;
    type Error = BodyFailed;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, BodyFailed>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        if self.fail_at == Some(self.left) {
            return std::task::Poll::Ready(Some(Err(BodyFailed(self.left))));
        }
        let id = crate::current().map_or_else(|| "-".to_owned(), |id| id.to_string());
        let route = ROUTE.get().unwrap_or("-");
        let data = bytes::Bytes::from(format!("{id} {route};"));
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(u64::from(self.left) * 1000)
    }
}

impl Drop for IdsWhilePolled {
    fn drop(&mut self) {
        *self.dropped_under.lock().unwrap() = Some(crate::current().map(|id| id.to_string()));
    }
}

crate::slot! { static ROUTE: &'static str; }

type DroppedUnder = Arc<std::sync::Mutex<Option<Option<String>>>>;

/// A service whose handler sets `ROUTE` in the request's context (not in a
/// `#[correlated]` frame of its own) and answers with an `IdsWhilePolled`.
fn streaming(
    frames: u32,
    fail_at: Option<u32>,
) -> (
    impl tower::Service<
        Request<()>,
        Response = Response<ResponseBody<IdsWhilePolled>>,
        Error = Infallible,
    >,
    DroppedUnder,
) {
    let dropped_under = DroppedUnder::default();
    let record = Arc::clone(&dropped_under);
    let service = trusting(&["127.0.0.1"]).layer(service_fn(move |_: Request<()>| {
        let dropped_under = Arc::clone(&record);
        async move {
            drop(ROUTE.set("/feed"));
            Ok::<_, Infallible>(Response::new(IdsWhilePolled {
                left: frames,
                dropped_under,
                fail_at,
            }))
        }
    }));
    (service, dropped_under)
}

fn poll_frame<B: http_body::Body + Unpin>(
    body: &mut B,
) -> Option<Result<http_body::Frame<B::Data>, B::Error>> {
    use http_body_util::BodyExt;
    block_on(body.frame())
}

#[test]
fn the_body_streams_in_the_handlers_context_with_what_it_set() {
    let _serial = crate::tracing_test_lock();
    let (service, _) = streaming(3, None);
    let response =
        block_on(service.oneshot(request(Some(VALID.as_bytes()), Some("127.0.0.1")))).unwrap();
    let mut body = response.into_body();
    for _ in 0..3 {
        let frame = poll_frame(&mut body).unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), format!("{VALID} /feed;"));
        assert_eq!(crate::current(), None, "nothing leaks out of a poll");
        assert_eq!(ROUTE.get(), None);
    }
    assert!(poll_frame(&mut body).is_none());
}

#[test]
fn a_body_dropped_mid_stream_is_dropped_in_the_requests_context() {
    let _serial = crate::tracing_test_lock();
    let (service, dropped_under) = streaming(5, None);
    let response =
        block_on(service.oneshot(request(Some(VALID.as_bytes()), Some("127.0.0.1")))).unwrap();
    let mut body = response.into_body();
    assert!(poll_frame(&mut body).is_some());
    drop(body); // the client went away
    assert_eq!(*dropped_under.lock().unwrap(), Some(Some(VALID.to_owned())));
    assert_eq!(crate::current(), None);
}

#[test]
fn a_body_error_passes_through_as_it_came() {
    let _serial = crate::tracing_test_lock();
    let (service, _) = streaming(3, Some(1));
    let response =
        block_on(service.oneshot(request(Some(VALID.as_bytes()), Some("127.0.0.1")))).unwrap();
    let mut body = response.into_body();
    assert!(poll_frame(&mut body).unwrap().is_ok());
    assert_eq!(poll_frame(&mut body).unwrap().unwrap_err(), BodyFailed(1));
}

#[test]
fn size_hint_and_end_of_stream_pass_through() {
    use http_body::Body as _;
    let _serial = crate::tracing_test_lock();
    let (service, _) = streaming(2, None);
    let response = block_on(service.oneshot(request(None, None))).unwrap();
    let mut body = response.into_body();
    assert_eq!(body.size_hint().exact(), Some(2000));
    assert!(!body.is_end_stream());
    poll_frame(&mut body);
    poll_frame(&mut body);
    assert_eq!(body.size_hint().exact(), Some(0));
    assert!(body.is_end_stream());
}

#[test]
fn trailers_pass_through() {
    use http_body_util::BodyExt;
    let _serial = crate::tracing_test_lock();
    let service = CorrelationLayer::new().layer(service_fn(|_: Request<()>| async {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        let body = http_body_util::StreamBody::new(futures::stream::iter([
            Ok::<_, Infallible>(http_body::Frame::data(bytes::Bytes::from_static(b"m"))),
            Ok(http_body::Frame::trailers(trailers)),
        ]));
        Ok::<_, Infallible>(Response::new(body))
    }));
    let response = block_on(service.oneshot(request(None, None))).unwrap();
    let collected = block_on(response.into_body().collect()).unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
}
