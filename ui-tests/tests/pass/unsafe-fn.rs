// `unsafe fn` and `async unsafe fn` keep their `unsafe`.
use correlated::correlated;

/// # Safety
///
/// `ptr` must be valid for reads.
#[correlated]
unsafe fn read(ptr: *const u32) -> u32 {
    // SAFETY: the caller promises `ptr` is valid.
    unsafe { *ptr }
}

/// # Safety
///
/// `ptr` must be valid for reads.
#[correlated]
async unsafe fn read_later(ptr: *const u32) -> u32 {
    // SAFETY: the caller promises `ptr` is valid.
    unsafe { *ptr }
}

fn main() {
    let value = 7;
    // SAFETY: `&value` is valid for the whole call.
    assert_eq!(unsafe { read(&value) }, 7);
    // SAFETY: `&value` outlives the future.
    assert_eq!(
        futures::executor::block_on(unsafe { read_later(&value) }),
        7
    );
}
