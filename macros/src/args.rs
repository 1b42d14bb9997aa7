//! Stage 1: the attribute's arguments, parsed into [`Args`].
//!
//! Every argument error is collected and reported at once, each on the token
//! that caused it, so a user fixes them all in one round.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::{ParseStream, Parser};
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr, Path, Token};

/// What the user asked for, e.g. `#[correlated(id = req.id(), USER_ID = user)]`.
pub(crate) struct Args {
    pub(crate) id: IdSource,
    /// `USER_ID = EXPR`, in the order written: later bindings win.
    pub(crate) slots: Vec<SlotBinding>,
    /// `crate = path`; `::correlated` when absent.
    pub(crate) krate: Option<Path>,
    /// `span` or `span = "name"`: the body runs in a `tracing` span.
    pub(crate) span: Option<SpanRequest>,
}

/// `span` (named after the function) or `span = "name"`.
pub(crate) struct SpanRequest {
    /// The `span` keyword, for errors about the span as a whole.
    pub(crate) keyword: Ident,
    pub(crate) name: Option<LitStr>,
}

/// Where the handler's correlation ID comes from.
pub(crate) enum IdSource {
    /// No argument: the caller's ID, else a generated one.
    Inherit,
    /// `fresh`: always a generated one.
    Fresh,
    /// `id = EXPR`: anything `IntoCorrelationId`, generated when invalid.
    Explicit(Expr),
}

/// `USER_ID = EXPR` or `path::to::SLOT = EXPR`.
pub(crate) struct SlotBinding {
    pub(crate) slot: Path,
    pub(crate) value: Expr,
}

const EXPECTED: &str =
    "expected `id = ...`, `fresh`, `span`, `crate = ...` or a slot binding `NAME = ...`";

impl Args {
    pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Self> {
        Parser::parse2(parse_args, tokens)
    }
}

/// One argument as written, before the combination rules are applied.
enum Arg {
    Fresh(Ident),
    Id(Ident, Expr),
    Crate(Ident, Path),
    Span(Ident, Option<LitStr>),
    Slot(Path, Expr),
}

impl Arg {
    /// The name that a second argument of the same kind would repeat.
    fn key(&self) -> String {
        match self {
            Arg::Fresh(_) => "fresh".to_owned(),
            Arg::Id(..) => "id".to_owned(),
            Arg::Crate(..) => "crate".to_owned(),
            Arg::Span(..) => "span".to_owned(),
            Arg::Slot(path, _) => path_text(path),
        }
    }

    /// The argument's name as written, for errors to point at.
    fn name(&self) -> TokenStream {
        match self {
            Arg::Fresh(ident) | Arg::Id(ident, _) | Arg::Crate(ident, _) | Arg::Span(ident, _) => {
                ident.to_token_stream()
            }
            Arg::Slot(path, _) => path.to_token_stream(),
        }
    }
}

// Input:  `id = header, fresh, USER_ID = user.name.clone(), ids`
// Output: `Args`, or one error per bad argument, combined.
fn parse_args(input: ParseStream) -> syn::Result<Args> {
    let mut args = Args {
        id: IdSource::Inherit,
        slots: Vec::new(),
        krate: None,
        span: None,
    };
    let mut errors = Errors::default();
    let mut seen = Vec::new();
    while !input.is_empty() {
        match parse_arg(input) {
            Ok(arg) => {
                if let Err(error) = apply(&mut args, &mut seen, arg) {
                    errors.push(error);
                }
            }
            Err(error) => {
                errors.push(error);
                skip_past_comma(input);
                continue;
            }
        }
        if input.is_empty() {
            break;
        }
        if let Err(error) = input.parse::<Token![,]>() {
            errors.push(error);
            skip_past_comma(input);
        }
    }
    errors.finish()?;
    Ok(args)
}

