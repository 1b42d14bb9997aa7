//! `#[correlated]` handlers, end to end: the ID is there for the whole call,
//! and gone when the call ends, however it ends (docs/semantics.md, promises
//! 1, 3, 4, 5, 11, 13, 18 and 28; the attribute's arguments are described in
//! docs/users-guide.md).

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use correlated::{CorrelationId, correlated};

mod support;
use support::id;

correlated::slot! {
    static USER_ID: String;
    static TENANT: u64;
}

/// An event and the correlation ID current when it happened.
type Event = (&'static str, Option<CorrelationId>);

/// Records what the body saw: on entry, and when a body local is dropped
/// (on return, unwind or cancellation).
#[derive(Clone, Default)]
struct Probe {
    seen: Arc<Mutex<Vec<Event>>>,
}

impl Probe {
    fn record(&self, event: &'static str) {
        self.seen
            .lock()
            .unwrap()
            .push((event, correlated::current()));
    }

    /// Records `"dropped"` when the returned local is dropped.
    fn on_drop(&self) -> OnDrop {
        OnDrop(self.clone())
    }

    fn events(&self) -> Vec<Event> {
        self.seen.lock().unwrap().clone()
    }
}

struct OnDrop(Probe);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.record("dropped");
    }
}

/// A value left set at a worker thread's root would be hidden from the next
/// task and only show as a misuse report; correct handlers never cause one.
fn assert_no_misuse_reported() {
    assert_eq!(
        correlated::__private::misuse_reports(),
        0,
        "a handler left its context behind on a thread"
    );
}

/// Yields to the scheduler `n` times: other tasks run on this thread meanwhile.
async fn yields(n: u64) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

// --- visible during handling --------------------------------------------

