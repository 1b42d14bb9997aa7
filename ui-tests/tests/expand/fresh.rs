use correlated::correlated;

#[correlated(fresh)]
async fn nightly_job() {
    cleanup().await;
}

async fn cleanup() {}

fn main() {}
