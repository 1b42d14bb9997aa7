//! docs/semantics.md, promise 30. W3C Baggage: interoperability with
//! OpenTelemetry's `BaggagePropagator` both ways, and the client propagation
//! (`PropagateCorrelationLayer` with `.baggage(true)`) over a real HTTP
//! connection on loopback.
//!
//! OpenTelemetry's baggage is a map, so the members are compared as sorted
//! lists. Its writer leaves `%` and `\` unescaped in values, which the
//! specification does not allow: the last interop test pins down what this
//! crate does with such a header (refuses it whole).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use correlated::CorrelationId;
use correlated::baggage::{
    BAGGAGE, Baggage, InvalidBaggageKind, MemberNotAddedKind, add_member, inject,
};
use correlated::tower::PropagateCorrelationLayer;
use http::{HeaderMap, Request};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use opentelemetry::baggage::{BaggageExt, KeyValueMetadata};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::BaggagePropagator;
use proptest::prelude::*;
use tower::{ServiceBuilder, ServiceExt};

const PATIENCE: Duration = Duration::from_secs(10);

/// A member as both sides see it: key, decoded value, properties as text.
type Entry = (String, String, String);

/// The `baggage` header OpenTelemetry writes for `entries`.
fn written_by_opentelemetry(entries: &[(&str, &str, &str)]) -> String {
    let baggage: opentelemetry::baggage::Baggage = entries
        .iter()
        .map(|(key, value, properties)| {
            KeyValueMetadata::new(key.to_string(), value.to_string(), *properties)
        })
        .collect();
    let context = opentelemetry::Context::new().with_baggage(baggage);
    let mut carrier = HashMap::new();
    BaggagePropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("baggage").unwrap_or_default()
}

/// The members OpenTelemetry reads from a `baggage` header, sorted.
fn read_by_opentelemetry(header: &str) -> Vec<Entry> {
    let carrier = HashMap::from([("baggage".to_owned(), header.to_owned())]);
    let context = BaggagePropagator::new().extract(&carrier);
    let mut entries: Vec<Entry> = context
        .baggage()
        .iter()
        .map(|(key, (value, metadata))| {
            (
                key.to_string(),
                value.to_string(),
                metadata.as_str().to_owned(),
            )
        })
        .collect();
    entries.sort();
    entries
}

/// The members this crate reads from `headers`, sorted, properties joined
/// by `;` as OpenTelemetry keeps them.
fn read_by_us(headers: &HeaderMap) -> Vec<Entry> {
    let Some(baggage) = Baggage::from_headers(headers).expect("a valid header") else {
        return Vec::new();
    };
    let mut entries: Vec<Entry> = baggage
        .members()
        .map(|member| {
            let properties: Vec<String> = member.properties().map(|p| p.to_string()).collect();
            (
                member.key().to_owned(),
                member.value().into_owned(),
                properties.join(";"),
            )
        })
        .collect();
    entries.sort();
    entries
}

fn header(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(BAGGAGE, value.parse().expect("a header value"));
    headers
}

fn owned(entries: &[(&str, &str, &str)]) -> Vec<Entry> {
    let mut entries: Vec<Entry> = entries
        .iter()
        .map(|(k, v, p)| (k.to_string(), v.to_string(), p.to_string()))
        .collect();
    entries.sort();
    entries
}

#[test]
fn a_header_written_by_opentelemetry_is_read_with_the_same_members() {
    let entries = [
        ("correlation_id", "req-2024-0001", ""),
        ("userId", "alice", ""),
        ("serverNode", "DF 28", ""),
        ("note", "caf\u{e9}, 10 = ten; \"quoted\"", ""),
        ("tenant", "acme", "ttl=30;primary"),
        ("empty", "", ""),
    ];
    let written = written_by_opentelemetry(&entries);
    let headers = header(&written);
    assert_eq!(read_by_us(&headers), owned(&entries), "{written}");
    let baggage = Baggage::from_headers(&headers).unwrap().unwrap();
    assert_eq!(baggage.correlation_id().unwrap().unwrap(), "req-2024-0001");
    assert_eq!(
        correlated::baggage::extract(&headers).unwrap(),
        "req-2024-0001"
    );
}

