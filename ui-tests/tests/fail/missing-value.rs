use correlated::correlated;

correlated::slot! {
    static USER_ID: String;
}

#[correlated(id)]
fn no_equals() {}

#[correlated(id =)]
fn no_expression() {}

#[correlated(USER_ID, fresh)]
fn slot_without_value() {}

#[correlated(crate)]
fn crate_without_path() {}

#[correlated(fresh = true)]
fn fresh_with_value() {}

fn main() {
    no_equals();
    no_expression();
    slot_without_value();
    crate_without_path();
    fresh_with_value();
}
