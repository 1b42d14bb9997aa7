//! The server layer's decision over arbitrary header bytes, header counts and
//! peer addresses, through the public tower API: never a panic; the ID the
//! handler runs with passes the floor and is the one echoed; an untrusted
//! peer's value is never chosen (it gets a new UUIDv7); a trusted peer's
//! first correlation header decides.
#![no_main]

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::LazyLock;
use std::task::{Context, Poll};

use correlated::CorrelationId;
use correlated::tower::{CorrelationLayer, TraceParent};
use http::{HeaderName, HeaderValue, Request, Response};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, Service};

const NAMES: [&str; 4] = ["x-correlation-id", "x-request-id", "traceparent", "x-other"];

fn handler(request: Request<()>) -> std::future::Ready<Result<Response<String>, Infallible>> {
    let seen = correlated::current()
        .map(|id| id.to_string())
        .unwrap_or_default();
    let extension = request
        .extensions()
        .get::<CorrelationId>()
        .map(ToString::to_string);
    assert_eq!(
        Some(&seen),
        extension.as_ref(),
        "the extension is the current ID"
    );
    std::future::ready(Ok(Response::new(seen)))
}

fn as_text(value: &HeaderValue) -> Option<&str> {
    std::str::from_utf8(value.as_bytes()).ok()
}

static LAYER: LazyLock<CorrelationLayer> = LazyLock::new(|| {
    CorrelationLayer::builder()
        .fallback_header(HeaderName::from_static("x-request-id"))
        .trust("10.0.0.0/8")
        .unwrap()
        .trust("fd00::/8")
        .unwrap()
        .trace_context(true)
        .build()
});

fuzz_target!(|data: &[u8]| {
    let Some((&shape, mut rest)) = data.split_first() else {
        return;
    };
    let peer: Option<IpAddr> = match shape % 4 {
        0 => None,
        1 => Some([10, shape, 2, 3].into()),
        2 => Some([192, 168, shape, 1].into()),
        _ => Some(IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, u16::from(shape)])),
    };
    let trusted = matches!(shape % 4, 1 | 3);

    // Headers: a name index byte, a length byte, then the value's bytes.
    let mut request = Request::new(());
    while let [name, length, tail @ ..] = rest {
        let length = usize::from(*length).min(tail.len());
        let (value, tail) = tail.split_at(length);
        rest = tail;
        if let Ok(value) = HeaderValue::from_bytes(value) {
            let name = HeaderName::from_static(NAMES[usize::from(*name) % NAMES.len()]);
            request.headers_mut().append(name, value);
        }
    }
    if let Some(peer) = peer {
        request.extensions_mut().insert(SocketAddr::new(peer, 4000));
    }
    let headers = request.headers().clone();

    let mut service = LAYER.layer(tower::service_fn(handler));
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut future = std::pin::pin!(service.call(request));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut cx) else {
        panic!("a ready handler answers at once");
    };
    let echoed = response.headers()["x-correlation-id"]
        .to_str()
        .expect("visible ASCII")
        .to_owned();
    let seen = response
        .into_body()
        .into_inner()
        .expect("the handler's body");
    assert_eq!(seen, echoed, "the echo is the ID the handler saw");
    assert!(
        CorrelationId::parse(&seen).is_ok(),
        "the chosen ID passes the floor"
    );

    // What a trusted peer asked for: its first correlation header present
    // (sent more than once, it is ambiguous and refused), else its
    // `traceparent`'s trace-id (the same rule for repeats).
    let once = |name: &str| {
        let mut values = headers.get_all(name).iter();
        let first = values.next()?;
        Some(values.next().is_none().then_some(first))
    };
    let asked = ["x-correlation-id", "x-request-id"]
        .into_iter()
        .find_map(once)
        .flatten()
        .and_then(as_text)
        .and_then(|text| CorrelationId::parse(text).ok());
    // A later version's `traceparent` ends in fields that are ignored,
    // whatever their bytes (W3C Trace Context, "Versioning"): read lossily.
    let traced = once("traceparent")
        .flatten()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .and_then(|text| text.parse::<TraceParent>().ok())
        .map(|parent| parent.trace_id().to_owned());
    let expected = if trusted {
        asked.map(|id| id.to_string()).or(traced)
    } else {
        None
    };
    match expected {
        Some(expected) => assert_eq!(seen, expected),
        None => {
            let uuid = CorrelationId::parse_uuid(&seen).expect("a generated UUID");
            assert_eq!(uuid.as_str(), seen, "generated IDs are canonical");
            assert_eq!(seen.as_bytes()[14], b'7', "a UUIDv7");
        }
    }
});
