use correlated::correlated;
async fn nightly_job() {
    let __correlate_context = ::correlated::__private::fresh();
    ::correlated::__private::wrap(
            __correlate_context,
            async move {
                cleanup().await;
            },
        )
        .await
}
async fn cleanup() {}
fn main() {}
