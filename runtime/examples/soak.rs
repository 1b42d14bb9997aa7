//! A soak run of the example service: about a minute of mixed load on
//! loopback with client disconnects mid-body, aborted uploads, handler panics
//! (behind `CatchPanicLayer`), client and server timeouts, and sets whose
//! tokens are dropped without a reset. It checks that the server's resident
//! memory and live heap stay flat after warm-up, that sets without a reset
//! never grow a set log, that no misuse is reported, and that every
//! response's echoed ID is the one its handler saw.
//!
//! ```sh
//! cargo run --release -p correlated --example soak --features axum,tracing,tokio,reqwest-middleware
//! # The short variant CI runs:
//! cargo run -p correlated --example soak --features axum,tracing,tokio,reqwest-middleware -- --seconds 5
//! ```
//!
//! Options: `--seconds N` (default 60), `--max-requests N` (default
//! 2,000,000), `--connections N` (concurrent clients, default 128),
//! `--warm-up N` (seconds left out of the memory check, default a quarter
//! of the run, at least 1), `--seed N`. Memory is judged only with at least
//! 12 samples after warm-up (a run of 20 s or more); the 5 s run checks
//! everything else. It prints a summary and exits non-zero
//! if any check fails. docs/testing.md ("Soak") has the figures.
//!
//! The server runs in a child process (this binary with `--serve`): the
//! example service (`support/app.rs`, every route as `server.rs` serves it)
//! plus the soak's own routes under `/soak/`, behind the same correlation
//! layer and `CatchPanicLayer`, logging through the example's formatter into
//! a sink. It counts its allocations (`CountingAllocator`) and prints its
//! `VmRSS` (from `/proc/self/status`) and live heap bytes every second.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{BufRead, Write as _};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::{get, post};
use bytes::Bytes;
use correlated::{CorrelationId, correlated};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tracing_subscriber::prelude::*;

#[path = "support/app.rs"]
mod app;
#[path = "support/child.rs"]
mod child;

use child::ServerChild;

const HEADER: &str = "x-correlation-id";

// ---------------------------------------------------------------------------
// Allocation counting (both processes use it; only the server's is read).

/// The system allocator, counting the bytes live in the process and, per
/// thread, the bytes a stretch of code allocated and did not free.
struct CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

thread_local! {
    // Const-initialised and without a destructor: reading it never
    // allocates, so the allocator may use it.
    static THREAD_NET_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn count(delta: i64) {
    LIVE_BYTES.fetch_add(delta, Ordering::Relaxed);
    // `Err` only while the thread is torn down: nothing left to measure.
    let _ = THREAD_NET_BYTES.try_with(|net| net.set(net.get() + delta));
}

fn size(layout: Layout) -> i64 {
    i64::try_from(layout.size()).unwrap_or(i64::MAX)
}

// SAFETY: every call is forwarded to `System` with the caller's arguments;
// the counting around it neither allocates nor touches the memory.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is (the caller upholds `alloc`'s contract).
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            count(size(layout));
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            count(size(layout));
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(block, layout) };
        count(-size(layout));
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            count(i64::try_from(new_size).unwrap_or(i64::MAX) - size(layout));
        }
        moved
    }
}

/// Bytes this thread allocated and has not freed, since it started.
fn thread_net_bytes() -> i64 {
    THREAD_NET_BYTES.with(Cell::get)
}

/// The process's resident set (`VmRSS`), in KiB.
fn vm_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

// ---------------------------------------------------------------------------
// The server.

/// What the server saw, for `/soak/stats`.
struct ServerStats {
    /// A handler's ID changed between its start and its end.
    id_changed: AtomicU64,
    /// `set_and_forget` runs, and those where a slot did not show the value
    /// just set.
    forget_runs: AtomicU64,
    forget_wrong_value: AtomicU64,
    /// Runs whose loop kept bytes after its settling rounds (a growing set
    /// log), and the most bytes any run kept.
    forget_growth: AtomicU64,
    forget_growth_max: AtomicI64,
    /// Deliberate panics raised (counted by the panic hook).
    panics: AtomicU64,
    /// `/soak/deadline` requests cut off by the server's own timeout.
    server_timeouts: AtomicU64,
    /// Uploads whose body ended in an error (the client went away).
    uploads_cut: AtomicU64,
}

static STATS: ServerStats = ServerStats {
    id_changed: AtomicU64::new(0),
    forget_runs: AtomicU64::new(0),
    forget_wrong_value: AtomicU64::new(0),
    forget_growth: AtomicU64::new(0),
    forget_growth_max: AtomicI64::new(0),
    panics: AtomicU64::new(0),
    server_timeouts: AtomicU64::new(0),
    uploads_cut: AtomicU64::new(0),
};

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The message of the soak's own panics; the demo's `/panic` says
/// "handler bug".
const DELIBERATE: &str = "soak: deliberate panic";

