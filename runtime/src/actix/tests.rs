//! The actix-web middleware in-process (`actix_web::test`), one promise per
//! test. The rules themselves are the shared decision's, tested through
//! tower in `tower/tests.rs`; these check that actix-web's requests,
//! responses, extractors and errors reach them and carry their result.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
// Not `test`: that name would shadow the `#[test]` attribute.
use actix_web::test as actix_test;
use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, error, web};

use super::*;
use crate::CorrelationId;

const VALID: &str = "req-0001";
const HEADER: &str = "x-correlation-id";

fn run<F: Future>(future: F) -> F::Output {
    actix_web::rt::System::new().block_on(future)
}

/// What the handler saw: the current ID, the extension and the extractor.
#[derive(Debug, Default)]
struct Seen {
    current: Option<CorrelationId>,
    extension: Option<CorrelationId>,
    extracted: Option<CorrelationId>,
    header: Option<HeaderValue>,
    trace_parent: Option<TraceParent>,
    trace_id: Option<String>,
}

type Record = Arc<Mutex<Option<Seen>>>;

async fn record(request: HttpRequest, id: CorrelationId, seen: web::Data<Record>) -> HttpResponse {
    *seen.lock().unwrap() = Some(Seen {
        current: crate::current(),
        extension: request.extensions().get::<CorrelationId>().cloned(),
        extracted: Some(id),
        header: request.headers().get(HEADER).cloned(),
        trace_parent: request.extensions().get::<TraceParent>().copied(),
        trace_id: TRACE_ID.get(),
    });
    HttpResponse::Ok().body("ok")
}

/// One request, with `headers` and from `peer`, through `correlation` to a
/// handler that records what it sees.
fn send(
    correlation: Correlation,
    headers: &[(&str, &[u8])],
    peer: Option<&str>,
) -> (
    ServiceResponse<ResponseBody<actix_web::body::BoxBody>>,
    Option<Seen>,
) {
    let seen: Record = Arc::default();
    let data = web::Data::new(Arc::clone(&seen));
    let response = run(async move {
        let app = actix_test::init_service(
            App::new()
                .app_data(data)
                .wrap(correlation)
                .default_service(web::to(record)),
        )
        .await;
        let mut request = actix_test::TestRequest::get();
        for (name, value) in headers {
            let value = HeaderValue::from_bytes(value).unwrap();
            request = request.append_header((*name, value));
        }
        if let Some(peer) = peer {
            request = request.peer_addr(SocketAddr::new(peer.parse().unwrap(), 443));
        }
        actix_test::call_service(&app, request.to_request()).await
    });
    let seen = seen.lock().unwrap().take();
    (response, seen)
}

fn echoed<B>(response: &ServiceResponse<B>) -> &str {
    response.headers().get(HEADER).unwrap().to_str().unwrap()
}

fn assert_v7(id: &str) {
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id:?} is not a UUID"));
    assert_eq!(uuid.get_version_num(), 7, "{id}");
}

fn trusting(sources: &[&str]) -> Correlation {
    Correlation::builder().trust_many(sources).unwrap().build()
}

#[test]
fn no_header_gets_a_generated_v7_that_the_handler_and_extractor_see_and_the_response_echoes() {
    let _serial = crate::tracing_test_lock();
    let (response, seen) = send(Correlation::new(), &[], None);
    let seen = seen.unwrap();
    let id = echoed(&response);
    assert_v7(id);
    assert_eq!(seen.current.unwrap(), id);
    assert_eq!(seen.extension.unwrap(), id);
    assert_eq!(seen.extracted.unwrap(), id);
}

