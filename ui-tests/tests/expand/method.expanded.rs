use correlated::correlated;
struct Service {
    calls: u32,
}
impl Service {
    async fn call(&mut self, request_id: &str) -> u32 {
        let __correlate_context = ::correlated::__private::explicit(request_id);
        ::correlated::__private::wrap(
                __correlate_context,
                async move {
                    if let ::core::option::Option::Some(__correlate_return) = ::core::option::Option::None::<
                        u32,
                    > {
                        return __correlate_return;
                    }
                    {
                        self.calls += 1;
                        self.calls
                    }
                },
            )
            .await
    }
}
fn main() {}
