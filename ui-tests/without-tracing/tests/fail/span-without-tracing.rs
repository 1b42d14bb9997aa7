use correlated::correlated;

// `span` needs `correlated`'s `tracing` feature, which this crate lacks; the
// function is still emitted, so `main` finds it.
#[correlated(span, fresh)]
fn job() {}

fn main() {
    job();
}