#[test]
fn trust_is_decided_on_the_socket_peer() {
    let _serial = crate::tracing_test_lock();
    let correlation = trusting(&["10.0.0.0/8", "2001:db8::/32"]);
    for peer in ["10.1.2.3", "2001:db8::9", "::ffff:10.0.0.9"] {
        let (response, seen) = send(correlation.clone(), &[(HEADER, b"req-0001")], Some(peer));
        assert_eq!(echoed(&response), VALID, "{peer}");
        assert_eq!(seen.unwrap().current.unwrap(), VALID, "{peer}");
    }
    for peer in [Some("11.0.0.1"), Some("2001:db9::1"), None] {
        let (response, _) = send(correlation.clone(), &[(HEADER, b"req-0001")], peer);
        assert_v7(echoed(&response));
    }
}

#[test]
fn forwarding_headers_are_never_consulted() {
    let _serial = crate::tracing_test_lock();
    let correlation = trusting(&["10.0.0.0/8"]);
    let headers: [(&str, &[u8]); 4] = [
        (HEADER, b"req-0001"),
        ("x-forwarded-for", b"10.0.0.1"),
        ("forwarded", b"for=10.0.0.1"),
        ("x-real-ip", b"10.0.0.1"),
    ];
    let (response, _) = send(correlation, &headers, Some("203.0.113.1"));
    assert_v7(echoed(&response));
}

#[test]
fn hostile_values_from_trusted_peers_are_replaced_and_never_echoed() {
    let _serial = crate::tracing_test_lock();
    let correlation = trusting(&["127.0.0.1"]);
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
        let (response, seen) = send(correlation.clone(), &[(HEADER, value)], Some("127.0.0.1"));
        assert_v7(echoed(&response));
        assert_eq!(response.headers().get_all(HEADER).count(), 1);
        assert_eq!(seen.unwrap().current.unwrap(), echoed(&response));
    }
}

#[test]
fn a_repeated_header_is_replaced() {
    let _serial = crate::tracing_test_lock();
    let headers: [(&str, &[u8]); 2] = [(HEADER, b"req-0001"), (HEADER, b"req-0002")];
    let (response, _) = send(trusting(&["127.0.0.1"]), &headers, Some("127.0.0.1"));
    assert_v7(echoed(&response));
}

#[test]
fn a_panicking_validator_counts_as_invalid() {
    let _serial = crate::tracing_test_lock();
    let correlation = Correlation::builder()
        .trust("127.0.0.1")
        .unwrap()
        .validator(|id| {
            assert!(id.starts_with("req-"), "not ours");
            true
        })
        .build();
    let (response, _) = send(
        correlation.clone(),
        &[(HEADER, b"req-7")],
        Some("127.0.0.1"),
    );
    assert_eq!(echoed(&response), "req-7");
    let (response, seen) = send(correlation, &[(HEADER, b"other")], Some("127.0.0.1"));
    assert_v7(echoed(&response));
    assert!(seen.is_some(), "the handler still ran");
}

#[test]
fn reject_answers_400_with_a_new_echoed_id_without_calling_the_handler() {
    let _serial = crate::tracing_test_lock();
    let correlation = Correlation::builder()
        .trust("127.0.0.1")
        .unwrap()
        .on_invalid(OnInvalid::Reject)
        .build();
    let (response, seen) = send(
        correlation.clone(),
        &[(HEADER, b"bad value")],
        Some("127.0.0.1"),
    );
    assert_eq!(response.status(), 400);
    assert_v7(echoed(&response));
    assert!(seen.is_none());
    let body = run(actix_test::read_body(response));
    assert!(body.is_empty());
    // Untrusted: ignored, not rejected.
    let (response, _) = send(correlation, &[(HEADER, b"bad value")], Some("192.0.2.1"));
    assert_eq!(response.status(), 200);
}

#[test]
fn echo_can_be_turned_off() {
    let _serial = crate::tracing_test_lock();
    let (response, seen) = send(Correlation::builder().echo(false).build(), &[], None);
    assert!(!response.headers().contains_key(HEADER));
    assert!(seen.unwrap().current.is_some());
}

