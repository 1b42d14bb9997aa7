// `crate = path` names the runtime when it is re-exported under another path.
#![allow(unused_crate_dependencies)]

mod reexport {
    pub use ::correlated as correlation;
}

mod correlated {}

#[::correlated::correlated(crate = crate::reexport::correlation)]
fn sync_call() -> bool {
    reexport::correlation::current().is_some()
}

#[::correlated::correlated(crate = reexport::correlation, fresh)]
async fn async_call() -> bool {
    reexport::correlation::current().is_some()
}

fn main() {
    assert!(sync_call());
    assert!(futures::executor::block_on(async_call()));
}
