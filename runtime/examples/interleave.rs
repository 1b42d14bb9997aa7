//! Correlated tasks interleaving on a multi-thread runtime.
//!
//! Eight "requests" run at once on two worker threads. Each awaits several
//! times, hops between threads, spawns a background job and calls a helper
//! that knows nothing about IDs, and every log line shows the request's own
//! ID. A plain `tokio::spawn` task runs alongside and never sees one.
//!
//! Run with: `cargo run -p correlated --example interleave --features tokio`

use std::time::Duration;

use correlated::{Correlate, CorrelationId};

fn log(what: &str) {
    let id = correlated::current();
    let id = id.as_ref().map_or("-", CorrelationId::as_str);
    // Thread ids show requests hopping between the two workers.
    let thread = format!("{:?}", std::thread::current().id());
    println!("[{id}] {thread:<12} {what}");
}

/// Knows nothing about correlation IDs, yet its log line carries one.
async fn load_from_database(request: usize) -> usize {
    tokio::time::sleep(Duration::from_millis(3 * (request as u64 % 4))).await;
    log("  database answered");
    request * 10
}

async fn handle(request: usize) -> (CorrelationId, bool) {
    let id = correlated::current().expect("a correlated request has an ID");
    log(&format!("request {request}: start"));
    let mut consistent = true;
    for step in 0..3 {
        tokio::task::yield_now().await;
        consistent &= correlated::current().as_ref() == Some(&id);
        log(&format!("request {request}: after await {step}"));
    }
    let rows = load_from_database(request).await;
    let job = correlated::spawn(async move {
        log(&format!(
            "  background job for request {request} ({rows} rows)"
        ));
        correlated::current()
    });
    consistent &= job.await.ok().flatten().as_ref() == Some(&id);
    log(&format!("request {request}: done"));
    (id, consistent)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");

    runtime.block_on(async {
        let bystander = tokio::spawn(async {
            let mut saw_an_id = false;
            for _ in 0..20 {
                tokio::task::yield_now().await;
                saw_an_id |= correlated::current().is_some();
            }
            saw_an_id
        });

        let requests: Vec<_> = (0..8)
            .map(|request| tokio::spawn(handle(request).correlated(CorrelationId::generate())))
            .collect();

        let mut all_consistent = true;
        let mut ids = Vec::new();
        for request in requests {
            let (id, consistent) = request.await.expect("request task");
            all_consistent &= consistent;
            ids.push(id);
        }
        let saw_an_id = bystander.await.expect("bystander task");
        ids.sort();
        ids.dedup();

        println!();
        println!("distinct request IDs:                 {}", ids.len());
        println!("every request saw only its own ID:    {all_consistent}");
        println!("plain tokio::spawn task saw an ID:    {saw_an_id}");
        println!(
            "ID outside any request afterwards:    {:?}",
            correlated::current()
        );
        assert!(all_consistent && !saw_an_id && ids.len() == 8);
    });
}