#[test]
fn set_request_header_writes_the_chosen_id_for_the_handler() {
    let _serial = crate::tracing_test_lock();
    let correlation = Correlation::builder().set_request_header(true).build();
    let (response, seen) = send(correlation, &[(HEADER, b"req-0001")], Some("192.0.2.1"));
    let seen = seen.unwrap();
    assert_eq!(seen.header.unwrap(), echoed(&response));
    assert_ne!(echoed(&response), VALID);
}

#[test]
fn header_names_of_either_http_version_are_read_in_priority_order() {
    let _serial = crate::tracing_test_lock();
    let correlation = Correlation::builder()
        .header(HeaderName::from_static("x-request-id"))
        .fallback_header(::http::HeaderName::from_static("x-amzn-trace-id"))
        .trust("127.0.0.1")
        .unwrap()
        .build();
    let headers: [(&str, &[u8]); 2] = [("x-amzn-trace-id", b"second"), (HEADER, b"ignored")];
    let (response, _) = send(correlation.clone(), &headers, Some("127.0.0.1"));
    assert_eq!(response.headers().get("x-request-id").unwrap(), "second");
    assert!(!response.headers().contains_key(HEADER));
    let headers: [(&str, &[u8]); 2] = [("x-amzn-trace-id", b"second"), ("x-request-id", b"first")];
    let (response, _) = send(correlation, &headers, Some("127.0.0.1"));
    assert_eq!(response.headers().get("x-request-id").unwrap(), "first");
}

