use correlated::correlated;

#[correlated(ids = "req-1")]
fn typo_of_id() {}

#[correlated(freshh)]
fn typo_of_fresh() {}

#[correlated(trace)]
fn not_an_argument() {}

fn main() {
    typo_of_id();
    typo_of_fresh();
    not_an_argument();
}
