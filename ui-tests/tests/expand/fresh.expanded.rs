use correlate::correlated;
async fn nightly_job() {
    let __correlate_context = ::correlate::__private::fresh();
    ::correlate::__private::wrap(
            __correlate_context,
            async move {
                cleanup().await;
            },
        )
        .await
}
async fn cleanup() {}
fn main() {}