const PARENT: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn trace_context_records_a_trusted_traceparent() {
    let _serial = crate::tracing_test_lock();
    let correlation = Correlation::builder()
        .trust("127.0.0.1")
        .unwrap()
        .trace_context(true)
        .build();
    let (response, seen) = send(
        correlation.clone(),
        &[("traceparent", PARENT)],
        Some("127.0.0.1"),
    );
    let seen = seen.unwrap();
    assert_eq!(echoed(&response), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(seen.trace_id.unwrap(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(seen.trace_parent.is_some());
    assert!(!response.headers().contains_key("traceparent"));
    // From an untrusted peer it is ignored entirely.
    let (response, seen) = send(correlation, &[("traceparent", PARENT)], Some("192.0.2.1"));
    assert_v7(echoed(&response));
    assert_eq!(seen.unwrap().trace_id, None);
}

/// An app around `handler`, and the response to one request from no peer.
fn call_app<F, Args>(handler: F) -> ServiceResponse<ResponseBody<actix_web::body::BoxBody>>
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    run(async move {
        let app = actix_test::init_service(
            App::new()
                .wrap(Correlation::new())
                .route("/{n}", web::post().to(handler)),
        )
        .await;
        let request = actix_test::TestRequest::post().uri("/7").to_request();
        actix_test::call_service(&app, request).await
    })
}

#[test]
fn a_handlers_error_response_echoes_the_id_it_ran_with() {
    let _serial = crate::tracing_test_lock();
    let seen = Arc::new(Mutex::new(None));
    let record = Arc::clone(&seen);
    let response = call_app(move || {
        let record = Arc::clone(&record);
        async move {
            *record.lock().unwrap() = crate::current();
            Err::<HttpResponse, _>(error::ErrorConflict("taken"))
        }
    });
    assert_eq!(response.status(), 409);
    assert_eq!(seen.lock().unwrap().take().unwrap(), echoed(&response));
}

#[test]
fn an_extractor_rejection_echoes_the_id() {
    let _serial = crate::tracing_test_lock();
    // The body is not JSON: `web::Json` rejects the request before the handler.
    let response = call_app(|_: web::Json<u32>| async { HttpResponse::Ok().finish() });
    assert!(response.status().is_client_error());
    assert_v7(echoed(&response));
}

/// An extractor that records the ID current while it runs.
struct SeenByExtractor(Option<CorrelationId>);

impl actix_web::FromRequest for SeenByExtractor {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(_: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(Ok(Self(crate::current())))
    }
}

#[test]
fn extractors_run_in_the_requests_context() {
    let _serial = crate::tracing_test_lock();
    let response = call_app(|seen: SeenByExtractor, id: CorrelationId| async move {
        assert_eq!(crate::current().as_ref(), Some(&id));
        HttpResponse::Ok().body(format!("{}", seen.0.unwrap()))
    });
    let id = echoed(&response).to_owned();
    assert_eq!(run(actix_test::read_body(response)), id);
}

#[test]
fn a_middleware_error_inside_is_echoed_through_echoed_error() {
    let _serial = crate::tracing_test_lock();
    let error = run(async {
        let app = actix_test::init_service(
            App::new()
                .wrap_fn(|_, _| async {
                    Err::<ServiceResponse, _>(error::ErrorForbidden("no entry"))
                })
                .wrap(Correlation::new())
                .route("/", web::get().to(HttpResponse::Ok)),
        )
        .await;
        app.call(actix_test::TestRequest::get().to_request())
            .await
            .map(|_| ())
            .unwrap_err()
    });
    let response = error.error_response();
    assert_eq!(response.status(), 403);
    assert_v7(response.headers().get(HEADER).unwrap().to_str().unwrap());
    assert_eq!(error.to_string(), "no entry");
    assert!(error.as_error::<EchoedError>().is_some());
}

#[test]
fn the_body_streams_in_the_handlers_context_with_what_it_set() {
    use futures::StreamExt as _;
    let _serial = crate::tracing_test_lock();
    crate::slot! { static STEP: u32; }
    let response = call_app(|| async {
        let _token = STEP.set(1);
        let chunks = futures::stream::iter(0..3).map(|n| {
            let id = crate::current().unwrap();
            let step = STEP.get().unwrap();
            Ok::<_, actix_web::Error>(web::Bytes::from(format!("{n}:{step}:{id};")))
        });
        HttpResponse::Ok().streaming(chunks)
    });
    let id = echoed(&response).to_owned();
    assert_eq!(crate::current(), None);
    let text = run(actix_test::read_body(response));
    assert_eq!(text, format!("0:1:{id};1:1:{id};2:1:{id};"));
}

#[test]
fn a_body_dropped_mid_stream_is_dropped_in_the_requests_context() {
    let _serial = crate::tracing_test_lock();
    struct OnDrop(Arc<Mutex<Option<CorrelationId>>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = crate::current();
        }
    }
    let dropped = Arc::new(Mutex::new(None));
    let guard = Arc::clone(&dropped);
    let response = call_app(move || {
        let guard = OnDrop(Arc::clone(&guard));
        async move {
            let chunks = futures::stream::pending::<Result<web::Bytes, actix_web::Error>>();
            let chunks = futures::StreamExt::map(chunks, move |chunk| {
                let _keep = &guard;
                chunk
            });
            HttpResponse::Ok().streaming(chunks)
        }
    });
    let id = echoed(&response).to_owned();
    drop(response);
    assert_eq!(dropped.lock().unwrap().take().unwrap(), id.as_str());
}

#[test]
fn without_the_middleware_the_extractor_fails_with_500_outside_a_context() {
    let status = run(async {
        let app = actix_test::init_service(
            App::new().route("/", web::get().to(|_: CorrelationId| async { "" })),
        )
        .await;
        actix_test::call_service(&app, actix_test::TestRequest::get().to_request())
            .await
            .status()
    });
    assert_eq!(status, 500);
}

#[test]
fn debug_output_never_contains_request_values() {
    let correlation = Correlation::builder()
        .validator(|id| id.len() > 3)
        .generator(CorrelationId::generate)
        .build();
    let debug = format!("{correlation:?}");
    assert!(debug.contains("x-correlation-id"), "{debug}");
    assert!(debug.contains("custom"), "{debug}");
}
