//! docs/semantics.md, promises 19 and 21, for the chain of entered frames: a
//! thread points at the frame that is current, so no order in which frames
//! are left, and no frame kept, moved or leaked past its scope, may leave it
//! pointing at freed memory. Safe code can build every one of these through
//! `correlated::__private` (what `#[correlated]` expands into); each test ends
//! with the thread back at its root. CI also runs them under Miri, which
//! fails on any read of a freed frame (`.ci/test`; one test leaks a frame
//! on purpose, hence `-Zmiri-ignore-leaks`).

use std::pin::Pin;
use std::thread;

use correlated::{__private, Context, Correlate};

mod support;
use support::{YieldOnce, current_text, id};

fn pinned_frame(text: &str) -> Pin<Box<__private::SyncFrame>> {
    Box::pin(__private::frame(
        Context::new().with_correlation_id(id(text)),
    ))
}

/// Runs `f` on a thread of its own, so a leaked frame cannot reach other tests.
fn on_a_new_thread(f: impl FnOnce() + Send + 'static) {
    thread::spawn(f).join().expect("the test thread panicked");
}

#[test]
fn frames_dropped_out_of_order_leave_the_thread_at_its_root() {
    on_a_new_thread(|| {
        let outer = pinned_frame("outer");
        __private::enter(outer.as_ref());
        let inner = pinned_frame("inner");
        __private::enter(inner.as_ref());
        assert_eq!(current_text().as_deref(), Some("inner"));

        drop(outer);
        assert_eq!(current_text().as_deref(), Some("inner"));
        // `inner` still remembers what was current below `outer`, not `outer`.
        drop(inner);
        assert_eq!(current_text(), None);
    });
}

#[test]
fn three_frames_dropped_middle_first() {
    on_a_new_thread(|| {
        let a = pinned_frame("a");
        __private::enter(a.as_ref());
        let b = pinned_frame("b");
        __private::enter(b.as_ref());
        let c = pinned_frame("c");
        __private::enter(c.as_ref());
        drop(b);
        assert_eq!(current_text().as_deref(), Some("c"));
        drop(c);
        assert_eq!(current_text().as_deref(), Some("a"));
        drop(a);
        assert_eq!(current_text(), None);
    });
}

#[test]
fn entering_a_frame_twice_changes_nothing() {
    on_a_new_thread(|| {
        let frame = pinned_frame("once");
        __private::enter(frame.as_ref());
        __private::enter(frame.as_ref());
        assert_eq!(current_text().as_deref(), Some("once"));
        drop(frame);
        assert_eq!(current_text(), None);
    });
}

#[test]
fn a_frame_that_is_never_entered_changes_nothing() {
    on_a_new_thread(|| {
        drop(pinned_frame("never"));
        assert_eq!(current_text(), None);
    });
}

#[test]
fn a_leaked_frame_stays_current_and_valid() {
    on_a_new_thread(|| {
        let leaked = pinned_frame("leaked");
        __private::enter(leaked.as_ref());
        std::mem::forget(leaked);
        // Wrong, but memory-safe: the frame is still there to be read.
        assert_eq!(current_text().as_deref(), Some("leaked"));
        let later = pinned_frame("later");
        __private::enter(later.as_ref());
        drop(later);
        assert_eq!(current_text().as_deref(), Some("leaked"));
    });
}

#[test]
fn a_frame_entered_in_a_poll_and_kept_after_it_outlives_the_future() {
    on_a_new_thread(|| {
        let mut kept = None;
        futures::executor::block_on(
            async {
                let frame = pinned_frame("kept");
                __private::enter(frame.as_ref());
                kept = Some(frame);
                YieldOnce(false).await;
            }
            .correlated(id("polled")),
        );
        // The future and its frame are gone; the kept frame links past them.
        assert_eq!(current_text().as_deref(), Some("kept"));
        drop(kept);
        assert_eq!(current_text(), None);
    });
}

#[test]
fn a_frame_entered_before_a_poll_and_dropped_inside_it() {
    on_a_new_thread(|| {
        let outer = pinned_frame("outer");
        __private::enter(outer.as_ref());
        let seen = futures::executor::block_on(
            async move {
                drop(outer);
                let inside = current_text();
                YieldOnce(false).await;
                (inside, current_text())
            }
            .correlated(id("polled")),
        );
        assert_eq!(seen, (Some("polled".to_owned()), Some("polled".to_owned())));
        assert_eq!(current_text(), None);
    });
}

#[test]
fn context_run_inside_a_frame_inside_a_poll_unwinds_back_to_the_root() {
    on_a_new_thread(|| {
        let result = std::panic::catch_unwind(|| {
            futures::executor::block_on(
                async {
                    let frame = pinned_frame("sync");
                    __private::enter(frame.as_ref());
                    Context::new()
                        .with_correlation_id(id("run"))
                        .run(|| panic!("inside run"));
                }
                .correlated(id("polled")),
            );
        });
        assert!(result.is_err());
        assert_eq!(current_text(), None);
    });
}

#[test]
fn reads_that_leave_the_frame_unmarked_see_every_set() {
    // `current()` reads the frame without marking it borrowed (design.md,
    // "unsafe"): sets made between and inside reads, at the thread's root
    // and in an entered frame, with inline and shared IDs, must all show.
    on_a_new_thread(|| {
        assert_eq!(current_text(), None);
        let root = correlated::scope(id("root"));
        let long = "l".repeat(100);
        correlated::with_current(|seen| {
            assert_eq!(seen.map(|id| id.as_str()), Some("root"));
            let token = correlated::set(id(&long));
            assert_eq!(current_text().as_deref(), Some(long.as_str()));
            correlated::reset(token).unwrap();
            assert_eq!(seen.map(|id| id.as_str()), Some("root"));
        });
        Context::new().with_correlation_id(id(&long)).run(|| {
            assert_eq!(current_text().as_deref(), Some(long.as_str()));
            let _inner = correlated::scope(id("inner"));
            assert_eq!(current_text().as_deref(), Some("inner"));
        });
        assert_eq!(current_text().as_deref(), Some("root"));
        drop(root);
        assert_eq!(current_text(), None);
    });
}

