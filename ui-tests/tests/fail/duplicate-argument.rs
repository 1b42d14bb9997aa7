use correlated::correlated;

correlated::slot! {
    static USER_ID: String;
}

#[correlated(id = "a", id = "b")]
fn twice_id() {}

#[correlated(fresh, fresh)]
fn twice_fresh() {}

#[correlated(USER_ID = "a", crate::USER_ID = "b", USER_ID = "c")]
fn twice_slot() {}

#[correlated(crate = ::correlated, crate = ::correlated)]
fn twice_crate() {}

fn main() {
    twice_id();
    twice_fresh();
    twice_slot();
    twice_crate();
}
