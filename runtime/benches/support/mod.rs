//! The handlers and helpers shared by the benchmarks (`handlers.rs`) and the
//! instruction counts (`instructions.rs`): one body, wrapped each peer's way.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};

use correlated::{CorrelationId, correlated};

tokio::task_local! {
    pub static TASK_ID: CorrelationId;
}

/// The handler's own work: a few instructions the optimiser cannot remove.
#[inline(never)]
pub(crate) fn work(x: u64) -> u64 {
    black_box(x).wrapping_mul(31)
}

/// Returns `Pending` once, then `Ready`: one `.await` point that yields.
/// It does not wake the task; `drive` polls again at once, so each `.await`
/// costs one trip through the wrapper under test and no executor.
pub(crate) struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

pub(crate) fn yield_now() -> YieldOnce {
    YieldOnce(false)
}

/// Polls `future` to completion on this thread with a no-op waker.
pub(crate) fn drive<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = TaskContext::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

// ---- Synchronous handlers -------------------------------------------------

#[inline(never)]
pub(crate) fn sync_plain(x: u64) -> u64 {
    work(x)
}

/// Inherits the caller's ID (a nested handler inside a request).
#[correlated]
#[inline(never)]
pub(crate) fn sync_correlated(x: u64) -> u64 {
    work(x)
}

/// Takes the ID it is given, like `task_local`'s `sync_scope(id, ..)`.
#[correlated(id = id)]
#[inline(never)]
pub(crate) fn sync_correlated_id(id: CorrelationId, x: u64) -> u64 {
    work(x)
}

/// Enters the ID it is given by hand, with a `scope()` guard.
#[inline(never)]
pub(crate) fn sync_scope_guard(id: CorrelationId, x: u64) -> u64 {
    let _guard = correlated::scope(id);
    work(x)
}

/// Sets the ID by hand and resets it with the token.
#[inline(never)]
pub(crate) fn sync_set_reset(id: CorrelationId, x: u64) -> u64 {
    let token = correlated::set(id);
    let result = work(x);
    correlated::reset(token).expect("reset where it was set");
    result
}

#[inline(never)]
pub(crate) fn sync_task_local(id: CorrelationId, x: u64) -> u64 {
    TASK_ID.sync_scope(id, || work(x))
}

// Two callsites, so that each is registered with the subscriber it is
// measured with (see handlers.rs).
#[tracing::instrument(skip_all)]
#[inline(never)]
pub(crate) fn sync_instrumented_no_subscriber(x: u64) -> u64 {
    work(x)
}

#[tracing::instrument(skip_all)]
#[inline(never)]
pub(crate) fn sync_instrumented_registry(x: u64) -> u64 {
    work(x)
}

#[inline(never)]
pub(crate) fn sync_otel_attach(cx: &opentelemetry::Context, x: u64) -> u64 {
    let _guard = cx.clone().attach();
    work(x)
}

// ---- Asynchronous handlers: `polls` yielding `.await`s, then the work ------

pub(crate) async fn async_plain(x: u64, polls: u32) -> u64 {
    for _ in 0..polls {
        yield_now().await;
    }
    work(x)
}

#[correlated]
pub(crate) async fn async_correlated(x: u64, polls: u32) -> u64 {
    for _ in 0..polls {
        yield_now().await;
    }
    work(x)
}

#[correlated(id = id)]
pub(crate) async fn async_correlated_id(id: CorrelationId, x: u64, polls: u32) -> u64 {
    for _ in 0..polls {
        yield_now().await;
    }
    work(x)
}

/// `#[instrument]`ed async handlers, one callsite each: per subscriber and
/// per group (see handlers.rs).
macro_rules! instrumented_async {
    ($($name:ident),*) => {$(
        #[tracing::instrument(skip_all)]
        pub(crate) async fn $name(x: u64, polls: u32) -> u64 {
            for _ in 0..polls {
                yield_now().await;
            }
            work(x)
        }
    )*};
}

instrumented_async!(
    async_instrumented_no_subscriber_0,
    async_instrumented_registry_0,
    async_instrumented_no_subscriber_10,
    async_instrumented_registry_10
);

/// An OpenTelemetry context holding the ID, as a propagator would build it.
pub(crate) fn otel_context(id: &CorrelationId) -> opentelemetry::Context {
    opentelemetry::Context::new().with_value(OtelId(id.clone()))
}

pub(crate) struct OtelId(pub CorrelationId);

#[cfg(feature = "actix-web")]
pub(crate) mod actix;

/// The in-process tower stacks of group 5 (`http.rs`) and of the HTTP
/// instruction counts (`instructions.rs`): the same trivial service and the
/// same request, so only the layers differ.
#[cfg(feature = "tower")]
pub(crate) mod http {
    use std::convert::Infallible;
    use std::hint::black_box;
    use std::net::SocketAddr;