/// The tower layer moves the frame a finished response future was polled in
/// into the response body, which enters it again for every frame and for its
/// drop: the move must leave nothing pointing at the frame's old place.
#[test]
fn a_response_body_enters_the_frame_its_finished_future_left() {
    use std::convert::Infallible;
    use std::task::{Context as TaskContext, Poll};

    use correlated::tower::CorrelationLayer;
    use http_body::Body;
    use tower::{Layer, ServiceExt, service_fn};

    /// Frames that carry the ID current when each is made.
    struct Ids(u8);

    impl Body for Ids {
        type Data = std::io::Cursor<Vec<u8>>;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut TaskContext<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Infallible>>> {
            if self.0 == 0 {
                return Poll::Ready(None);
            }
            self.0 -= 1;
            let text = current_text().unwrap_or_default().into_bytes();
            Poll::Ready(Some(Ok(http_body::Frame::data(std::io::Cursor::new(text)))))
        }
    }

    on_a_new_thread(|| {
        // A trusted ID, so that nothing reads the clock (Miri's isolation).
        let layer = CorrelationLayer::builder()
            .trust("127.0.0.1")
            .unwrap()
            .build();
        let service = layer.layer(service_fn(|_: http::Request<()>| async {
            YieldOnce(false).await;
            Ok::<_, Infallible>(http::Response::new(Ids(3)))
        }));
        let mut request = http::Request::new(());
        request
            .headers_mut()
            .insert("x-correlation-id", http::HeaderValue::from_static("body-1"));
        request
            .extensions_mut()
            .insert(std::net::SocketAddr::from(([127, 0, 0, 1], 4000)));
        let response = futures::executor::block_on(service.oneshot(request)).unwrap();
        let echoed = response.headers()["x-correlation-id"]
            .to_str()
            .unwrap()
            .to_owned();
        // Moved again, as a server moves the body it serves.
        let mut body = Box::pin(response.into_body());
        for _ in 0..2 {
            let frame = futures::executor::block_on(std::future::poll_fn(|cx| {
                body.as_mut().poll_frame(cx)
            }));
            let data = frame.unwrap().unwrap().into_data().unwrap();
            assert_eq!(data.into_inner(), echoed.as_bytes());
            assert_eq!(current_text(), None);
        }
        drop(body); // one frame left: dropped in the request's context
        assert_eq!(current_text(), None);
    });
}

/// A correlated future over an `Unpin` inner future is itself `Unpin`: it may
/// move between polls (out of a `Box`, into a `Vec`), and its frame, set log
/// included, moves with it. Nothing may point at the old place.
#[test]
fn an_unpin_correlated_future_moved_between_polls_keeps_its_sets() {
    use std::task::{Context as TaskContext, Poll};

    correlated::slot! { static STEP: u32; }

    on_a_new_thread(|| {
        let mut polls = 0;
        let inner = std::future::poll_fn(move |cx: &mut TaskContext<'_>| {
            polls += 1;
            if polls == 1 {
                // A set that outlives the poll (its token is dropped) and a
                // scope that ends inside it.
                drop(STEP.set(1));
                let _inner = correlated::scope(id("inner"));
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Poll::Ready((current_text(), STEP.get()))
        });
        let future = inner.correlated(id("moved"));
        fn assert_unpin<T: Unpin>(_: &T) {}
        assert_unpin(&future);

        let waker = futures::task::noop_waker();
        let mut cx = TaskContext::from_waker(&waker);
        let mut first = Box::new(future);
        assert!(Pin::new(&mut *first).poll(&mut cx).is_pending());
        assert_eq!(current_text(), None);
        assert_eq!(STEP.get(), None, "the set stayed in the future's frame");

        let mut moved = vec![*first];
        let result = Pin::new(&mut moved[0]).poll(&mut cx);
        assert_eq!(result, Poll::Ready((Some("moved".to_owned()), Some(1))));
        drop(moved);
        assert_eq!(current_text(), None);
    });
}

/// Values kept in a thread's root frame are dropped when the thread's storage
/// is torn down. Their `Drop` may call back into the crate: reads see no
/// context, sets are refused, and nothing panics or touches freed memory.
#[test]
fn values_dropped_with_the_thread_root_may_call_back_into_the_crate() {
    use std::sync::Mutex;

    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

    /// Reads and sets from its `Drop`, and says what it saw.
    #[derive(Clone)]
    struct CallsBack;

    impl Drop for CallsBack {
        fn drop(&mut self) {
            let read = format!("{:?}", current_text());
            let guard = correlated::scope(id("from-drop"));
            let inside = format!("{:?}", current_text());
            drop(guard);
            let user = format!("{:?}", NUMBER.get());
            SEEN.lock().unwrap().push(format!("{read} {inside} {user}"));
        }
    }

    correlated::slot! {
        static LAST: CallsBack;
        static NUMBER: u32;
    }

    on_a_new_thread(|| {
        // Set at the root and never reset: kept until the thread ends.
        drop(correlated::set(id("root")));
        drop(NUMBER.set(7));
        drop(LAST.set(CallsBack));
        assert_eq!(current_text().as_deref(), Some("root"));
    });
    let seen = SEEN.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["None None None"],
        "dropped once, with the root, seeing no context while it is torn down"
    );
}