/// Sets per `set_and_forget` loop, and how many of them settle the
/// allocations (the first set of a frame creates its log and the user-slot
/// map) before the loop's bytes are measured.
const SETS: usize = 64;
const SETTLE: usize = 8;

/// The server's own timeout for `/soak/deadline`.
const SERVER_BUDGET: Duration = Duration::from_millis(10);

/// The request's ID as the running code sees it (`-` outside any).
fn current_id() -> String {
    correlated::current().map_or_else(|| "-".to_owned(), |id| id.to_string())
}

fn same_id_as(seen: &str) {
    if current_id() != seen {
        bump(&STATS.id_changed);
    }
}

fn query_number(query: Option<&str>, key: &str) -> u64 {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, _)| *name == key)
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

/// The ID the handler saw, after a few `.await`s.
#[correlated]
async fn echo_id() -> String {
    let seen = current_id();
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
    same_id_as(&seen);
    seen
}

/// Sets without reset: the ID and a user slot, `SETS` times each, every
/// token dropped; once in a synchronous `#[correlated]` call's frame, once
/// in this handler's own. Answers the ID the handler saw on entry.
#[correlated]
async fn forget() -> String {
    let seen = current_id();
    forget_in_sync_frame();
    // The synchronous call's permanent sets ended with its frame.
    same_id_as(&seen);
    let last = set_and_forget();
    tokio::task::yield_now().await;
    // Permanent for the rest of this handler's context, across `.await`s.
    if correlated::current().as_ref() != Some(&last) {
        bump(&STATS.forget_wrong_value);
    }
    seen
}

#[correlated]
fn forget_in_sync_frame() {
    set_and_forget();
}

/// Sets and forgets in the current frame; returns the last ID set. A set
/// log that kept an entry per set would keep about a hundred bytes per
/// round; this thread's allocations, measured across the rounds after
/// `SETTLE` (no `.await` in between, so no other code runs on the thread),
/// must come back to where they were.
fn set_and_forget() -> CorrelationId {
    let mut settled = 0;
    let mut last = CorrelationId::generate();
    let mut wrong_value = false;
    for round in 0..SETS {
        if round == SETTLE {
            settled = thread_net_bytes();
        }
        let id = CorrelationId::generate();
        // Fixed width, so that each value takes as many bytes as the last.
        let user = format!("forget-{round:04}");
        drop(correlated::set(id.clone()));
        drop(app::USER_ID.set(user.clone()));
        wrong_value |= correlated::current().as_ref() != Some(&id)
            || app::USER_ID.get().as_deref() != Some(user.as_str());
        last = id;
    }
    let kept = thread_net_bytes() - settled;
    bump(&STATS.forget_runs);
    if wrong_value {
        bump(&STATS.forget_wrong_value);
    }
    if kept > 0 {
        bump(&STATS.forget_growth);
    }
    STATS.forget_growth_max.fetch_max(kept, Ordering::Relaxed);
    last
}

/// Panics after an `.await`, holding a guard and a permanent set: the
/// guard is dropped when the future is, in its context.
#[correlated]
async fn late_panic() -> String {
    let _guard = app::USER_ID.scope("panicking".to_owned());
    drop(correlated::set(CorrelationId::generate()));
    tokio::task::yield_now().await;
    panic!("{DELIBERATE}")
}

/// Sleeps `?ms=` holding a guard and a permanent set in its own frame; the
/// client often gives up first, dropping the handler mid-sleep.
#[correlated]
async fn slow(RawQuery(query): RawQuery) -> String {
    let seen = current_id();
    sleep_holding_sets(query_number(query.as_deref(), "ms")).await;
    same_id_as(&seen);
    seen
}

#[correlated]
async fn sleep_holding_sets(ms: u64) {
    let _guard = app::USER_ID.scope("sleeping".to_owned());
    drop(correlated::set(CorrelationId::generate()));
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// The server's own timeout (what `tower::timeout` does: drop the inner
/// future) around a `?ms=` sleep: 504 when it fires, the ID either way.
#[correlated]
async fn deadline(RawQuery(query): RawQuery) -> (StatusCode, String) {
    let seen = current_id();
    let ms = query_number(query.as_deref(), "ms");
    let status = match tokio::time::timeout(SERVER_BUDGET, sleep_holding_sets(ms)).await {
        Ok(()) => StatusCode::OK,
        Err(_) => {
            bump(&STATS.server_timeouts);
            StatusCode::GATEWAY_TIMEOUT
        }
    };
    same_id_as(&seen);
    (status, seen)
}

/// `?chunks=` lines of the request's ID, a millisecond apart: long enough
/// for the client to leave in the middle.
#[correlated]
async fn long_stream(RawQuery(query): RawQuery) -> Body {
    let chunks = query_number(query.as_deref(), "chunks");
    let lines = futures::stream::unfold(0, move |n| async move {
        if n == chunks {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        let line = format!("{}\n", current_id());
        Some((Ok::<_, std::convert::Infallible>(line), n + 1))
    });
    Body::from_stream(lines)
}

/// Reads the request body frame by frame; answers the ID and the byte count.
#[correlated]
async fn upload(body: Body) -> Result<String, StatusCode> {
    let seen = current_id();
    let mut body = body;
    let mut bytes = 0;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            bump(&STATS.uploads_cut);
            return Err(StatusCode::BAD_REQUEST);
        };
        bytes += frame.data_ref().map_or(0, Bytes::len);
    }
    same_id_as(&seen);
    Ok(format!("{seen} {bytes}"))
}