// Input:  one argument, e.g. `id = req.id()`, `fresh`, `crate = ::my::correlated`,
//         `USER_ID = user`, `crate::slots::TENANT = 7`.
// Output: the argument, or an error on its offending token.
fn parse_arg(input: ParseStream) -> syn::Result<Arg> {
    // `crate = path` must be told apart from a slot path `crate::X = ..`.
    if input.peek(Token![crate]) && !input.peek2(Token![::]) {
        let keyword = Ident::new("crate", input.parse::<Token![crate]>()?.span);
        expect_value(input, "crate", keyword.span())?;
        let path = input.call(Path::parse_mod_style).map_err(|error| {
            syn::Error::new(
                error.span(),
                "expected a path, as in `crate = ::my_framework::correlated`",
            )
        })?;
        return Ok(Arg::Crate(keyword, path));
    }
    let head = input
        .call(Path::parse_mod_style)
        .map_err(|error| syn::Error::new(error.span(), EXPECTED))?;
    let Some(name) = head.get_ident().cloned() else {
        // A path with `::` always names a slot.
        let name = path_text(&head);
        expect_value(input, &name, head.span())?;
        return Ok(Arg::Slot(head, input.parse()?));
    };
    match name.to_string().as_str() {
        "fresh" => {
            if input.peek(Token![=]) {
                let eq = input.parse::<Token![=]>()?;
                return Err(syn::Error::new(eq.span, "`fresh` takes no value"));
            }
            Ok(Arg::Fresh(name))
        }
        "id" => {
            expect_value(input, "id", name.span())?;
            Ok(Arg::Id(name, input.parse()?))
        }
        "span" => {
            if !input.peek(Token![=]) {
                return Ok(Arg::Span(name, None));
            }
            expect_value(input, "span", name.span())?;
            let span_name = input.parse::<LitStr>().map_err(|error| {
                syn::Error::new(
                    error.span(),
                    "expected the span's name as a string, as in `span = \"checkout\"`",
                )
            })?;
            Ok(Arg::Span(name, Some(span_name)))
        }
        text if is_slot_name(text) => {
            expect_value(input, text, name.span())?;
            Ok(Arg::Slot(head, input.parse()?))
        }
        text if input.peek(Token![=]) && !is_typo_of_keyword(text) => Err(syn::Error::new(
            name.span(),
            format!(
                "unknown argument `{text}`; a slot binding names an upper-case slot \
                 (`{upper} = ...`) or a path (`self::{text} = ...`)",
                upper = text.to_uppercase(),
            ),
        )),
        text => Err(syn::Error::new(
            name.span(),
            format!("unknown argument `{text}`; {EXPECTED}"),
        )),
    }
}

/// Consumes the `=` of `name = value` and checks that a value follows it.
fn expect_value(input: ParseStream, name: &str, name_span: Span) -> syn::Result<()> {
    let missing = |span| {
        syn::Error::new(
            span,
            format!("missing value for `{name}`; expected `{name} = ...`"),
        )
    };
    if !input.peek(Token![=]) {
        // Point at what was written instead: the name itself when nothing is.
        let span = if input.is_empty() || input.peek(Token![,]) {
            name_span
        } else {
            input.span()
        };
        return Err(missing(span));
    }
    let eq = input.parse::<Token![=]>()?;
    if input.is_empty() || input.peek(Token![,]) {
        return Err(missing(eq.span));
    }
    Ok(())
}

