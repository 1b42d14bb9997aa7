// Visibility is kept: the functions are callable from outside their module.
mod service {
    use correlated::correlated;

    #[correlated]
    pub(crate) fn internal() -> u32 {
        1
    }

    #[correlated]
    pub async fn public() -> u32 {
        2
    }

    pub(crate) struct Api;

    impl Api {
        #[correlated]
        pub(super) fn method(&self) -> u32 {
            3
        }
    }
}

fn main() {
    assert_eq!(service::internal(), 1);
    assert_eq!(futures::executor::block_on(service::public()), 2);
    assert_eq!(service::Api.method(), 3);
}