async fn stats() -> String {
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    format!(
        "misuse_reports {}\nid_changed {}\nforget_runs {}\nforget_wrong_value {}\n\
         forget_growth {}\nforget_growth_max {}\npanics {}\nserver_timeouts {}\nuploads_cut {}\n",
        correlated::__private::misuse_reports(),
        load(&STATS.id_changed),
        load(&STATS.forget_runs),
        load(&STATS.forget_wrong_value),
        load(&STATS.forget_growth),
        STATS.forget_growth_max.load(Ordering::Relaxed),
        load(&STATS.panics),
        load(&STATS.server_timeouts),
        load(&STATS.uploads_cut),
    )
}

/// The example service plus the soak's routes, behind the same layers as
/// the example's (correlation outermost, then `CatchPanicLayer`).
fn soak_app(local: SocketAddr) -> Result<Router, String> {
    let trusted = ["127.0.0.1".to_owned(), "::1".to_owned()];
    let correlation = correlated::tower::CorrelationLayer::builder()
        .trust_many(trusted.iter().map(String::as_str))
        .map_err(|e| e.to_string())?;
    let example = app::app(&trusted, local).map_err(|e| e.to_string())?;
    Ok(Router::new()
        .route("/soak/id", get(echo_id))
        .route("/soak/forget", get(forget))
        .route("/soak/panic", get(late_panic))
        .route("/soak/slow", get(slow))
        .route("/soak/deadline", get(deadline))
        .route("/soak/stream", get(long_stream))
        .route("/soak/upload", post(upload))
        .layer(
            ServiceBuilder::new()
                .layer(correlation.build())
                .layer(CatchPanicLayer::new()),
        )
        .route("/soak/stats", get(stats))
        .merge(example))
}

/// Deliberate panics are counted, not printed (thousands of them); any
/// other panic is reported as usual.
fn count_deliberate_panics() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        if matches!(message, Some(DELIBERATE | "handler bug")) {
            bump(&STATS.panics);
        } else {
            report(info);
        }
    }));
}

/// Prints `sample <ms> <VmRSS KiB> <live heap bytes>` every `every`.
fn sample_memory(every: Duration) {
    let start = Instant::now();
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(every);
            let rss = vm_rss_kib().unwrap_or(0);
            let heap = LIVE_BYTES.load(Ordering::Relaxed);
            let line = format!("sample {} {rss} {heap}", start.elapsed().as_millis());
            let mut stdout = std::io::stdout().lock();
            // The parent has gone: nobody is left to read the samples.
            if writeln!(stdout, "{line}")
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return;
            }
        }
    });
}

async fn serve() -> Result<(), String> {
    // The example's log format, with its filter, into a sink: every event is
    // formatted with its ID, and nothing floods the terminal.
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::sink)
        .map_event_format(|format| {
            correlated::tracing::CorrelatedFormat::text(format).with_slot(&app::USER_ID)
        });
    tracing_subscriber::registry()
        .with(layer.with_filter(app::log_filter()))
        .init();
    count_deliberate_panics();

    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| e.to_string())?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let app = soak_app(local)?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{local}")
            .and_then(|()| stdout.flush())
            .map_err(|e| e.to_string())?;
    }
    sample_memory(Duration::from_secs(1));
    app::serve(listener, app).await.map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// The client.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `/soak/id`: the body is the ID the handler saw.
    Echo,
    /// `/soak/forget`: sets without reset; the body is the handler's ID.
    Forget,
    /// The example's `/stream`, read to its end: every chunk names the ID.
    Stream,
    /// The example's `/events`, read to its end: every event is the ID.
    Events,
    /// The example's `/hello`: the echoed header only.
    Hello,
    /// The example's `/checkout`, which calls `/inventory` through reqwest.
    Checkout,
    /// The example's `/fail`: a 503.
    Fail,
    /// The example's `/panic`: a 500 from `CatchPanicLayer`.
    Panic,
    /// `/soak/panic`: a panic after an `.await`, holding a guard.
    LatePanic,
    /// `/soak/stream`, left after its first lines.
    Disconnect,
    /// `/soak/upload`, the request body often cut off midway.
    Upload,
    /// `/soak/slow`, often given up by the client before it answers.
    Slow,
    /// `/soak/deadline`, often cut off by the server's own timeout.
    Deadline,
}

