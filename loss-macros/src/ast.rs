//! The annotated function, read into a description of the loss: its inputs, its parameters
//! with defaults and domain checks, its docs and its body. Nothing here looks inside the body.

use proc_macro2::Ident;
use syn::{Attribute, Expr, FnArg, ItemFn, Lit, Pat, ReturnType, Type, UnOp, Visibility};

use crate::ctxt::Ctxt;

/// Whether `y_true`/`y_pred` are single elements or rows of the last axis.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    Element,
    Row,
    /// `y_true: Class, y_pred: Row`: one class index per row.
    Sparse,
}

impl Shape {
    pub fn is_row(self) -> bool {
        self != Shape::Element
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum ParamType {
    Float,
    Bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Default {
    Float(f64),
    Bool(bool),
}

pub struct Param {
    pub ident: Ident,
    pub ty: ParamType,
    pub default: Default,
    /// `#[check(delta > 0.0)]`: a boolean Rust expression over the parameters.
    pub check: Option<Expr>,
    pub docs: Vec<Attribute>,
}

pub struct LossFn {
    pub vis: Visibility,
    pub ident: Ident,
    pub docs: Vec<Attribute>,
    pub shape: Shape,
    pub params: Vec<Param>,
    pub body: syn::Block,
}

/// Names the generated struct uses for its own methods: a parameter of that name would
/// shadow them.
const RESERVED: &[&str] = &[
    "reduction",
    "with_reduction",
    "new",
    "validate",
    "kernel",
    "name",
    "spec",
    "per_sample",
    "per_element",
    "forward",
    "forward_weighted",
    "gradient",
    "gradient_into",
    "value_and_grad",
    "value_and_grad_into",
    "value_and_grad_weighted",
    "grad_hess",
    "loss_at",
    "grad_at",
    "hess_at",
    "default",
    "self",
];

impl LossFn {
    /// Reads the signature. Errors go to `cx`; what could be read is returned so that the
    /// fallback can still emit the struct and function the rest of the crate refers to.
    pub fn from_item(cx: &Ctxt, item: &ItemFn) -> LossFn {
        let sig = &item.sig;
        if let Some(t) = &sig.constness {
            cx.error_at(t, "a loss cannot be a `const fn`");
        }
        if let Some(t) = &sig.asyncness {
            cx.error_at(t, "a loss cannot be `async`");
        }
        if let Some(t) = &sig.unsafety {
            cx.error_at(t, "a loss cannot be `unsafe`");
        }
        if let Some(abi) = &sig.abi {
            cx.error_at(abi, "a loss cannot declare an ABI");
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            cx.error_at(
                &sig.generics,
                "a loss is written for `f64` and takes no generics: the macro makes it generic over the float type",
            );
        }
        if let Some(v) = &sig.variadic {
            cx.error_at(v, "a loss cannot be variadic");
        }
        match &sig.output {
            ReturnType::Type(_, ty) if is_named(ty, "f64") => {}
            ReturnType::Type(_, ty) => cx.error_at(
                ty,
                "a loss returns `f64`: the loss of one element (or one row)",
            ),
            ReturnType::Default => cx.error_span(
                sig.paren_token.span.close(),
                "a loss returns `f64`: add `-> f64`",
            ),
        }

        let mut docs = Vec::new();
        for attr in &item.attrs {
            if attr.path().is_ident("doc") {
                docs.push(attr.clone());
            } else {
                cx.error_at(
                    attr,
                    "only doc comments may stand on a `#[loss]` function (the macro replaces it)",
                );
            }
        }

        let mut true_type: Option<(&str, Box<Type>)> = None;
        let mut pred_type: Option<(&str, Box<Type>)> = None;
        let mut seen_true = false;
        let mut seen_pred = false;
        let mut params: Vec<Param> = Vec::new();
        for (position, arg) in sig.inputs.iter().enumerate() {
            let typed = match arg {
                FnArg::Receiver(r) => {
                    cx.error_at(r, "a loss is a free function: remove `self`");
                    continue;
                }
                FnArg::Typed(t) => t,
            };
            let Pat::Ident(pat) = &*typed.pat else {
                cx.error_at(&typed.pat, "expected a plain argument name");
                continue;
            };
            if let Some(m) = &pat.mutability {
                cx.error_at(m, "loss arguments are immutable: remove `mut`");
            }
            if pat.by_ref.is_some() || pat.subpat.is_some() {
                cx.error_at(pat, "expected a plain argument name");
            }
            let name = pat.ident.to_string();
            match name.as_str() {
                "y_true" | "y_pred" => {
                    let expected = if name == "y_true" { 0 } else { 1 };
                    if position != expected {
                        cx.error_at(
                            &pat.ident,
                            "the first two arguments are `y_true` and then `y_pred`",
                        );
                    }
                    let allowed: &[&str] = if name == "y_true" {
                        &["f64", "Row", "Class"]
                    } else {
                        &["f64", "Row"]
                    };
                    match allowed.iter().find(|t| is_named(&typed.ty, t)) {
                        Some(t) if name == "y_true" => true_type = Some((*t, typed.ty.clone())),
                        Some(t) => pred_type = Some((*t, typed.ty.clone())),
                        None => cx.error_at(
                            &typed.ty,
                            if name == "y_true" {
                                "`y_true` must be `f64` (one element), `Row` (one row of the last axis) or `Class` (a class index per row, with `y_pred: Row`)"
                            } else {
                                "`y_pred` must be `f64` (one element) or `Row` (one row of the last axis)"
                            },
                        ),
                    }
                    if name == "y_true" {
                        seen_true = true;
                    } else {
                        seen_pred = true;
                    }
                    for attr in &typed.attrs {
                        cx.error_at(attr, format!("`{name}` takes no attributes"));
                    }
                }
                _ => {
                    if position < 2 {
                        cx.error_at(
                            &pat.ident,
                            "the first two arguments are `y_true` and then `y_pred`",
                        );
                    }
                    if let Some(p) = Param::from_arg(cx, &pat.ident, &typed.ty, &typed.attrs) {
                        if params.iter().any(|q| q.ident == p.ident) {
                            cx.error_at(
                                &p.ident,
                                format!("parameter `{}` is declared twice", p.ident),
                            );
                        } else {
                            params.push(p);
                        }
                    }
                }
            }
        }
        let shape = match (&true_type, &pred_type) {
            (Some(("f64", _)), Some(("f64", _))) => Shape::Element,
            (Some(("Row", _)), Some(("Row", _))) => Shape::Row,
            (Some(("Class", _)), Some(("Row", _))) => Shape::Sparse,
            (Some(("Class", _)), Some((_, ty))) => {
                cx.error_at(ty, "with `y_true: Class` (one class index per row), `y_pred` is the row of scores: write `y_pred: Row`");
                Shape::Sparse
            }
            (Some((_, _)), Some((_, ty))) => {
                cx.error_at(ty, "`y_true` and `y_pred` must both be `f64` (an element-wise loss) or both be `Row` (a row loss)");
                Shape::Element
            }
            _ => Shape::Element,
        };
        if !seen_true {
            cx.error_span(
                sig.ident.span(),
                "a loss takes `y_true: f64` as its first argument",
            );
        }
        if !seen_pred {
            cx.error_span(
                sig.ident.span(),
                "a loss takes `y_pred: f64` as its second argument: the gradient is taken with respect to it",
            );
        }

        LossFn {
            vis: item.vis.clone(),
            ident: sig.ident.clone(),
            docs,
            shape,
            params,
            body: (*item.block).clone(),
        }
    }
}

impl Param {
    fn from_arg(cx: &Ctxt, ident: &Ident, ty: &Type, attrs: &[Attribute]) -> Option<Param> {
        let name = ident.to_string();
        if RESERVED.contains(&name.as_str()) {
            cx.error_at(
                ident,
                format!("`{name}` is reserved: the generated loss has a method of that name; rename the parameter"),
            );
            // Dropped: a field or setter of that name would clash inside the generated code.
            return None;
        }
        let ty_kind = if is_named(ty, "f64") {
            ParamType::Float
        } else if is_named(ty, "bool") {
            ParamType::Bool
        } else {
            cx.error_at(
                ty,
                format!("a loss parameter is `f64` or `bool`: write `{name}: f64` (the macro makes it generic over the float type)"),
            );
            return None;
        };
        let mut default = None;
        let mut has_default_attr = false;
        let mut check = None;
        let mut docs = Vec::new();
        for attr in attrs {
            if attr.path().is_ident("default") {
                has_default_attr = true;
                match attr.parse_args::<Expr>() {
                    Ok(expr) => default = literal_default(cx, &expr, ty_kind),
                    Err(e) => cx.syn_error(e),
                }
            } else if attr.path().is_ident("check") {
                if ty_kind == ParamType::Bool {
                    cx.error_at(attr, "a `bool` parameter needs no `#[check(..)]`");
                }
                match attr.parse_args::<Expr>() {
                    Ok(expr) => check = Some(expr),
                    Err(e) => cx.syn_error(e),
                }
            } else if attr.path().is_ident("doc") {
                docs.push(attr.clone());
            } else {
                cx.error_at(
                    attr.path(),
                    "unknown parameter attribute: expected `#[default(..)]`, `#[check(..)]` or a doc comment",
                );
            }
        }
        let placeholder = match ty_kind {
            ParamType::Float => Default::Float(0.0),
            ParamType::Bool => Default::Bool(false),
        };
        let default = match default {
            Some(d) => d,
            // An invalid `#[default(..)]` has been reported already.
            None if has_default_attr => placeholder,
            None => {
                let example = match ty_kind {
                    ParamType::Float => "#[default(1.0)]",
                    ParamType::Bool => "#[default(false)]",
                };
                cx.error_at(
                    ident,
                    format!(
                        "parameter `{name}` needs a default value: write `{example} {name}: ..`"
                    ),
                );
                // Kept with a placeholder (the crate does not compile anyway), so that the
                // struct still has the field and uses of its setter do not fail as well.
                placeholder
            }
        };
        Some(Param {
            ident: ident.clone(),
            ty: ty_kind,
            default,
            check,
            docs,
        })
    }
}

/// A default is a literal, so that docs, `Default` and the registry all show the same value.
fn literal_default(cx: &Ctxt, expr: &Expr, ty: ParamType) -> Option<Default> {
    let (negative, inner) = match expr {
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => (true, &*u.expr),
        _ => (false, expr),
    };
    let lit = match inner {
        Expr::Lit(l) => &l.lit,
        _ => {
            cx.error_at(expr, "a default must be a literal, e.g. `#[default(1.0)]`");
            return None;
        }
    };
    match (ty, lit) {
        (ParamType::Float, Lit::Float(f)) => match f.base10_parse::<f64>() {
            Ok(v) if v.is_finite() => Some(Default::Float(if negative { -v } else { v })),
            _ => {
                cx.error_at(f, "expected a finite number");
                None
            }
        },
        (ParamType::Float, Lit::Int(i)) => match i.base10_parse::<f64>() {
            Ok(v) => Some(Default::Float(if negative { -v } else { v })),
            Err(e) => {
                cx.syn_error(e);
                None
            }
        },
        (ParamType::Bool, Lit::Bool(b)) if !negative => Some(Default::Bool(b.value)),
        (ParamType::Float, _) => {
            cx.error_at(expr, "an `f64` parameter needs a number as its default");
            None
        }
        (ParamType::Bool, _) => {
            cx.error_at(
                expr,
                "a `bool` parameter needs `true` or `false` as its default",
            );
            None
        }
    }
}

fn is_named(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(p) => p.qself.is_none() && p.path.is_ident(name),
        Type::Group(g) => is_named(&g.elem, name),
        Type::Paren(p) => is_named(&p.elem, name),
        _ => false,
    }
}

/// `focal_loss` -> `FocalLoss`.
pub fn upper_camel(name: &str) -> String {
    name.split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect::<String>(),
                None => String::new(),
            }
        })
        .collect()
}
