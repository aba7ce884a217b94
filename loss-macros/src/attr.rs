//! The arguments of `#[loss(...)]`.

use syn::meta::ParseNestedMeta;
use syn::{LitStr, Token};

use crate::ctxt::did_you_mean;

/// What the user may say in `#[loss(...)]`.
#[derive(Default)]
pub struct LossAttr {
    /// Registry name; defaults to the function's name.
    pub name: Option<LitStr>,
    /// The struct's name; defaults to the UpperCamelCase function name.
    pub class: Option<LitStr>,
    /// Other names (each may be a spec with preset parameters).
    pub aliases: Vec<LitStr>,
    /// The Keras name this loss matches, for the docs.
    pub keras: Option<LitStr>,
    /// The PyTorch name this loss matches, for the docs.
    pub pytorch: Option<LitStr>,
    /// Sparse losses: the `f64` parameter holding a label whose rows are ignored (loss and
    /// gradient 0, left out of the mean), like Keras's `ignore_class`.
    pub ignore: Option<LitStr>,
}

const KEYS: &[&str] = &[
    "name", "class", "alias", "aliases", "keras", "pytorch", "ignore",
];

impl LossAttr {
    pub fn parse(args: proc_macro2::TokenStream) -> syn::Result<Self> {
        let mut attr = LossAttr::default();
        let parser = syn::meta::parser(|meta| attr.parse_one(meta));
        syn::parse::Parser::parse2(parser, args)?;
        Ok(attr)
    }

    fn parse_one(&mut self, meta: ParseNestedMeta) -> syn::Result<()> {
        let key = meta
            .path
            .get_ident()
            .map(|i| i.to_string())
            .unwrap_or_default();
        match key.as_str() {
            "name" => set_once(&mut self.name, &meta, "name"),
            "class" => set_once(&mut self.class, &meta, "class"),
            "keras" => set_once(&mut self.keras, &meta, "keras"),
            "pytorch" => set_once(&mut self.pytorch, &meta, "pytorch"),
            "ignore" => set_once(&mut self.ignore, &meta, "ignore"),
            "alias" => {
                self.aliases.push(meta.value()?.parse()?);
                Ok(())
            }
            "aliases" => {
                // aliases("a", "b") or aliases = ["a", "b"]
                if meta.input.peek(Token![=]) {
                    let content;
                    meta.input.parse::<Token![=]>()?;
                    syn::bracketed!(content in meta.input);
                    let list = content.parse_terminated(|p| p.parse::<LitStr>(), Token![,])?;
                    self.aliases.extend(list);
                } else {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    let list = content.parse_terminated(|p| p.parse::<LitStr>(), Token![,])?;
                    self.aliases.extend(list);
                }
                Ok(())
            }
            _ => {
                let hint = did_you_mean(&key, KEYS.iter().copied())
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                Err(meta.error(format!(
                    "unknown `#[loss]` argument `{}`{hint} (expected one of: {})",
                    if key.is_empty() { "?".into() } else { key },
                    KEYS.join(", ")
                )))
            }
        }
    }
}

fn set_once(slot: &mut Option<LitStr>, meta: &ParseNestedMeta, key: &str) -> syn::Result<()> {
    let value: LitStr = meta.value()?.parse()?;
    if slot.is_some() {
        return Err(meta.error(format!("`{key}` is given twice")));
    }
    if value.value().trim().is_empty() {
        return Err(syn::Error::new(
            value.span(),
            format!("`{key}` must not be empty"),
        ));
    }
    *slot = Some(value);
    Ok(())
}
