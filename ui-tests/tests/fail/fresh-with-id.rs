use correlated::correlated;

#[correlated(fresh, id = "req-1")]
fn fresh_first() {}

#[correlated(id = "req-1", fresh)]
fn id_first() {}

fn main() {
    fresh_first();
    id_first();
}
