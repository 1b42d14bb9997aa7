use correlated::correlated;

// `id = ..` takes anything `IntoCorrelationId`; the error is on the expression.
#[correlated(id = 42)]
fn numeric_id() {}

fn main() {
    numeric_id();
}
