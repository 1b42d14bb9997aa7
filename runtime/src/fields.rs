//! The fields that the logging integrations (`tracing`, `log`) add to every
//! event: the correlation ID plus the user slots registered on the formatter
//! or logger. Shared by both so that names are checked the same way.

use std::fmt::{self, Write as _};

use crate::slot::Slot;

/// The field that carries the correlation ID.
pub(crate) const CORRELATION_ID: &str = "correlation_id";

/// What a field shows when its slot is unset.
pub(crate) const UNSET: &str = "-";

/// A slot whose value can be rendered as text, with its type erased so that
/// one formatter can hold slots of different types.
trait RenderSlot: Sync {
    /// Appends the slot's current value to `out`; `false` when it is unset.
    fn render(&'static self, out: &mut String) -> bool;

    fn declared_name(&self) -> &'static str;
}

impl<T> RenderSlot for Slot<T>
where
    T: fmt::Display + Clone + Send + Sync + 'static,
{
    fn render(&'static self, out: &mut String) -> bool {
        self.with(|value| match value {
            // Writing to a `String` cannot fail; a `Display` impl that
            // reports an error just leaves what it wrote so far.
            Some(value) => {
                let _ = write!(out, "{value}");
                true
            }
            None => false,
        })
    }

    fn declared_name(&self) -> &'static str {
        self.name()
    }
}

/// One registered user slot and the field name it is written under.
#[derive(Clone)]
pub(crate) struct SlotField {
    name: Box<str>,
    slot: &'static dyn RenderSlot,
}

impl SlotField {
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Appends the slot's current value to `out`; `false` when it is unset.
    pub(crate) fn render(&self, out: &mut String) -> bool {
        self.slot.render(out)
    }
}

/// The user slots registered on one formatter or logger, in registration
/// order.
#[derive(Clone, Default)]
pub(crate) struct SlotFields(Vec<SlotField>);

impl SlotFields {
    /// Registers `slot` under its declared name in lower case
    /// (`USER_ID` → `user_id`).
    #[track_caller]
    pub(crate) fn push<T>(&mut self, slot: &'static Slot<T>)
    where
        T: fmt::Display + Clone + Send + Sync + 'static,
    {
        self.push_named(slot, slot.name().to_ascii_lowercase());
    }

    /// Registers `slot` under `name`.
    ///
    /// Panics on a name that could not be written as a plain `key=value` key,
    /// or that is already taken: both are set-up mistakes that would
    /// otherwise produce ambiguous or duplicated fields on every event.
    #[track_caller]
    pub(crate) fn push_named<T>(&mut self, slot: &'static Slot<T>, name: String)
    where
        T: fmt::Display + Clone + Send + Sync + 'static,
    {
        let declared = slot.name();
        assert!(
            is_valid_name(&name),
            "correlated: cannot log slot `{declared}` as `{name}`: a field name is 1 to 64 \
             ASCII letters, digits, `_`, `.` or `-`",
        );
        assert!(
            name != CORRELATION_ID,
            "correlated: cannot log slot `{declared}` as `{CORRELATION_ID}`: that field \
             always holds the correlation ID; pick another name",
        );
        if let Some(taken) = self.0.iter().find(|field| *field.name == *name) {
            panic!(
                "correlated: cannot log slot `{declared}` as `{name}`: slot `{}` is already \
                 logged under that name; pick another name with `with_slot_named`",
                taken.slot.declared_name(),
            );
        }
        self.0.push(SlotField {
            name: name.into_boxed_str(),
            slot,
        });
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, SlotField> {
        self.0.iter()
    }
}

impl fmt::Debug for SlotFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|field| &field.name))
            .finish()
    }
}

fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::slot! {
        static USER_ID: String;
        static TENANT: u32;
    }

    #[test]
    fn default_name_is_the_declared_name_in_lower_case() {
        let mut fields = SlotFields::default();
        fields.push(&USER_ID);
        assert_eq!(
            fields.iter().map(SlotField::name).collect::<Vec<_>>(),
            ["user_id"]
        );
    }

    #[test]
    fn render_writes_the_value_or_reports_unset() {
        let mut fields = SlotFields::default();
        fields.push_named(&TENANT, "tenant".into());
        let field = fields.iter().next().unwrap();
        let mut out = String::new();
        assert!(!field.render(&mut out));
        assert_eq!(out, "");
        let _guard = TENANT.scope(42);
        assert!(field.render(&mut out));
        assert_eq!(out, "42");
    }

    #[test]
    #[should_panic(expected = "already logged under that name")]
    fn a_name_cannot_be_registered_twice() {
        let mut fields = SlotFields::default();
        fields.push_named(&USER_ID, "who".into());
        fields.push_named(&TENANT, "who".into());
    }

    #[test]
    #[should_panic(expected = "always holds the correlation ID")]
    fn correlation_id_is_reserved() {
        SlotFields::default().push_named(&USER_ID, CORRELATION_ID.into());
    }

    #[test]
    fn names_must_be_plain_keys() {
        for bad in ["", "user id", "user=id", "\"q\"", "é", &"x".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad:?} was accepted");
        }
        for good in ["user_id", "user.id", "tenant-id", "X9"] {
            assert!(is_valid_name(good), "{good:?} was rejected");
        }
    }
}