// Input:  one parsed argument and the keys of those before it.
// Output: the argument recorded in `args`, or why it cannot be combined.
fn apply(args: &mut Args, seen: &mut Vec<String>, arg: Arg) -> syn::Result<()> {
    check_duplicate(seen, &arg)?;
    match arg {
        Arg::Fresh(keyword) => {
            if matches!(args.id, IdSource::Explicit(_)) {
                return Err(fresh_with_id(keyword.span()));
            }
            args.id = IdSource::Fresh;
        }
        Arg::Id(keyword, expr) => {
            if matches!(args.id, IdSource::Fresh) {
                return Err(fresh_with_id(keyword.span()));
            }
            args.id = IdSource::Explicit(expr);
        }
        Arg::Crate(_, path) => args.krate = Some(path),
        Arg::Span(keyword, name) => {
            // The macro cannot see the runtime's features; the runtime's
            // `tracing` feature turns this crate's on (macros/Cargo.toml).
            if !cfg!(feature = "tracing") {
                return Err(syn::Error::new(
                    keyword.span(),
                    "`span` needs the `tracing` feature of `correlated`; turn it on in \
                     Cargo.toml: `correlated = { version = \"...\", features = [\"tracing\"] }`",
                ));
            }
            args.span = Some(SpanRequest { keyword, name });
        }
        Arg::Slot(slot, value) => args.slots.push(SlotBinding { slot, value }),
    }
    Ok(())
}

/// The one place that decides whether an argument repeats an earlier one.
fn check_duplicate(seen: &mut Vec<String>, arg: &Arg) -> syn::Result<()> {
    let key = arg.key();
    if seen.contains(&key) {
        return Err(syn::Error::new_spanned(
            arg.name(),
            format!("duplicate argument `{key}`"),
        ));
    }
    seen.push(key);
    Ok(())
}

fn fresh_with_id(span: Span) -> syn::Error {
    syn::Error::new(span, "`fresh` and `id = ...` cannot be used together")
}

/// Slots are statics, so by convention `SCREAMING_CASE`: at least one
/// upper-case letter and no lower-case one. Others are named by a path.
fn is_slot_name(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_uppercase()) && !name.chars().any(char::is_lowercase)
}

/// `ids`, `Fresh`, `crates`: one or two edits away from an argument name.
/// These get the list of arguments rather than advice on naming slots.
fn is_typo_of_keyword(name: &str) -> bool {
    let name = name.to_lowercase();
    ["id", "fresh", "crate", "span"]
        .iter()
        .any(|keyword| edit_distance(&name, keyword) <= 2)
}

/// Levenshtein distance, for the short names above.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// `a :: B` as the user wrote it, without the spaces tokens print with.
fn path_text(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// After a bad argument, resumes at the next one.
fn skip_past_comma(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tree, next)) = rest.token_tree() {
            rest = next;
            if matches!(&tree, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
        }
        Ok(((), rest))
    });
}