#[test]
fn a_header_written_by_us_is_read_by_opentelemetry_with_the_same_members() {
    // An upstream's members, then ours: an ID with every character that
    // needs escaping in a value.
    let id = CorrelationId::parse(r#"a=b;c,d"e\f%g"#).unwrap();
    let mut headers = header("userId=alice,serverNode=DF%2028;shard=2");
    add_member(&mut headers, "note", "caf\u{e9}, 10 = ten").unwrap();
    let _guard = correlated::scope(id.clone());
    assert!(inject(&mut headers));
    assert_eq!(headers.get_all(BAGGAGE).iter().count(), 1);

    let written = headers[BAGGAGE].to_str().unwrap();
    let expected = owned(&[
        ("userId", "alice", ""),
        ("serverNode", "DF 28", "shard=2"),
        ("note", "caf\u{e9}, 10 = ten", ""),
        ("correlation_id", id.as_str(), ""),
    ]);
    assert_eq!(read_by_opentelemetry(written), expected, "{written}");
    assert_eq!(read_by_us(&headers), expected);
}

#[test]
fn merging_into_opentelemetrys_header_keeps_its_members() {
    let written = written_by_opentelemetry(&[("userId", "alice", ""), ("k", "v w", "p")]);
    let mut headers = header(&written);
    let _guard = correlated::scope(CorrelationId::parse("req-9").unwrap());
    assert!(inject(&mut headers));
    let merged = headers[BAGGAGE].to_str().unwrap();
    assert!(merged.starts_with(&written), "{merged}");
    assert_eq!(
        read_by_opentelemetry(merged),
        owned(&[
            ("correlation_id", "req-9", ""),
            ("k", "v w", "p"),
            ("userId", "alice", "")
        ])
    );
}

#[test]
fn a_correlation_id_set_through_opentelemetry_wins() {
    let written = written_by_opentelemetry(&[("correlation_id", "from-otel", "")]);
    let mut headers = header(&written);
    let _guard = correlated::scope(CorrelationId::parse("from-context").unwrap());
    assert!(!inject(&mut headers));
    assert_eq!(headers[BAGGAGE], written.as_str());
    assert_eq!(
        add_member(&mut headers, "correlation_id", "x")
            .unwrap_err()
            .kind(),
        MemberNotAddedKind::KeyPresent
    );
}

#[test]
fn a_header_past_the_limits_is_refused_where_opentelemetry_truncates() {
    // OpenTelemetry keeps the first 64 members of a longer header; this
    // crate never uses part of a header.
    let members: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
    let header_value = members.join(",");
    assert_eq!(read_by_opentelemetry(&header_value).len(), 64);
    assert_eq!(
        Baggage::from_headers(&header(&header_value))
            .unwrap_err()
            .kind(),
        InvalidBaggageKind::TooManyMembers
    );
}

#[test]
fn opentelemetry_leaves_percent_and_backslash_raw_which_the_parser_refuses() {
    // The specification's values are baggage-octets (no `\`) holding a
    // percent-encoded string (no bare `%`); OpenTelemetry's writer escapes
    // neither. Such a header is refused whole, never half read.
    for value in ["100%", r"C:\temp"] {
        let written = written_by_opentelemetry(&[("v", value, ""), ("correlation_id", "ok", "")]);
        let refused = Baggage::from_headers(&header(&written)).unwrap_err();
        assert!(
            matches!(
                refused.kind(),
                InvalidBaggageKind::PercentEncoding { .. } | InvalidBaggageKind::Value { .. }
            ),
            "{written}: {refused}"
        );
        assert_eq!(correlated::baggage::extract(&header(&written)), None);
    }
}

/// Keys OpenTelemetry accepts and the specification allows: tokens.
fn key() -> impl Strategy<Value = String> {
    "[!#$&'*+.^_`|~0-9A-Za-z-]{1,10}"
}

/// Values as an application writes them, without the `%` and `\` that
/// OpenTelemetry's writer leaves raw, and without spaces at either end,
/// which it trims.
fn value() -> impl Strategy<Value = String> {
    proptest::string::string_regex("([^%\\\\\\s]|[ ,;=\"]){0,12}")
        .unwrap()
        .prop_map(|value| value.trim().to_owned())
}

/// Any correlation ID: 1 to 128 visible ASCII bytes.
fn correlation_id() -> impl Strategy<Value = CorrelationId> {
    "[!-~]{1,128}".prop_map(|id| CorrelationId::parse(&id).unwrap())
}

proptest! {
    #[test]
    fn whatever_opentelemetry_writes_is_read_the_same(
        entries in proptest::collection::btree_map(key(), value(), 1..20),
    ) {
        let entries: Vec<(&str, &str, &str)> =
            entries.iter().map(|(k, v)| (k.as_str(), v.as_str(), "")).collect();
        let written = written_by_opentelemetry(&entries);
        prop_assert_eq!(read_by_us(&header(&written)), owned(&entries));
    }

    #[test]
    fn whatever_we_write_opentelemetry_reads_the_same(
        entries in proptest::collection::btree_map(key(), value(), 0..20),
        id in correlation_id(),
    ) {
        let mut headers = HeaderMap::new();
        let mut expected = Vec::new();
        for (key, value) in entries.iter().filter(|(key, _)| *key != "correlation_id") {
            add_member(&mut headers, key, value).unwrap();
            expected.push((key.as_str(), value.as_str(), ""));
        }
        let _guard = correlated::scope(id.clone());
        prop_assert!(inject(&mut headers));
        expected.push(("correlation_id", id.as_str(), ""));
        let written = headers[BAGGAGE].to_str().unwrap().to_owned();
        prop_assert_eq!(read_by_opentelemetry(&written), owned(&expected));
        prop_assert_eq!(correlated::baggage::extract(&headers), Some(id));
    }
}

// ---------------------------------------------------------------------------
// Client propagation over loopback
// ---------------------------------------------------------------------------

/// A server on `127.0.0.1:0` answering with the `baggage` lines it received,
/// one per line of the body; stopped when dropped.
struct Echo {
    addr: SocketAddr,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn echo() -> Echo {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("the bound address");
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|headers: HeaderMap| async move {
            let lines: Vec<&str> = headers
                .get_all(BAGGAGE)
                .iter()
                .map(|value| value.to_str().expect("ASCII"))
                .collect();
            lines.join("\n")
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    Echo { addr, server }
}

/// The `baggage` lines the server received for a request with `lines`,
/// sent through `layer`.
async fn sent_through(
    echo: &Echo,
    layer: PropagateCorrelationLayer,
    lines: &[&str],
) -> Vec<String> {
    let client: Client<HttpConnector, Body> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let client = ServiceBuilder::new().layer(layer).service(client);
    let mut request = Request::get(format!("http://{}/", echo.addr));
    for line in lines {
        request = request.header(BAGGAGE, *line);
    }
    let request = request.body(Body::empty()).expect("a request");
    let call = async {
        let response = client.oneshot(request).await.expect("an answer");
        let body = response.into_body().collect().await.expect("a body");
        String::from_utf8(body.to_bytes().to_vec()).expect("UTF-8")
    };
    let body = bounded(call).await;
    body.lines().map(str::to_owned).collect()
}

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(PATIENCE, future)
        .await
        .expect("no answer in time (hang guard)")
}

/// Runs `call` with `id` current. The guard is held across `call`'s awaits
/// in the test's own task, which no other request shares.
async fn under<F: Future>(id: &str, call: F) -> F::Output {
    let _guard = correlated::scope(CorrelationId::parse(id).unwrap());
    call.await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_layer_adds_the_id_to_the_baggage_it_sends() {
    let echo = echo().await;
    let layer = PropagateCorrelationLayer::new().baggage(true);
    let received = under("req-http-1", sent_through(&echo, layer, &[])).await;
    assert_eq!(received, ["correlation_id=req-http-1"]);
    assert_eq!(
        read_by_opentelemetry(&received[0]),
        owned(&[("correlation_id", "req-http-1", "")])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_layer_merges_with_the_members_present_and_never_rewrites_them() {
    let echo = echo().await;
    let layer = PropagateCorrelationLayer::new().baggage(true);
    let lines = ["userId = alice;p", "serverNode=DF%2028"];
    let received = under("req-http-2", sent_through(&echo, layer, &lines)).await;
    assert_eq!(
        received,
        ["userId = alice;p,serverNode=DF%2028,correlation_id=req-http-2"]
    );
    assert_eq!(
        read_by_opentelemetry(&received[0]),
        owned(&[
            ("correlation_id", "req-http-2", ""),
            ("serverNode", "DF 28", ""),
            ("userId", "alice", "p"),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_layer_keeps_a_correlation_id_member_the_caller_set() {
    let echo = echo().await;
    let layer = PropagateCorrelationLayer::new().baggage(true);
    let lines = ["correlation_id=set-by-caller"];
    let received = under("from-context", sent_through(&echo, layer, &lines)).await;
    assert_eq!(received, ["correlation_id=set-by-caller"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_layer_leaves_a_malformed_or_full_baggage_as_it_is() {
    let echo = echo().await;
    let full: Vec<String> = (0..64).map(|i| format!("k{i}=v")).collect();
    let full = full.join(",");
    for lines in [vec!["a=1,,b=2"], vec!["a=1", "b"], vec![full.as_str()]] {
        let layer = PropagateCorrelationLayer::new().baggage(true);
        let received = under("req-http-3", sent_through(&echo, layer, &lines)).await;
        assert_eq!(received, lines);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_baggage_on_or_outside_a_context_no_baggage_is_added() {
    let echo = echo().await;
    let received = under(
        "req-http-4",
        sent_through(&echo, PropagateCorrelationLayer::new(), &[]),
    )
    .await;
    assert!(received.is_empty(), "{received:?}");
    let layer = PropagateCorrelationLayer::new().baggage(true);
    let received = sent_through(&echo, layer, &["a=1"]).await;
    assert_eq!(received, ["a=1"]);
}
