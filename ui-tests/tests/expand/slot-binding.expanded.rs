use correlate::correlated;
static USER_ID: ::correlate::Slot<String> = ::correlate::Slot::__new("USER_ID");
fn audit(user: &str, action: &str) {
    let __correlate_context = ::correlate::__private::inherit();
    let __correlate_context = ::correlate::__private::bind(
        __correlate_context,
        &USER_ID,
        user,
    );
    let __correlate_guard = ::correlate::__private::enter(__correlate_context);
    {
        {
            ::std::io::_print(format_args!("{0}\n", action));
        };
    }
}
fn main() {}