#[correlated(id = request_id)]
async fn handler_checkpoints(request_id: &str) -> Vec<Option<CorrelationId>> {
    let mut seen = vec![correlated::current()];
    yields(3).await;
    seen.push(correlated::current());
    tokio::time::sleep(Duration::from_millis(1)).await;
    seen.push(correlated::current());
    // Woken from the blocking pool, the task resumes on either worker.
    for _ in 0..16 {
        tokio::task::spawn_blocking(|| ()).await.unwrap();
        seen.push(correlated::current());
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_is_visible_before_and_after_every_await() {
    let seen = tokio::spawn(handler_checkpoints("req-visible"))
        .await
        .unwrap();
    assert_eq!(seen, vec![Some(id("req-visible")); 19]);
}

#[correlated]
fn sync_handler() -> Option<CorrelationId> {
    correlated::current()
}

#[correlated]
async fn async_handler() -> Option<CorrelationId> {
    yields(1).await;
    correlated::current()
}

#[tokio::test]
async fn without_a_caller_id_one_is_generated_and_cleared_after() {
    let sync_id = sync_handler().expect("an ID inside the sync handler");
    assert_eq!(correlated::current(), None);
    let async_id = async_handler()
        .await
        .expect("an ID inside the async handler");
    assert_eq!(correlated::current(), None);
    assert_ne!(sync_id, async_id, "each call gets its own ID");
    assert_eq!(
        CorrelationId::parse_uuid(async_id.as_str()).unwrap(),
        async_id
    );
}

#[tokio::test]
async fn the_caller_id_is_inherited_and_restored_after() {
    let _outer = correlated::scope(id("caller-1"));
    assert_eq!(sync_handler().unwrap(), "caller-1");
    assert_eq!(async_handler().await.unwrap(), "caller-1");
    assert_eq!(correlated::current().unwrap(), "caller-1");
}

// --- cleanup on every exit -----------------------------------------------

#[derive(Debug, PartialEq)]
struct Failed;

fn fail() -> Result<u32, Failed> {
    Err(Failed)
}

#[correlated(id = "err-async")]
async fn async_fails(probe: Probe) -> Result<u32, Failed> {
    let _local = probe.on_drop();
    yields(1).await;
    let n = fail()?;
    Ok(n)
}

#[correlated(id = "err-sync")]
fn sync_fails(probe: Probe) -> Result<u32, Failed> {
    let _local = probe.on_drop();
    let n = fail()?;
    Ok(n)
}

#[tokio::test]
async fn on_err_the_id_is_cleaned_up_and_locals_drop_inside() {
    let _outer = correlated::scope(id("outer"));
    let probe = Probe::default();
    assert_eq!(async_fails(probe.clone()).await, Err(Failed));
    assert_eq!(correlated::current().unwrap(), "outer");
    assert_eq!(sync_fails(probe.clone()), Err(Failed));
    assert_eq!(correlated::current().unwrap(), "outer");
    assert_eq!(
        probe.events(),
        [
            ("dropped", Some(id("err-async"))),
            ("dropped", Some(id("err-sync"))),
        ]
    );
}

#[correlated(id = "panics-sync")]
fn sync_panics(probe: Probe) {
    let _local = probe.on_drop();
    probe.record("entered");
    panic!("handler failed");
}

#[test]
fn on_panic_in_a_sync_handler_the_id_is_cleaned_up() {
    let _outer = correlated::scope(id("outer"));
    let probe = Probe::default();
    let result = catch_unwind(AssertUnwindSafe(|| sync_panics(probe.clone())));
    assert!(result.is_err());
    assert_eq!(correlated::current().unwrap(), "outer");
    assert_eq!(
        probe.events(),
        [
            ("entered", Some(id("panics-sync"))),
            ("dropped", Some(id("panics-sync"))),
        ]
    );
}

#[correlated(id = "panics-async")]
async fn async_panics(probe: Probe) {
    let _local = probe.on_drop();
    yields(1).await;
    probe.record("entered");
    panic!("handler failed");
}

#[tokio::test]
async fn on_panic_in_an_async_task_the_id_is_cleaned_up() {
    let probe = Probe::default();
    let error = tokio::spawn(async_panics(probe.clone())).await.unwrap_err();
    assert!(error.is_panic());
    // A current-thread runtime: the next task runs on the panicked one's thread.
    let next = tokio::spawn(async { correlated::current() }).await.unwrap();
    assert_eq!(next, None);
    assert_eq!(correlated::current(), None);
    assert_eq!(
        probe.events(),
        [
            ("entered", Some(id("panics-async"))),
            ("dropped", Some(id("panics-async"))),
        ]
    );
    assert_no_misuse_reported();
}

// `-> !`: the body can only panic (or exit); the attribute must accept the
// never type, which cannot be named where other return types are.
#[correlated(id = "diverges")]
async fn async_diverges(probe: Probe) -> ! {
    let _local = probe.on_drop();
    yields(1).await;
    probe.record("entered");
    panic!("this handler never returns");
}

#[tokio::test]
async fn a_handler_returning_never_panics_in_its_context_and_cleans_up() {
    let probe = Probe::default();
    let error = tokio::spawn(async_diverges(probe.clone()))
        .await
        .unwrap_err();
    assert!(error.is_panic());
    assert_eq!(correlated::current(), None);
    assert_eq!(
        probe.events(),
        [
            ("entered", Some(id("diverges"))),
            ("dropped", Some(id("diverges"))),
        ]
    );
    assert_no_misuse_reported();
}

#[correlated(id = name)]
async fn never_finishes(name: &'static str, probe: Probe) {
    let _local = probe.on_drop();
    probe.record("entered");
    std::future::pending::<()>().await;
}

#[tokio::test(start_paused = true)]
async fn on_timeout_the_id_is_cleaned_up() {
    let _outer = correlated::scope(id("outer"));
    let probe = Probe::default();
    let result = tokio::time::timeout(
        Duration::from_secs(1),
        never_finishes("timeout-1", probe.clone()),
    )
    .await;
    assert!(result.is_err());
    assert_eq!(correlated::current().unwrap(), "outer");
    assert_eq!(
        probe.events(),
        [
            ("entered", Some(id("timeout-1"))),
            ("dropped", Some(id("timeout-1"))),
        ]
    );
}

#[tokio::test]
async fn when_select_drops_the_handler_the_id_is_cleaned_up() {
    let probe = Probe::default();
    tokio::select! {
        biased;
        () = never_finishes("select-1", probe.clone()) => unreachable!(),
        () = yields(2) => {}
    }
    assert_eq!(correlated::current(), None);
    assert_eq!(
        probe.events(),
        [
            ("entered", Some(id("select-1"))),
            ("dropped", Some(id("select-1"))),
        ]
    );
}

#[tokio::test]
async fn on_abort_the_id_is_cleaned_up() {
    let probe = Probe::default();
    let handle = tokio::spawn(never_finishes("abort-1", probe.clone()));
    while probe.events().is_empty() {
        tokio::task::yield_now().await;
    }
    handle.abort();
    assert!(handle.await.unwrap_err().is_cancelled());
    let next = tokio::spawn(async { correlated::current() }).await.unwrap();
    assert_eq!(next, None);
    assert_eq!(
        probe.events(),
        [
            ("entered", Some(id("abort-1"))),
            ("dropped", Some(id("abort-1"))),
        ]
    );
    assert_no_misuse_reported();
}

#[correlated(id = "args-async")]
async fn uses_its_argument(local: OnDrop) {
    yields(1).await;
    let _moved_into_the_body = local;
}

#[correlated(id = "args-sync")]
fn moves_its_argument(local: OnDrop) {
    let _moved_into_the_body = local;
}

#[tokio::test]
async fn arguments_moved_into_the_body_drop_inside_the_context() {
    let probe = Probe::default();
    uses_its_argument(probe.on_drop()).await;
    moves_its_argument(probe.on_drop());
    assert_eq!(
        probe.events(),
        [
            ("dropped", Some(id("args-async"))),
            ("dropped", Some(id("args-sync"))),
        ]
    );
}

// Above `#[tokio::test]` (or `#[tokio::main]`), the attribute sees the
// `async fn` and its body runs as a correlated future.
#[correlated(id = "test-root")]
#[tokio::test]
async fn an_annotated_tokio_test_runs_in_its_context() {
    assert_eq!(correlated::current().unwrap(), "test-root");
    yields(1).await;
    assert_eq!(correlated::current().unwrap(), "test-root");
}

// --- arguments ------------------------------------------------------------

#[correlated(id = header)]
fn from_header(header: Option<&str>) -> CorrelationId {
    correlated::current().unwrap()
}

#[test]
fn an_explicit_id_is_honoured() {
    let _outer = correlated::scope(id("outer"));
    assert_eq!(from_header(Some("req-7")), "req-7");
    assert_eq!(correlated::current().unwrap(), "outer");
}

#[test]
fn a_missing_or_invalid_id_is_replaced_by_a_generated_one() {
    let _outer = correlated::scope(id("outer"));
    for header in [None, Some(""), Some("bad value"), Some("line\nbreak")] {
        let used = from_header(header);
        assert_ne!(used, "outer", "{header:?}: not the caller's ID");
        assert_eq!(
            CorrelationId::parse_uuid(used.as_str()).unwrap(),
            used,
            "{header:?}: a generated UUID"
        );
    }
    assert_ne!(from_header(None), from_header(None));
}

#[correlated(fresh)]
async fn fresh_job() -> CorrelationId {
    yields(1).await;
    correlated::current().unwrap()
}

#[tokio::test]
async fn fresh_differs_from_the_caller_id() {
    let _outer = correlated::scope(id("caller"));
    let first = fresh_job().await;
    let second = fresh_job().await;
    assert_ne!(first, "caller");
    assert_ne!(first, second);
    assert_eq!(correlated::current().unwrap(), "caller");
}

#[correlated(USER_ID = user, TENANT = 7u8)]
async fn with_slots(user: &str) -> (Option<String>, Option<u64>) {
    yields(1).await;
    (USER_ID.get(), TENANT.get())
}

#[correlated(USER_ID = format!("{user}!"))]
fn with_slot_sync(user: &str) -> Option<String> {
    USER_ID.get()
}

#[tokio::test]
async fn slot_bindings_are_visible_in_the_body_and_gone_after() {
    assert_eq!(
        with_slots("alice").await,
        (Some("alice".to_owned()), Some(7))
    );
    assert_eq!(with_slot_sync("bob").as_deref(), Some("bob!"));
    assert_eq!(USER_ID.get(), None);
    assert_eq!(TENANT.get(), None);
}

#[tokio::test]
async fn slot_bindings_shadow_the_caller_and_restore_it() {
    let _user = USER_ID.scope("caller".to_owned());
    assert_eq!(with_slot_sync("inner").as_deref(), Some("inner!"));
    assert_eq!(with_slots("inner").await.0.as_deref(), Some("inner"));
    assert_eq!(USER_ID.get().as_deref(), Some("caller"));
}

// --- nesting and isolation ----------------------------------------------

#[correlated(id = "inner-sync")]
fn inner_sync() -> Option<CorrelationId> {
    correlated::current()
}

#[correlated(id = "inner-async")]
async fn inner_async() -> Option<CorrelationId> {
    yields(1).await;
    let nested = inner_sync();
    assert_eq!(correlated::current().unwrap(), "inner-async");
    nested
}

#[correlated(id = "outer")]
async fn outer_handler() -> Vec<Option<CorrelationId>> {
    let mut seen = vec![inner_async().await];
    seen.push(correlated::current());
    seen.push(inner_sync());
    yields(1).await;
    seen.push(correlated::current());
    seen
}

#[tokio::test]
async fn nested_annotated_calls_restore_the_outer_id() {
    let seen = outer_handler().await;
    assert_eq!(
        seen,
        [
            Some(id("inner-sync")),
            Some(id("outer")),
            Some(id("inner-sync")),
            Some(id("outer")),
        ]
    );
    assert_eq!(correlated::current(), None);
}

#[correlated(id = "setter")]
async fn sets_and_keeps(probe: Probe) {
    let _token = correlated::set(id("set-inside"));
    let _user = USER_ID.set("set-inside".to_owned());
    yields(1).await;
    probe.record("after await");
}

#[correlated]
fn sets_and_keeps_sync() {
    let _token = correlated::set(id("set-inside-sync"));
    let _user = USER_ID.set("set-inside-sync".to_owned());
}

#[tokio::test]
async fn sets_inside_a_handler_do_not_leak_to_the_caller() {
    let _outer = correlated::scope(id("caller"));
    let probe = Probe::default();
    sets_and_keeps(probe.clone()).await;
    sets_and_keeps_sync();
    assert_eq!(correlated::current().unwrap(), "caller");
    assert_eq!(USER_ID.get(), None);
    // Inside, the set lasted across the handler's own `.await`.
    assert_eq!(probe.events(), [("after await", Some(id("set-inside")))]);
}

#[correlated(id = format!("req-{n}"), TENANT = n)]
async fn isolated_handler(n: u64) -> Result<(), String> {
    let expected = format!("req-{n}");
    // A small xorshift per task: random, reproducible yields.
    let mut state = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for step in 0..8 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        yields(state % 4).await;
        let seen = correlated::current();
        if seen.as_ref().map(CorrelationId::as_str) != Some(expected.as_str()) {
            return Err(format!("task {n} step {step}: saw {seen:?}"));
        }
        if TENANT.get() != Some(n) {
            return Err(format!("task {n} step {step}: tenant {:?}", TENANT.get()));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_handlers_each_see_only_their_own_id() {
    let tasks: Vec<_> = (0..1000)
        .map(|n| tokio::spawn(isolated_handler(n)))
        .collect();
    let mut errors = Vec::new();
    for task in tasks {
        if let Err(error) = task.await.unwrap() {
            errors.push(error);
        }
    }
    assert!(
        errors.is_empty(),
        "{} leaks, first: {:?}",
        errors.len(),
        errors.first()
    );
    // Nothing is left behind on the worker threads.
    for _ in 0..10 {
        let left = tokio::spawn(async { (correlated::current(), TENANT.get()) })
            .await
            .unwrap();
        assert_eq!(left, (None, None));
    }
    assert_no_misuse_reported();
}

// --- functions that return a future -------------------------------------

#[correlated(id = "returned-1")]
fn returns_future(probe: Probe) -> impl Future<Output = Option<CorrelationId>> + Send {
    probe.record("built");
    async move {
        yields(2).await;
        correlated::current()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returned_future_carries_the_id_for_its_whole_life() {
    let probe = Probe::default();
    let future = returns_future(probe.clone());
    assert_eq!(correlated::current(), None);
    // A plain spawn, long after the function returned: the future brings its ID.
    let seen = tokio::spawn(future).await.unwrap();
    assert_eq!(seen.unwrap(), "returned-1");
    assert_eq!(probe.events(), [("built", Some(id("returned-1")))]);
}

#[async_trait::async_trait]
trait Handler {
    async fn handle(&self, request_id: &str) -> Vec<Option<CorrelationId>>;
}

struct Service;

#[async_trait::async_trait]
impl Handler for Service {
    #[correlated(id = request_id)]
    async fn handle(&self, request_id: &str) -> Vec<Option<CorrelationId>> {
        let before = correlated::current();
        yields(3).await;
        vec![before, correlated::current()]
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_trait_methods_keep_the_id_across_awaits() {
    let seen = tokio::spawn(async { Service.handle("trait-1").await })
        .await
        .unwrap();
    assert_eq!(seen, [Some(id("trait-1")), Some(id("trait-1"))]);
    assert_eq!(correlated::current(), None);
}