const KINDS: [(Kind, u64); 13] = [
    (Kind::Echo, 16),
    (Kind::Forget, 14),
    (Kind::Stream, 8),
    (Kind::Events, 8),
    (Kind::Hello, 8),
    (Kind::Checkout, 4),
    (Kind::Fail, 3),
    (Kind::Panic, 4),
    (Kind::LatePanic, 4),
    (Kind::Disconnect, 10),
    (Kind::Upload, 7),
    (Kind::Slow, 7),
    (Kind::Deadline, 7),
];

/// SplitMix64: a seeded, reproducible choice of kinds and timings.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }

    fn kind(&mut self) -> Kind {
        let total: u64 = KINDS.iter().map(|(_, weight)| weight).sum();
        let mut pick = self.next() % total;
        for (kind, weight) in KINDS {
            if pick < weight {
                return kind;
            }
            pick -= weight;
        }
        Kind::Echo
    }
}

/// What the client sent as the ID.
enum Sent {
    None,
    Valid(String),
    /// Fails the floor (a space): the layer must replace it.
    Invalid(String),
}

enum Outcome {
    Completed(StatusCode),
    /// The client left in the middle of the response or request body.
    Disconnected,
    /// The client's timeout fired first.
    TimedOut,
    /// A transport error or an unexpected status on a request the client
    /// did not cut short.
    Error(String),
    /// An echoed ID that is missing, invalid, not the one sent, or not the
    /// one the handler saw.
    Mismatch(String),
}

#[derive(Clone, Copy, Default)]
struct Counts {
    sent: u64,
    completed: u64,
    disconnected: u64,
    timed_out: u64,
    errors: u64,
    mismatches: u64,
    /// Completed with the status that means "cut off by the server" (504)
    /// or "panicked" (500).
    special_status: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.sent += other.sent;
        self.completed += other.completed;
        self.disconnected += other.disconnected;
        self.timed_out += other.timed_out;
        self.errors += other.errors;
        self.mismatches += other.mismatches;
        self.special_status += other.special_status;
    }
}

#[derive(Default)]
struct Tally {
    by_kind: [Counts; KINDS.len()],
    /// IDs read from a body (what the handler saw) and compared with the
    /// echoed header.
    body_ids_checked: u64,
    /// The first few problems, for the report.
    problems: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (mine, theirs) in self.by_kind.iter_mut().zip(&other.by_kind) {
            mine.add(theirs);
        }
        self.body_ids_checked += other.body_ids_checked;
        for problem in other.problems {
            self.note(problem);
        }
    }

    fn note(&mut self, problem: String) {
        if self.problems.len() < 10 {
            self.problems.push(problem);
        }
    }

    fn total(&self) -> Counts {
        let mut total = Counts::default();
        for counts in &self.by_kind {
            total.add(counts);
        }
        total
    }
}

fn index_of(kind: Kind) -> usize {
    KINDS
        .iter()
        .position(|(k, _)| *k == kind)
        .expect("every kind is listed")
}

type HttpClient = Client<HttpConnector, Body>;

/// The echoed ID, checked against what was sent.
fn echoed_id(headers: &HeaderMap, sent: &Sent) -> Result<String, String> {
    let echoed = headers
        .get(HEADER)
        .ok_or("no ID echoed")?
        .to_str()
        .map_err(|_| "echoed ID is not text")?;
    CorrelationId::parse(echoed).map_err(|e| format!("echoed ID fails the floor: {e}"))?;
    match sent {
        Sent::Valid(sent) if echoed != sent => Err(format!("sent {sent}, echoed {echoed}")),
        Sent::Invalid(sent) if echoed == sent => Err(format!("the invalid {sent:?} was echoed")),
        _ => Ok(echoed.to_owned()),
    }
}

