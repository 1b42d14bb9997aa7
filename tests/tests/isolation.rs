//! docs/semantics.md, promise 3: thousands of concurrent tasks interleaving
//! on the same worker threads each see only their own values; nothing leaks
//! to another task or to the thread after a poll.

use correlated::{Context, CorrelationId};

mod support;
use support::id;

correlated::slot! {
    static REQUEST: u64;
}

/// splitmix64: a cheap, deterministic generator, one per task.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % bound
    }
}

/// Everything plain code can read; all of it must be empty.
fn anything_visible() -> bool {
    correlated::current().is_some()
        || correlated::with_current(|id| id.is_some())
        || REQUEST.get().is_some()
        || Context::current().correlation_id().is_some()
        || Context::current().get(&REQUEST).is_some()
}

async fn correlated_request(n: u64) -> usize {
    let own = id(&format!("request-{n}"));
    let mut rng = Rng::new(n);
    let mut wrong = 0;
    let mut check = |id: &CorrelationId, request: u64| {
        wrong += usize::from(correlated::current().as_ref() != Some(id));
        wrong += usize::from(REQUEST.get() != Some(request));
    };
    check(&own, n);
    for step in 0..4 + rng.below(12) {
        match rng.below(4) {
            0 => tokio::task::yield_now().await,
            1 => {
                // A set held across awaits, then undone.
                let inner = id(&format!("request-{n}-step-{step}"));
                let token = correlated::set(inner.clone());
                for _ in 0..rng.below(3) {
                    tokio::task::yield_now().await;
                    check(&inner, n);
                }
                correlated::reset(token).expect("reset in its own task");
            }
            2 => {
                let _scope = REQUEST.scope(n + 1_000_000);
                tokio::task::yield_now().await;
                check(&own, n + 1_000_000);
            }
            _ => {
                for _ in 0..rng.below(4) {
                    tokio::task::yield_now().await;
                }
            }
        }
        check(&own, n);
    }
    wrong
}

async fn plain_bystander(seed: u64) -> usize {
    let mut rng = Rng::new(seed);
    let mut leaks = usize::from(anything_visible());
    for _ in 0..4 + rng.below(12) {
        tokio::task::yield_now().await;
        leaks += usize::from(anything_visible());
    }
    leaks
}

#[test]
fn thousands_of_interleaved_tasks_each_see_only_their_own_values() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (wrong, leaks) = runtime.block_on(async {
        let mut correlated = Vec::new();
        let mut plain = Vec::new();
        for n in 0..2_000 {
            let context = Context::new()
                .with_correlation_id(id(&format!("request-{n}")))
                .with_value(&REQUEST, n);
            correlated.push(tokio::spawn(context.wrap(correlated_request(n))));
            if n % 4 == 0 {
                plain.push(tokio::spawn(plain_bystander(n)));
            }
        }
        let mut wrong = 0;
        for task in correlated {
            wrong += task.await.unwrap();
        }
        let mut leaks = 0;
        for task in plain {
            leaks += task.await.unwrap();
        }
        // After all of that, fresh plain tasks on the workers see nothing.
        for n in 0..64 {
            leaks += tokio::spawn(plain_bystander(n)).await.unwrap();
        }
        (wrong, leaks)
    });
    assert_eq!(wrong, 0, "correlated tasks saw values that were not theirs");
    assert_eq!(leaks, 0, "plain tasks saw a correlated task's values");
    assert!(!anything_visible());
}

#[tokio::test]
async fn nothing_stays_on_the_thread_between_polls_of_a_correlated_task() {
    // On a current-thread runtime the correlated task, the plain task and
    // this test body take turns on one thread.
    let correlated = tokio::spawn(Context::new().with_correlation_id(id("owner")).wrap(async {
        let mut wrong = 0;
        for n in 0..20 {
            let token = correlated::set(id(&format!("inner-{n}")));
            let scope = REQUEST.scope(n);
            tokio::task::yield_now().await;
            wrong += usize::from(
                correlated::current().map(|id| id.to_string()) != Some(format!("inner-{n}")),
            );
            wrong += usize::from(REQUEST.get() != Some(n));
            drop(scope);
            correlated::reset(token).unwrap();
        }
        wrong
    }));
    let bystander = tokio::spawn(async {
        let mut leaks = 0;
        for _ in 0..20 {
            leaks += usize::from(anything_visible());
            tokio::task::yield_now().await;
        }
        leaks
    });
    let mut body_saw = 0;
    for _ in 0..20 {
        body_saw += usize::from(anything_visible());
        tokio::task::yield_now().await;
    }
    assert_eq!(correlated.await.unwrap(), 0);
    assert_eq!(bystander.await.unwrap(), 0, "the plain task saw values");
    assert_eq!(body_saw, 0, "the test body saw values");
}