    use correlated::tower::{CorrelationLayer, CorrelationLayerBuilder, ResponseBody};
    use http::{HeaderName, HeaderValue, Request, Response};
    use tower::Service;
    use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, SetRequestIdLayer};

    use super::drive;

    /// The header both layers are configured to read and echo.
    pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-request-id");

    /// The trivial service: an empty `200`.
    pub(crate) async fn handler(request: Request<()>) -> Result<Response<()>, Infallible> {
        black_box(&request);
        Ok(Response::new(()))
    }

    /// What every stack is: a service answering with some body type.
    pub(crate) trait Stack:
        Service<Request<()>, Response = Response<Self::Body>, Error = Infallible> + 'static
    {
        type Body;
    }

    impl<S, B> Stack for S
    where
        S: Service<Request<()>, Response = Response<B>, Error = Infallible> + 'static,
    {
        type Body = B;
    }

    /// The service alone.
    pub(crate) fn bare() -> impl Stack {
        tower::service_fn(handler)
    }

    /// correlated's layer, reading `HEADER` and trusting the loopback peer
    /// that `request` claims.
    pub(crate) fn correlated_layer() -> CorrelationLayer {
        correlated_layer_builder().build()
    }

    /// The builder of `correlated_layer`, for variants of it.
    pub(crate) fn correlated_layer_builder() -> CorrelationLayerBuilder {
        CorrelationLayer::builder()
            .header(HEADER)
            .trust("127.0.0.1")
            .unwrap()
    }

    /// The service behind correlated's layer. Its responses keep the body
    /// wrapper, which `serve`'s caller drops as a server drops a body after
    /// the last frame: the request's frame goes with it.
    pub(crate) fn correlated() -> impl Stack<Body = ResponseBody<()>> {
        tower::ServiceBuilder::new()
            .layer(correlated_layer())
            .service_fn(handler)
    }

    /// The service behind tower-http's request-id pair, minting IDs with
    /// `make`.
    pub(crate) fn tower_http<M: MakeRequestId + Clone + Send + 'static>(make: M) -> impl Stack {
        tower::ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(HEADER, make))
            .layer(PropagateRequestIdLayer::new(HEADER))
            .service_fn(handler)
    }

    /// A request from the loopback peer, with `incoming` as its ID if given.
    pub(crate) fn request(incoming: Option<&HeaderValue>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(value) = incoming {
            request.headers_mut().insert(HEADER, value.clone());
        }
        request
            .extensions_mut()
            .insert(SocketAddr::from(([127, 0, 0, 1], 40_000)));
        request
    }

    /// The same stacks around a handler whose body has 16 frames, and a
    /// server loop that polls the body to its end.
    pub(crate) mod streaming {
        use std::convert::Infallible;
        use std::pin::Pin;
        use std::task::{Context as TaskContext, Poll};

        use bytes::Bytes;
        use http::{Request, Response};
        use http_body::{Body, Frame};
        use tower::Service;
        use tower_http::trace::TraceLayer;

        use super::drive;

        /// Sixteen frames of static bytes: no allocation per frame.
        pub(crate) struct Chunks(u8);

        impl Body for Chunks {
            type Data = Bytes;
            type Error = Infallible;

            fn poll_frame(
                mut self: Pin<&mut Self>,
                _: &mut TaskContext<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
                if self.0 == 0 {
                    return Poll::Ready(None);
                }
                self.0 -= 1;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(
                    b"0123456789abcdef",
                )))))
            }
        }

        /// Requests with a body type (an empty one), as `TraceLayer` needs.
        pub(crate) type Req = Request<http_body_util::Empty<Bytes>>;

        pub(crate) async fn handler(request: Req) -> Result<Response<Chunks>, Infallible> {
            std::hint::black_box(&request);
            Ok(Response::new(Chunks(16)))
        }

        pub(crate) fn bare() -> impl Service<Req, Response = Response<Chunks>, Error = Infallible> {
            tower::service_fn(handler)
        }

        pub(crate) fn correlated()
        -> impl Service<Req, Response = Response<impl Body>, Error = Infallible> {
            tower::ServiceBuilder::new()
                .layer(super::correlated_layer())
                .service_fn(handler)
        }

        pub(crate) fn trace_layer()
        -> impl Service<Req, Response = Response<impl Body>, Error = Infallible> {
            tower::ServiceBuilder::new()
                .layer(TraceLayer::new_for_http())
                .service_fn(handler)
        }

        /// One request through `service` and its body to the last frame.
        pub(crate) fn serve<S, B>(service: &mut S, request: Request<()>)
        where
            S: Service<Req, Response = Response<B>, Error = Infallible>,
            B: Body,
        {
            let request = request.map(|()| http_body_util::Empty::new());
            drive(std::future::poll_fn(|cx| service.poll_ready(cx))).unwrap();
            let response = drive(service.call(request)).unwrap();
            let mut body = std::pin::pin!(response.into_body());
            while let Some(frame) = drive(std::future::poll_fn(|cx| body.as_mut().poll_frame(cx))) {
                std::hint::black_box(frame.is_ok());
            }
        }
    }

    /// One request through `service`, as a server would: ready, call, poll.
    /// The caller drops the response (`()` bodies have no frames to poll).
    pub(crate) fn serve<S: Stack>(service: &mut S, request: Request<()>) -> Response<S::Body> {
        drive(std::future::poll_fn(|cx| service.poll_ready(cx))).unwrap();
        drive(service.call(request)).unwrap()
    }
}
