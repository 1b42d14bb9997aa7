use correlated::correlated;

correlated::slot! {
    static USER_ID: String;
}

#[correlated(span, USER_ID = user)]
async fn load_order(user: String, id: u32) -> u32 {
    id
}

#[correlated(span = "nightly-report", fresh)]
fn report() {}

fn main() {}