/// Errors collected so far, reported together (serde_derive's `Ctxt`).
#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.combined.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors(tokens: TokenStream) -> Vec<String> {
        match Args::parse(tokens) {
            Ok(_) => Vec::new(),
            Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn every_form_parses() {
        let args =
            Args::parse(quote!(id = req.id(), USER_ID = 1, a::B = 2, crate = ::x::y)).unwrap();
        assert!(matches!(args.id, IdSource::Explicit(_)));
        assert_eq!(args.slots.len(), 2);
        assert_eq!(path_text(&args.slots[1].slot), "a::B");
        assert_eq!(path_text(args.krate.as_ref().unwrap()), "::x::y");
        assert!(matches!(
            Args::parse(quote!(fresh,)).unwrap().id,
            IdSource::Fresh
        ));
        assert!(matches!(
            Args::parse(quote!()).unwrap().id,
            IdSource::Inherit
        ));
    }

    #[cfg(feature = "tracing")]
    #[test]
    fn span_takes_an_optional_name() {
        let args = Args::parse(quote!(span, fresh)).unwrap();
        assert!(args.span.unwrap().name.is_none());
        let args = Args::parse(quote!(span = "checkout")).unwrap();
        assert_eq!(args.span.unwrap().name.unwrap().value(), "checkout");
        assert!(Args::parse(quote!(fresh)).unwrap().span.is_none());
    }

    #[cfg(feature = "tracing")]
    #[test]
    fn span_names_are_strings() {
        assert_eq!(
            errors(quote!(span = 3, span = checkout, span =)),
            [
                "expected the span's name as a string, as in `span = \"checkout\"`",
                "expected the span's name as a string, as in `span = \"checkout\"`",
                "missing value for `span`; expected `span = ...`",
            ]
        );
        assert_eq!(
            errors(quote!(span, span = "x")),
            ["duplicate argument `span`"]
        );
    }

    #[cfg(not(feature = "tracing"))]
    #[test]
    fn span_without_the_tracing_feature_says_which_feature() {
        let found = errors(quote!(span));
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("`span` needs the `tracing` feature of `correlated`"),
            "{found:?}"
        );
    }

    #[test]
    fn a_crate_path_is_a_slot_not_the_crate_argument() {
        let args = Args::parse(quote!(crate::slots::TENANT = 7)).unwrap();
        assert!(args.krate.is_none());
        assert_eq!(path_text(&args.slots[0].slot), "crate::slots::TENANT");
    }

    #[test]
    fn all_errors_are_reported_at_once() {
        let found = errors(quote!(
            ids,
            id = 1,
            id = 2,
            fresh,
            user = 3,
            USER_ID,
            crate,
            idd = 4
        ));
        assert_eq!(
            found,
            [
                format!("unknown argument `ids`; {EXPECTED}"),
                "duplicate argument `id`".to_owned(),
                "`fresh` and `id = ...` cannot be used together".to_owned(),
                "unknown argument `user`; a slot binding names an upper-case slot \
                 (`USER = ...`) or a path (`self::user = ...`)"
                    .to_owned(),
                "missing value for `USER_ID`; expected `USER_ID = ...`".to_owned(),
                "missing value for `crate`; expected `crate = ...`".to_owned(),
                format!("unknown argument `idd`; {EXPECTED}"),
            ]
        );
    }

    #[test]
    fn duplicate_slots_are_found_by_path() {
        assert_eq!(
            errors(quote!(a::B = 1, a::B = 2)),
            ["duplicate argument `a::B`"]
        );
    }

    #[test]
    fn values_are_checked() {
        assert_eq!(errors(quote!(fresh = true)), ["`fresh` takes no value"]);
        assert_eq!(
            errors(quote!(id = , fresh)),
            ["missing value for `id`; expected `id = ...`"]
        );
        assert_eq!(
            errors(quote!(id 1)),
            ["missing value for `id`; expected `id = ...`"]
        );
        assert_eq!(errors(quote!("id")), [EXPECTED]);
        assert_eq!(
            errors(quote!(crate = "::x")),
            ["expected a path, as in `crate = ::my_framework::correlated`"]
        );
    }

    #[test]
    fn typos_of_argument_names_are_recognised() {
        assert_eq!(edit_distance("ids", "id"), 1);
        assert_eq!(edit_distance("frsh", "fresh"), 1);
        assert_eq!(edit_distance("", "id"), 2);
        assert!(is_typo_of_keyword("Fresh"));
        assert!(is_typo_of_keyword("crates"));
        assert!(!is_typo_of_keyword("user_id"));
        assert!(!is_typo_of_keyword("tenant"));
    }

    #[test]
    fn a_short_name_three_edits_from_every_argument_is_taken_for_a_slot() {
        assert_eq!(edit_distance("job", "id"), 3);
        assert_eq!(edit_distance("job", ""), 3);
        assert_eq!(
            errors(quote!(job = 1)),
            [
                "unknown argument `job`; a slot binding names an upper-case slot \
              (`JOB = ...`) or a path (`self::job = ...`)"
            ]
        );
    }

    #[test]
    fn slot_names_are_upper_case() {
        assert!(is_slot_name("USER_ID"));
        assert!(is_slot_name("A1"));
        assert!(!is_slot_name("UserId"));
        assert!(!is_slot_name("_"));
        assert!(!is_slot_name("user_id"));
    }
}