/// A request body of `chunks` KiB, a millisecond apart; with `cut_after`,
/// it fails after that many chunks, and the client drops the connection.
fn upload_body(chunks: u64, cut_after: Option<u64>) -> Body {
    let body = futures::stream::unfold(0, move |n| async move {
        if n == chunks {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        if cut_after == Some(n) {
            return Some((Err(std::io::Error::other("client gave up")), chunks));
        }
        Some((Ok(Bytes::from(vec![b'x'; 1024])), n + 1))
    });
    Body::from_stream(body)
}

/// One request of `kind`, checked.
async fn one(
    client: &HttpClient,
    addr: SocketAddr,
    kind: Kind,
    sent: &Sent,
    rng: &mut Rng,
    body_ids: &mut u64,
) -> Outcome {
    let (method, path, body, expected) = match kind {
        Kind::Echo => ("GET", "/soak/id".to_owned(), Body::empty(), StatusCode::OK),
        Kind::Forget => (
            "GET",
            "/soak/forget".to_owned(),
            Body::empty(),
            StatusCode::OK,
        ),
        Kind::Stream => ("GET", "/stream".to_owned(), Body::empty(), StatusCode::OK),
        Kind::Events => ("GET", "/events".to_owned(), Body::empty(), StatusCode::OK),
        Kind::Hello => (
            "GET",
            format!("/hello?n={}", rng.between(0, 999)),
            Body::empty(),
            StatusCode::OK,
        ),
        Kind::Checkout => ("GET", "/checkout".to_owned(), Body::empty(), StatusCode::OK),
        Kind::Fail => (
            "GET",
            "/fail".to_owned(),
            Body::empty(),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        Kind::Panic => (
            "GET",
            "/panic".to_owned(),
            Body::empty(),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        Kind::LatePanic => (
            "GET",
            "/soak/panic".to_owned(),
            Body::empty(),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
        Kind::Disconnect => (
            "GET",
            "/soak/stream?chunks=50".to_owned(),
            Body::empty(),
            StatusCode::OK,
        ),
        Kind::Upload => {
            // Two uploads in three are cut off midway.
            let cut = (rng.between(0, 2) != 0).then(|| rng.between(0, 6));
            (
                "POST",
                "/soak/upload".to_owned(),
                upload_body(8, cut),
                StatusCode::OK,
            )
        }
        Kind::Slow => (
            "GET",
            format!("/soak/slow?ms={}", rng.between(5, 40)),
            Body::empty(),
            StatusCode::OK,
        ),
        Kind::Deadline => (
            "GET",
            format!("/soak/deadline?ms={}", rng.between(0, 20)),
            Body::empty(),
            StatusCode::OK,
        ),
    };
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    match sent {
        Sent::None => {}
        Sent::Valid(id) | Sent::Invalid(id) => request = request.header(HEADER, id),
    }
    let request = match request.body(body) {
        Ok(request) => request,
        Err(error) => return Outcome::Error(error.to_string()),
    };
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(_) if kind == Kind::Upload => return Outcome::Disconnected,
        Err(error) => return Outcome::Error(format!("{kind:?}: {error}")),
    };
    let status = response.status();
    let echoed = match echoed_id(response.headers(), sent) {
        Ok(echoed) => echoed,
        Err(why) => return Outcome::Mismatch(format!("{kind:?}: {why}")),
    };
    let expected_ok =
        status == expected || (kind == Kind::Deadline && status == StatusCode::GATEWAY_TIMEOUT);
    if !expected_ok {
        return Outcome::Error(format!("{kind:?}: status {status}"));
    }
    let mut body = response.into_body();
    if kind == Kind::Disconnect {
        // Read a few lines, each the handler's ID, then leave.
        for _ in 0..rng.between(1, 3) {
            match body.frame().await {
                Some(Ok(frame)) => {
                    let Some(data) = frame.data_ref() else {
                        continue;
                    };
                    for line in String::from_utf8_lossy(data).lines() {
                        *body_ids += 1;
                        if line != echoed {
                            return Outcome::Mismatch(format!(
                                "{kind:?}: streamed {line}, echoed {echoed}"
                            ));
                        }
                    }
                }
                Some(Err(error)) => return Outcome::Error(format!("{kind:?}: {error}")),
                None => return Outcome::Completed(status),
            }
        }
        drop(body);
        return Outcome::Disconnected;
    }
    let text = match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(error) => return Outcome::Error(format!("{kind:?}: body: {error}")),
    };
    let seen: Vec<&str> = match kind {
        Kind::Echo | Kind::Forget | Kind::Slow | Kind::Deadline => vec![text.as_str()],
        Kind::Upload => match text.split_once(' ') {
            Some((id, "8192")) => vec![id],
            _ => return Outcome::Error(format!("{kind:?}: body {text:?}")),
        },
        // `chunk <n> <id>`, four of them.
        Kind::Stream => text
            .lines()
            .map(|line| line.rsplit(' ').next().unwrap_or_default())
            .collect(),
        // `data: <id>`, three events.
        Kind::Events => text
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .collect(),
        Kind::Hello | Kind::Checkout | Kind::Fail | Kind::Panic | Kind::LatePanic => Vec::new(),
        Kind::Disconnect => unreachable!("handled above"),
    };
    let lines_expected = match kind {
        Kind::Stream => 4,
        Kind::Events => 3,
        _ => seen.len(),
    };
    if seen.len() != lines_expected {
        return Outcome::Error(format!("{kind:?}: body {text:?}"));
    }
    for id in seen {
        *body_ids += 1;
        if id != echoed {
            return Outcome::Mismatch(format!("{kind:?}: handler saw {id}, echoed {echoed}"));
        }
    }
    Outcome::Completed(status)
}

/// The client's timeout for a request: short and random for `/soak/slow`
/// (so that it often fires mid-handler), generous for the rest (it firing
/// there is an error: a stalled request).
fn timeout_for(kind: Kind, rng: &mut Rng) -> (Duration, bool) {
    match kind {
        Kind::Slow => (Duration::from_millis(rng.between(2, 40)), true),
        _ => (Duration::from_secs(30), false),
    }
}

struct Options {
    seconds: u64,
    max_requests: u64,
    connections: usize,
    warm_up: Option<u64>,
    seed: u64,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seconds: 60,
        max_requests: 2_000_000,
        connections: 128,
        warm_up: None,
        seed: 17,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        let bad = |_| format!("{arg}: `{value}` is not a number");
        match arg.as_str() {
            "--seconds" => options.seconds = value.parse().map_err(bad)?,
            "--max-requests" => options.max_requests = value.parse().map_err(bad)?,
            "--connections" => options.connections = value.parse().map_err(bad)?,
            "--warm-up" => options.warm_up = Some(value.parse().map_err(bad)?),
            "--seed" => options.seed = value.parse().map_err(bad)?,
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if options.seconds == 0 || options.connections == 0 {
        return Err("--seconds and --connections must be at least 1".to_owned());
    }
    Ok(options)
}

/// `connections` clients until `seconds` pass or `max_requests` are sent.
async fn load(addr: SocketAddr, options: &Options) -> (Tally, Duration) {
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(options.connections)
        .build_http();
    let left = Arc::new(AtomicU64::new(options.max_requests));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(options.seconds);
    let tasks: Vec<_> = (0..options.connections)
        .map(|worker| {
            let (client, left) = (client.clone(), Arc::clone(&left));
            let mut rng = Rng(options.seed ^ (worker as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
            tokio::spawn(async move {
                let mut tally = Tally::default();
                let mut n = 0_u64;
                while Instant::now() < deadline
                    && left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_ok()
                {
                    n += 1;
                    let kind = rng.kind();
                    let sent = match rng.between(0, 19) {
                        0..=8 => Sent::Valid(format!("soak-{worker}-{n}")),
                        9 => Sent::Invalid(format!("bad id {n}")),
                        _ => Sent::None,
                    };
                    let (within, may_time_out) = timeout_for(kind, &mut rng);
                    let mut body_ids = 0;
                    let outcome = tokio::time::timeout(
                        within,
                        one(&client, addr, kind, &sent, &mut rng, &mut body_ids),
                    )
                    .await
                    .unwrap_or(if may_time_out {
                        Outcome::TimedOut
                    } else {
                        Outcome::Error(format!("{kind:?}: no answer within {within:?}"))
                    });
                    tally.body_ids_checked += body_ids;
                    let counts = &mut tally.by_kind[index_of(kind)];
                    counts.sent += 1;
                    match outcome {
                        Outcome::Completed(status) => {
                            counts.completed += 1;
                            if status == StatusCode::INTERNAL_SERVER_ERROR
                                || status == StatusCode::GATEWAY_TIMEOUT
                            {
                                counts.special_status += 1;
                            }
                        }
                        Outcome::Disconnected => counts.disconnected += 1,
                        Outcome::TimedOut => counts.timed_out += 1,
                        Outcome::Error(problem) => {
                            counts.errors += 1;
                            tally.note(problem);
                        }
                        Outcome::Mismatch(problem) => {
                            counts.mismatches += 1;
                            tally.note(problem);
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        match task.await {
            Ok(worker) => tally.merge(worker),
            Err(error) => tally.note(format!("a client task failed: {error}")),
        }
    }
    (tally, start.elapsed())
}

// ---------------------------------------------------------------------------
// Memory samples and the verdict.

/// One line of the server's `sample` output.
#[derive(Clone, Copy)]
struct Sample {
    at: Duration,
    rss_kib: u64,
    heap_bytes: i64,
}

fn parse_sample(line: &str) -> Option<Sample> {
    let mut fields = line.strip_prefix("sample ")?.split(' ');
    let ms: u64 = fields.next()?.parse().ok()?;
    Some(Sample {
        at: Duration::from_millis(ms),
        rss_kib: fields.next()?.parse().ok()?,
        heap_bytes: fields.next()?.parse().ok()?,
    })
}

/// Collects the server's samples as it prints them.
fn collect_samples(server: &mut ServerChild) -> Result<Arc<Mutex<Vec<Sample>>>, String> {
    let stdout = server.take_stdout().ok_or("the server's stdout is gone")?;
    let samples = Arc::new(Mutex::new(Vec::new()));
    let into = Arc::clone(&samples);
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { return };
            if let Some(sample) = parse_sample(&line) {
                into.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(sample);
            }
        }
    });
    Ok(samples)
}

/// How much the last third's median may exceed the first third's (after
/// warm-up) before the memory counts as growing, and how much its peak may;
/// see docs/testing.md ("Soak").
const MEDIAN_TOLERANCE: f64 = 0.10;
const PEAK_TOLERANCE: f64 = 0.15;

/// Samples after warm-up below which memory is not judged at all.
const MIN_STEADY_SAMPLES: usize = 12;

/// The flatness check over the samples taken under load after warm-up: the
/// last third against the first. A leak moves the median; the peak bound
/// keeps a rare high-water mark (the most requests in flight at once) from
/// deciding, but not a runaway.
struct Flatness {
    first_median: f64,
    last_median: f64,
    first_peak: f64,
    last_peak: f64,
    steady_samples: usize,
}

impl Flatness {
    fn of(values: &[f64]) -> Option<Self> {
        let third = values.len() / 3;
        if values.len() < MIN_STEADY_SAMPLES {
            return None;
        }
        let peak = |part: &[f64]| part.iter().copied().fold(f64::MIN, f64::max);
        let median = |part: &[f64]| {
            let mut sorted = part.to_vec();
            sorted.sort_by(f64::total_cmp);
            sorted[sorted.len() / 2]
        };
        let (first, last) = (&values[..third], &values[values.len() - third..]);
        Some(Self {
            first_median: median(first),
            last_median: median(last),
            first_peak: peak(first),
            last_peak: peak(last),
            steady_samples: values.len(),
        })
    }

    fn median_growth(&self) -> f64 {
        self.last_median / self.first_median - 1.0
    }

    fn peak_growth(&self) -> f64 {
        self.last_peak / self.first_peak - 1.0
    }

    fn flat(&self) -> bool {
        self.median_growth() <= MEDIAN_TOLERANCE && self.peak_growth() <= PEAK_TOLERANCE
    }
}

/// The server's `/soak/stats`, as `name value` lines.
async fn server_stats(addr: SocketAddr) -> Result<Vec<(String, i64)>, String> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::get(format!("http://{addr}/soak/stats"))
        .body(Body::empty())
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body)
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect())
}

const MIB: f64 = 1024.0 * 1024.0;

async fn run(options: Options) -> Result<Vec<String>, String> {
    let mut server = ServerChild::spawn(&["--serve"])?;
    let addr = server.addr();
    let samples = collect_samples(&mut server)?;
    let (tally, elapsed) = load(addr, &options).await;
    // Let cancelled handlers finish being dropped before asking.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = tokio::time::timeout(Duration::from_secs(30), server_stats(addr))
        .await
        .map_err(|_| "the server's stats did not come".to_owned())??;
    server.stop()?;
    let stat = |name: &str| {
        stats
            .iter()
            .find(|(n, _)| n == name)
            .map_or(-1, |(_, value)| *value)
    };
    let samples = samples
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();

    let mut failures = Vec::new();
    let mut check = |ok: bool, what: String| {
        println!("{} {what}", if ok { "ok  " } else { "FAIL" });
        if !ok {
            failures.push(what);
        }
    };

    let total = tally.total();
    println!(
        "soak: {:.1} s, {} connections, seed {}, {} requests (cap {}), {:.0} requests/s\n",
        elapsed.as_secs_f64(),
        options.connections,
        options.seed,
        total.sent,
        options.max_requests,
        total.sent as f64 / elapsed.as_secs_f64(),
    );
    println!(
        "| kind | sent | completed | of which 500/504 | disconnected | timed out | errors | mismatches |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for ((kind, _), counts) in KINDS.iter().zip(&tally.by_kind) {
        println!(
            "| {kind:?} | {} | {} | {} | {} | {} | {} | {} |",
            counts.sent,
            counts.completed,
            counts.special_status,
            counts.disconnected,
            counts.timed_out,
            counts.errors,
            counts.mismatches
        );
    }
    println!(
        "| total | {} | {} | {} | {} | {} | {} | {} |\n",
        total.sent,
        total.completed,
        total.special_status,
        total.disconnected,
        total.timed_out,
        total.errors,
        total.mismatches
    );
    for problem in &tally.problems {
        println!("problem: {problem}");
    }
    println!("server: {}", {
        let parts: Vec<String> = stats.iter().map(|(n, v)| format!("{n}={v}")).collect();
        parts.join(" ")
    });

    // Memory under load, after warm-up.
    let warm_up = Duration::from_secs(options.warm_up.unwrap_or((options.seconds / 4).max(1)));
    let under_load: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.at <= elapsed)
        .collect();
    println!("\n| t (s) | VmRSS (MiB) | live heap (MiB) |\n|---|---|---|");
    for sample in &under_load {
        println!(
            "| {:.0}{} | {:.1} | {:.1} |",
            sample.at.as_secs_f64(),
            if sample.at < warm_up {
                " (warm-up)"
            } else {
                ""
            },
            sample.rss_kib as f64 / 1024.0,
            sample.heap_bytes as f64 / MIB,
        );
    }
    let steady: Vec<Sample> = under_load
        .iter()
        .copied()
        .filter(|s| s.at >= warm_up)
        .collect();
    let rss: Vec<f64> = steady.iter().map(|s| s.rss_kib as f64 * 1024.0).collect();
    let heap: Vec<f64> = steady.iter().map(|s| s.heap_bytes as f64).collect();
    println!();
    let requests_in_steady =
        total.sent as f64 * (steady.len() as f64 / under_load.len().max(1) as f64);
    for (name, values) in [("VmRSS", &rss), ("live heap", &heap)] {
        let Some(flat) = Flatness::of(values) else {
            // A short run is all warm-up: the allocator's arenas are still
            // filling, so a rise says nothing about a leak.
            println!(
                "--   {name} not judged: {} samples after {} s of warm-up, {MIN_STEADY_SAMPLES} needed (run 20 s or more)",
                values.len(),
                warm_up.as_secs()
            );
            continue;
        };
        // The thirds' medians are two thirds of the steady requests apart.
        let leak_that_fails =
            flat.first_median * MEDIAN_TOLERANCE / (requests_in_steady * 2.0 / 3.0).max(1.0);
        check(
            flat.flat(),
            format!(
                "{name} flat after {} s of warm-up ({} samples): last third's median {:.2} MiB vs first third's {:.2} MiB ({:+.1} %, bound +{:.0} %), peak {:.2} vs {:.2} MiB ({:+.1} %, bound +{:.0} %); a steady leak of {:.1} bytes per request would exceed the median bound",
                warm_up.as_secs(),
                flat.steady_samples,
                flat.last_median / MIB,
                flat.first_median / MIB,
                flat.median_growth() * 100.0,
                MEDIAN_TOLERANCE * 100.0,
                flat.last_peak / MIB,
                flat.first_peak / MIB,
                flat.peak_growth() * 100.0,
                PEAK_TOLERANCE * 100.0,
                leak_that_fails,
            ),
        );
    }

    check(
        total.mismatches == 0,
        format!(
            "echoed IDs: {} mismatches ({} completed responses checked against what was sent, {} IDs from bodies against the echoed header)",
            total.mismatches, total.completed, tally.body_ids_checked
        ),
    );
    check(
        total.errors == 0,
        format!(
            "errors (transport errors, unexpected statuses, stalls): {}",
            total.errors
        ),
    );
    let counts = |kind: Kind| tally.by_kind[index_of(kind)];
    // Every other kind must have answered; a disconnect never does.
    for (kind, _) in KINDS.iter().filter(|(kind, _)| *kind != Kind::Disconnect) {
        let counts = counts(*kind);
        check(
            counts.completed > 0,
            format!("{kind:?}: {} completed", counts.completed),
        );
    }
    check(
        counts(Kind::Disconnect).disconnected > 0,
        format!(
            "disconnects mid-response-body: {}",
            counts(Kind::Disconnect).disconnected
        ),
    );
    check(
        counts(Kind::Upload).disconnected > 0,
        format!(
            "uploads cut off mid-request-body: {} (the server saw {} of them end in an error; the rest dropped with the connection)",
            counts(Kind::Upload).disconnected,
            stat("uploads_cut")
        ),
    );
    check(
        counts(Kind::Slow).timed_out > 0,
        format!(
            "client timeouts mid-handler: {}",
            counts(Kind::Slow).timed_out
        ),
    );
    let server_timeouts = counts(Kind::Deadline).special_status;
    check(
        server_timeouts > 0 && i64::try_from(server_timeouts).ok() == Some(stat("server_timeouts")),
        format!(
            "server timeouts: {} raised, {server_timeouts} answered 504 with the ID",
            stat("server_timeouts")
        ),
    );
    let panics = counts(Kind::Panic).special_status + counts(Kind::LatePanic).special_status;
    check(
        panics > 0 && i64::try_from(panics).ok() == Some(stat("panics")),
        format!(
            "panics: {} raised, {panics} answered 500 with a valid echoed ID",
            stat("panics")
        ),
    );
    check(
        stat("forget_runs") > 0 && stat("forget_growth") == 0 && stat("forget_wrong_value") == 0,
        format!(
            "sets without reset: {} loops of {SETS} sets of two slots, {} kept any bytes (most kept: {} bytes), {} showed a wrong value",
            stat("forget_runs"),
            stat("forget_growth"),
            stat("forget_growth_max"),
            stat("forget_wrong_value"),
        ),
    );
    check(
        stat("misuse_reports") == 0,
        format!("misuse reports: {}", stat("misuse_reports")),
    );
    check(
        stat("id_changed") == 0,
        format!(
            "handlers whose ID changed under them: {}",
            stat("id_changed")
        ),
    );
    Ok(failures)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("soak: no tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    if args == ["--serve"] {
        return match runtime.block_on(serve()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("soak --serve: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match options(&args).and_then(|options| runtime.block_on(run(options))) {
        Ok(failures) if failures.is_empty() => {
            println!("\nsoak: every check passed");
            ExitCode::SUCCESS
        }
        Ok(failures) => {
            eprintln!("\nsoak: {} check(s) failed", failures.len());
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("soak: {error}");
            ExitCode::FAILURE
        }
    }
}
