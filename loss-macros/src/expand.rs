//! Assembles the items one `#[loss]` generates: the kernel, the struct form with its
//! `Loss` impl, the function form and the registry entry.

use std::collections::HashMap;

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ItemFn;

use crate::ast::{self, LossFn, ParamType};
use crate::attr::LossAttr;
use crate::ctxt::Ctxt;
use crate::emit::{Bindings, Emitter};
use crate::emit_row::{Labels, group_body, row_body};
use crate::fallback;
use crate::lower::{self, Lowered};
use crate::symbolic::{Graph, NodeId};

pub fn loss(args: TokenStream, item: TokenStream) -> TokenStream {
    let item: ItemFn = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(e) => {
            // Not a function at all: report, and give the tokens back untouched.
            let error = syn::Error::new(
                e.span(),
                "`#[loss]` goes on a function: `fn name(y_true: f64, y_pred: f64) -> f64 { .. }`",
            )
            .to_compile_error();
            return quote!(#error #item);
        }
    };
    let cx = Ctxt::new();
    let attr = LossAttr::parse(args).unwrap_or_else(|e| {
        cx.syn_error(e);
        LossAttr::default()
    });
    let loss = LossFn::from_item(&cx, &item);
    if let Some(ignore) = &attr.ignore {
        let named = loss
            .params
            .iter()
            .any(|p| p.ty == ParamType::Float && p.ident == ignore.value());
        if loss.shape != ast::Shape::Sparse {
            cx.error_at(ignore, "`ignore` names the label whose rows are skipped: it needs a sparse loss, `y_true: Class, y_pred: Row`");
        } else if !named {
            cx.error_at(ignore, format!("`ignore` must name an `f64` parameter of this loss, e.g. `#[default(-100.0)] {}: f64`", ignore.value()));
        }
    }
    let lowered = if cx.has_errors() {
        None
    } else {
        lower::lower(&cx, &loss)
    };
    match (cx.check(), lowered) {
        (Ok(()), Some(lowered)) => Expansion::new(&attr, &loss)
            .with_pinned(&lowered)
            .generate(lowered),
        (result, _) => {
            let errors = result.err().map(|e| e.to_compile_error());
            let stub = fallback::stub(&Expansion::new(&attr, &loss));
            quote!(#errors #stub)
        }
    }
}

/// Names and pieces shared by the full expansion and the fallback.
pub struct Expansion<'a> {
    pub loss: &'a LossFn,
    pub attr: &'a LossAttr,
    pub name: String,
    pub class: Ident,
    pub kernel: Ident,
    /// Float parameters with a kernel of their own at their default value.
    pub pinned: Vec<Pinned>,
}

/// A float parameter in the exponent of a `powf` whose default is a small integer: the kernel
/// has a const flag `<NAME>_IS_<default>` and, when the parameter has its default, runs the
/// formula with the constant folded in (`powi` instead of `powf`).
pub struct Pinned {
    /// Index among the float parameters (`Node::Param`).
    pub index: u16,
    pub ident: Ident,
    pub value: f64,
    /// The const generic of the kernel.
    pub flag: Ident,
}

impl<'a> Expansion<'a> {
    fn new(attr: &'a LossAttr, loss: &'a LossFn) -> Self {
        let name = attr
            .name
            .as_ref()
            .map(|n| n.value())
            .unwrap_or_else(|| loss.ident.to_string());
        let class_name = attr
            .class
            .as_ref()
            .map(|c| c.value())
            .unwrap_or_else(|| ast::upper_camel(&loss.ident.to_string()));
        let class = Ident::new(&class_name, loss.ident.span());
        let kernel = format_ident!("__{}Kernel", class_name);
        Expansion {
            loss,
            attr,
            name,
            class,
            kernel,
            pinned: Vec::new(),
        }
    }

    /// Chooses the float parameters to pin (see [`Pinned`]): those in a `powf` exponent whose
    /// default is an integer from 0 to 4, while the flags fit in [`MAX_CONST_FLAGS`]; then
    /// those whose default is 0 (the weight of an optional term, such as `label_smoothing`),
    /// while every flag is still specialized ([`MAX_SPECIALIZED`]).
    fn with_pinned(mut self, lowered: &Lowered) -> Self {
        let (float_params, bool_params) = self.param_idents();
        let graph = &lowered.graph;
        let exponents = graph.exponent_params(&[lowered.value]);
        let zero_weights = (0..float_params.len() as u16).filter(|&i| {
            !exponents.contains(&i)
                && graph.reads_param(&[lowered.value], i)
                && self.attr.ignore.as_ref().map(|s| s.value())
                    != Some(float_params[i as usize].to_string())
        });
        // (parameter, whether it is a `powf` exponent)
        let candidates: Vec<(u16, bool)> = exponents
            .iter()
            .map(|&i| (i, true))
            .chain(zero_weights.map(|i| (i, false)))
            .collect();
        for (index, exponent) in candidates {
            let ident = &float_params[index as usize];
            let default = self.loss.params.iter().find(|p| p.ident == *ident);
            let Some(ast::Default::Float(value)) = default.map(|p| p.default) else {
                continue;
            };
            let (fits, limit) = if exponent {
                let small_integer = (0.0..=4.0).contains(&value) && value.fract() == 0.0;
                (small_integer, MAX_CONST_FLAGS)
            } else {
                (value == 0.0, MAX_SPECIALIZED)
            };
            if !fits || bool_params.len() + self.pinned.len() >= limit {
                continue;
            }
            let flag = format_ident!("{}_IS_{}", ident.to_string().to_uppercase(), value as u32);
            self.pinned.push(Pinned {
                index,
                ident: ident.clone(),
                value,
                flag,
            });
        }
        self
    }

    fn generate(&self, mut lowered: Lowered) -> TokenStream {
        let value = lowered.value;
        let row = self.loss.shape.is_row();
        // Element-wise: the derivative of the element formula. Row: the total derivative at
        // each element, through every reduction over the row.
        let (grad, hess) = if row {
            let grad = lowered.graph.total_derivative(value);
            (grad, lowered.graph.total_derivative(grad))
        } else {
            let grad = lowered.graph.derivative(value);
            (grad, lowered.graph.derivative(grad))
        };
        let mut names = derivative_names(&lowered);
        let (float_params, _) = self.param_idents();
        let params = Flags {
            float_params,
            bool_reads: self.flag_reads(),
            pinned: &self.pinned,
        };
        let formula = crate::docs::formula(&lowered, &names, value, grad, &self.param_names());

        let kernel_impl = if row {
            let labels = if self.loss.shape == ast::Shape::Sparse {
                Labels::Sparse
            } else {
                Labels::Dense
            };
            let mut body =
                |roots: &[NodeId],
                 split: usize,
                 buffers: &[&str],
                 write: &dyn Fn(&[TokenStream]) -> TokenStream| {
                    let emit = |graph: &Graph, bindings: &Bindings, roots: &[NodeId]| {
                        let (row_roots, element_roots) = roots.split_at(split);
                        row_body(
                            graph,
                            bindings,
                            labels,
                            row_roots,
                            element_roots,
                            buffers,
                            write,
                        )
                    };
                    specialized_body(&mut lowered, &mut names, roots, &params, &emit)
                };
            let value_body = body(&[value], 1, &[], &|_| quote!());
            let value_grad_body = body(&[value, grad], 1, &["grad"], &|e| {
                let g = &e[0];
                quote!(grad[at] = scale * (#g);)
            });
            let grad_hess_body = body(&[grad, hess], 0, &["grad", "hess"], &|e| {
                let (g, h) = (&e[0], &e[1]);
                quote!(grad[at] = #g; hess[at] = #h;)
            });
            // The transposed form of `value_grad` (none if any specialization has none).
            let grouped = std::cell::Cell::new(true);
            let emit_group = |graph: &Graph, bindings: &Bindings, roots: &[NodeId]| {
                let write = |e: &[TokenStream]| {
                    let g = &e[0];
                    quote!(grad[at] = scale * (#g);)
                };
                let group = group_body(
                    graph,
                    bindings,
                    labels,
                    roots[0],
                    &roots[1..],
                    &["grad"],
                    &write,
                );
                group.unwrap_or_else(|| {
                    grouped.set(false);
                    TokenStream::new()
                })
            };
            let group_body = specialized_body(
                &mut lowered,
                &mut names,
                &[value, grad],
                &params,
                &emit_group,
            );
            let group_body = grouped.get().then_some(group_body);
            self.row_kernel_impl(value_body, value_grad_body, grad_hess_body, group_body)
        } else {
            let emit = |graph: &Graph, bindings: &Bindings, roots: &[NodeId]| {
                let (stmts, exprs) = Emitter::new(graph, bindings).program(roots);
                quote!(#stmts (#(#exprs),*))
            };
            // The deepest level and the most slots of staged calls over every specialization.
            let levels = std::cell::Cell::new((0u8, 0usize));
            let emit_staged = |graph: &Graph, bindings: &Bindings, roots: &[NodeId]| {
                let mut emitter = Emitter::new(graph, bindings).staged();
                let (stmts, exprs) = emitter.program(roots);
                let ((l, s), (l2, s2)) = (levels.get(), emitter.stage_levels());
                levels.set((l.max(l2), s.max(s2)));
                quote!(#stmts (#(#exprs),*))
            };
            let value_body =
                specialized_body(&mut lowered, &mut names, &[value], &params, &emit_staged);
            let value_grad_body = specialized_body(
                &mut lowered,
                &mut names,
                &[value, grad],
                &params,
                &emit_staged,
            );
            let grad_hess_body =
                specialized_body(&mut lowered, &mut names, &[grad, hess], &params, &emit);
            self.kernel_impl(value_body, (value_grad_body, levels.get()), grad_hess_body)
        };
        let common = self.common_items(&formula);
        quote! {
            #kernel_impl
            #common
        }
    }

    fn row_kernel_impl(
        &self,
        value: TokenStream,
        value_grad: TokenStream,
        grad_hess: TokenStream,
        group: Option<TokenStream>,
    ) -> TokenStream {
        let kernel = &self.kernel;
        // The row methods are inlined where optimized (the loops calling them are compiled
        // for several instruction sets, and only inlined code takes them on) and called in
        // debug builds, which keep every local of inlined code on the caller's stack: the
        // grouped lanes' copies of the body took the frames of the engine's row loops to
        // about a megabyte.
        let row_inline = quote! {
            #[cfg_attr(not(debug_assertions), inline(always))]
            #[cfg_attr(debug_assertions, inline)]
        };
        let group = group.map(|body| {
            quote! {
                const GROUPED: bool = true;

                #row_inline
                fn group_value_grad(
                    &self,
                    y_true_rows: &[F],
                    y_pred_rows: &[F],
                    scale: F,
                    grad_rows: &mut [F],
                    values: &mut [F; ::losses::__private::GROUP_ROWS],
                ) {
                    #body
                }
            }
        });
        let (impl_generics, type_args) = self.kernel_generics();
        let sparse = self.loss.shape == ast::Shape::Sparse;
        // A dense `y_true` row has the length of `y_pred`'s (the engine checks the shapes).
        let align_true =
            (!sparse).then(|| quote!(let y_true_row = &y_true_row[..y_pred_row.len()];));
        let ignored = self.attr.ignore.as_ref().map(|param| {
            let ident = Ident::new(&param.value(), param.span());
            quote! {
                #[inline(always)]
                fn row_ignored(&self, y_true_row: &[F]) -> bool {
                    y_true_row[0] == self.#ident
                }
            }
        });
        quote! {
            #[allow(unused_variables, unused_mut, unused_parens, clippy::all, clippy::pedantic)]
            impl #impl_generics ::losses::__private::LossKernel<F> for #kernel #type_args {
                const ELEMENTWISE: bool = false;
                const SPARSE: bool = #sparse;

                #ignored

                #group

                #row_inline
                fn row_value(&self, y_true_row: &[F], y_pred_row: &[F]) -> F {
                    #align_true
                    #value
                }

                #row_inline
                fn row_value_grad(&self, y_true_row: &[F], y_pred_row: &[F], scale: F, grad: &mut [F]) -> F {
                    // Equal lengths, visible to the compiler: no bounds checks in the loops,
                    // which then vectorize.
                    let grad = &mut grad[..y_pred_row.len()];
                    #align_true
                    #value_grad
                }

                #row_inline
                fn row_grad_hess(&self, y_true_row: &[F], y_pred_row: &[F], grad: &mut [F], hess: &mut [F]) {
                    let grad = &mut grad[..y_pred_row.len()];
                    let hess = &mut hess[..y_pred_row.len()];
                    #align_true
                    #grad_hess
                }

                fn per_element(&self, y_true_row: &[F], y_pred_row: &[F], out: &mut [F]) {
                    // A row loss has no per-element terms; the engine never asks.
                }
            }
        }
    }

    pub fn param_idents(&self) -> (Vec<Ident>, Vec<Ident>) {
        let pick = |ty| {
            self.loss
                .params
                .iter()
                .filter(|p| p.ty == ty)
                .map(|p| p.ident.clone())
                .collect::<Vec<_>>()
        };
        (pick(ParamType::Float), pick(ParamType::Bool))
    }

    /// Whether the bool parameters are const generics of the kernel (one kernel per setting,
    /// chosen once per call) rather than fields tested per element. Up to this many flags
    /// (16 kernels); beyond, the code size would outgrow the gain.
    pub fn flags_are_const(&self) -> bool {
        let flags = self.param_idents().1.len() + self.pinned.len();
        (1..=MAX_CONST_FLAGS).contains(&flags)
    }

    /// The const generic of each bool parameter (`FROM_LOGITS` for `from_logits`), then of
    /// each pinned float parameter (`GAMMA_IS_2`).
    pub fn flag_consts(&self) -> Vec<Ident> {
        self.param_idents()
            .1
            .iter()
            .map(|i| {
                let upper = i.to_string().to_uppercase();
                let name = if upper == "F" {
                    "F_FLAG".to_string()
                } else {
                    upper
                };
                Ident::new(&name, i.span())
            })
            .chain(self.pinned.iter().map(|p| p.flag.clone()))
            .collect()
    }

    /// How the kernel reads each bool parameter.
    fn flag_reads(&self) -> Vec<TokenStream> {
        if self.flags_are_const() {
            let bools = self.param_idents().1.len();
            self.flag_consts()[..bools]
                .iter()
                .map(|c| quote!(#c))
                .collect()
        } else {
            self.param_idents()
                .1
                .iter()
                .map(|i| quote!(self.#i))
                .collect()
        }
    }

    /// `(impl generics, type arguments)` of the kernel: `<F, const FROM_LOGITS: bool>` and
    /// `<F, FROM_LOGITS>`.
    pub fn kernel_generics(&self) -> (TokenStream, TokenStream) {
        let p = quote!(::losses::__private);
        if self.flags_are_const() {
            let consts = self.flag_consts();
            (
                quote!(<F: #p::Float, #(const #consts: bool),*>),
                quote!(<F, #(#consts),*>),
            )
        } else {
            (quote!(<F: #p::Float>), quote!(<F>))
        }
    }

    /// The kernel type a loss hands the engine, and the expression that builds it from
    /// `self`: with const flags, a nest of `Either`s over every setting.
    fn kernel_nest(&self) -> (TokenStream, TokenStream) {
        let p = quote!(::losses::__private);
        let kernel = &self.kernel;
        let row = self.loss.shape.is_row();
        let (float_params, bool_params) = self.param_idents();
        let fields = quote! {
            #( #float_params: F::from_f64(self.#float_params), )*
            __float: ::core::marker::PhantomData,
        };
        if !self.flags_are_const() {
            let bool_fields = bool_params.iter().map(|i| quote!(#i: self.#i));
            let build = quote!(#kernel { #fields #( #bool_fields, )* });
            return if row {
                (quote!(#kernel<F>), build)
            } else {
                (
                    quote!(#p::Elementwise<#kernel<F>>),
                    quote!(#p::Elementwise(#build)),
                )
            };
        }
        fn nest(
            at: usize,
            fixed: &mut Vec<bool>,
            flags: &[TokenStream],
            leaf: &dyn Fn(&[bool]) -> (TokenStream, TokenStream),
        ) -> (TokenStream, TokenStream) {
            let p = quote!(::losses::__private);
            if at == flags.len() {
                return leaf(fixed);
            }
            let mut arms = Vec::new();
            for value in [true, false] {
                fixed.push(value);
                arms.push(nest(at + 1, fixed, flags, leaf));
                fixed.pop();
            }
            let ((ty_on, on), (ty_off, off)) = (arms[0].clone(), arms[1].clone());
            let flag = &flags[at];
            (
                quote!(#p::Either<#ty_on, #ty_off>),
                quote!(if #flag { #p::Either::First(#on) } else { #p::Either::Second(#off) }),
            )
        }
        let leaf = |fixed: &[bool]| {
            let ty = quote!(#kernel<F, #(#fixed),*>);
            let build = quote!(#kernel::<F, #(#fixed),*> { #fields });
            if row {
                (ty, build)
            } else {
                (
                    quote!(#p::Elementwise<#ty>),
                    quote!(#p::Elementwise(#build)),
                )
            }
        };
        // Each flag as the loss struct sets it: a bool parameter, or a float parameter at its
        // pinned value.
        let conditions: Vec<TokenStream> = bool_params
            .iter()
            .map(|i| quote!(self.#i))
            .chain(self.pinned.iter().map(|p| {
                let (ident, value) = (&p.ident, p.value);
                quote!(self.#ident == #value)
            }))
            .collect();
        nest(0, &mut Vec::new(), &conditions, &leaf)
    }

    fn param_names(&self) -> (Vec<String>, Vec<String>) {
        let (f, b) = self.param_idents();
        (
            f.iter().map(ToString::to_string).collect(),
            b.iter().map(ToString::to_string).collect(),
        )
    }

    fn kernel_impl(
        &self,
        value: TokenStream,
        (value_grad, (levels, slots)): (TokenStream, (u8, usize)),
        grad_hess: TokenStream,
    ) -> TokenStream {
        let kernel = &self.kernel;
        let (impl_generics, type_args) = self.kernel_generics();
        quote! {
            #[allow(unused_variables, clippy::all, clippy::pedantic)]
            impl #impl_generics ::losses::__private::ElementKernel<F> for #kernel #type_args {
                #[inline(always)]
                fn value(&self, y_true: F, y_pred: F) -> F {
                    self.value_staged(y_true, y_pred, &mut ::losses::__private::Direct)
                }
                #[inline(always)]
                fn value_grad(&self, y_true: F, y_pred: F) -> (F, F) {
                    self.value_grad_staged(y_true, y_pred, &mut ::losses::__private::Direct)
                }
                #[inline(always)]
                fn value_staged<S: ::losses::__private::Stage<F>>(
                    &self,
                    y_true: F,
                    y_pred: F,
                    stage: &mut S,
                ) -> F {
                    #value
                }
                const LEVELS: u8 = #levels;
                const SLOTS: usize = #slots;
                #[inline(always)]
                fn value_grad_staged<S: ::losses::__private::Stage<F>>(
                    &self,
                    y_true: F,
                    y_pred: F,
                    stage: &mut S,
                ) -> (F, F) {
                    #value_grad
                }
                #[inline(always)]
                fn grad_hess(&self, y_true: F, y_pred: F) -> (F, F) {
                    #grad_hess
                }
            }
        }
    }

    /// Everything but the kernel's arithmetic: shared with the fallback, so that a loss with
    /// an error in its body still gives the rest of the crate the items it refers to.
    pub fn common_items(&self, formula: &Formula) -> TokenStream {
        let p = quote!(::losses::__private);
        let vis = &self.loss.vis;
        let class = &self.class;
        let kernel = &self.kernel;
        let fn_ident = &self.loss.ident;
        let name = &self.name;
        let class_str = class.to_string();
        let params = &self.loss.params;
        let (float_params, bool_params) = self.param_idents();

        let field_ident: Vec<&Ident> = params.iter().map(|q| &q.ident).collect();
        let field_ty: Vec<TokenStream> = params
            .iter()
            .map(|q| match q.ty {
                ParamType::Float => quote!(f64),
                ParamType::Bool => quote!(bool),
            })
            .collect();
        let field_default: Vec<TokenStream> =
            params.iter().map(|q| default_tokens(q.default)).collect();
        let field_docs: Vec<TokenStream> = params
            .iter()
            .map(|q| {
                let docs = &q.docs;
                let extra = format!(
                    " Default: `{}`.{}",
                    default_text(q.default),
                    q.check
                        .as_ref()
                        .map(|c| format!(" Must satisfy `{}`.", expr_text(c)))
                        .unwrap_or_default()
                );
                quote!(#(#docs)* #[doc = ""] #[doc = #extra])
            })
            .collect();
        let setter_docs: Vec<String> = params
            .iter()
            .map(|q| {
                format!(
                    "Sets `{}` (checked when the loss is evaluated, or by [`Self::validate`]).",
                    q.ident
                )
            })
            .collect();

        let checks = params.iter().filter_map(|q| {
            let ident = &q.ident;
            let param = ident.to_string();
            let nan_check = (q.ty == ParamType::Float).then(|| {
                quote! {
                    if self.#ident.is_nan() {
                        return Err(#p::LossError::InvalidParameter {
                            loss: #name, param: #param, value: self.#ident, rule: "not NaN",
                        });
                    }
                }
            });
            let rule_check = q.check.as_ref().map(|check| {
                let rule = expr_text(check);
                let check_span = syn::spanned::Spanned::span(check);
                let check = quote_spanned!(check_span=> { let holds: bool = #check; holds });
                quote! {
                    if !#check {
                        return Err(#p::LossError::InvalidParameter {
                            loss: #name, param: #param, value: self.#ident, rule: #rule,
                        });
                    }
                }
            });
            (nan_check.is_some() || rule_check.is_some()).then(|| quote!(#nan_check #rule_check))
        });

        let from_values = params.iter().enumerate().map(|(index, q)| {
            let ident = &q.ident;
            match q.ty {
                ParamType::Float => quote! {
                    if let Some(#p::ParamValue::Float(v)) = values.get(#index) { loss.#ident = *v; }
                },
                ParamType::Bool => quote! {
                    if let Some(#p::ParamValue::Bool(v)) = values.get(#index) { loss.#ident = *v; }
                },
            }
        });
        let spec_values = params.iter().map(|q| {
            let ident = &q.ident;
            let key = ident.to_string();
            match q.ty {
                ParamType::Float => quote!((#key, #p::ParamValue::Float(self.#ident))),
                ParamType::Bool => quote!((#key, #p::ParamValue::Bool(self.#ident))),
            }
        });
        let param_infos = params.iter().map(|q| {
            let key = q.ident.to_string();
            let default = match q.default {
                ast::Default::Float(v) => quote!(#p::ParamValue::Float(#v)),
                ast::Default::Bool(b) => quote!(#p::ParamValue::Bool(#b)),
            };
            let doc = doc_text(&q.docs);
            let check = q.check.as_ref().map(expr_text).unwrap_or_default();
            quote!(#p::ParamInfo { name: #key, default: #default, doc: #doc, check: #check })
        });
        let aliases: Vec<String> = self.attr.aliases.iter().map(|a| a.value()).collect();
        let user_docs = &self.loss.docs;
        let user_doc_text = doc_text(&self.loss.docs);
        let struct_doc = self.struct_doc(formula);
        let formula_text = &formula.text;
        let kernel_fields_f = float_params.iter().map(|i| quote!(#i: F));
        // With const flags the kernel has no bool fields: each setting is its own type.
        let kernel_fields_b: Vec<TokenStream> = if self.flags_are_const() {
            Vec::new()
        } else {
            bool_params.iter().map(|i| quote!(#i: bool)).collect()
        };
        let kernel_params = if self.flags_are_const() {
            let consts = self.flag_consts();
            quote!(<F, #(const #consts: bool),*>)
        } else {
            quote!(<F>)
        };
        let (kernel_type, make_kernel) = self.kernel_nest();
        let fn_doc = format!(
            " Per-sample `{name}` loss with default parameters: the mean over the last axis, one \
             value per sample (Keras's function form). See [`{class_str}`] for parameters, \
             reductions and gradients."
        );
        let new_doc = " A loss with these parameters and `Reduction::Mean`; fails when a parameter breaks its rule.";

        let row = self.loss.shape.is_row();
        let kind = match self.loss.shape {
            ast::Shape::Element => quote!(Elementwise),
            ast::Shape::Row => quote!(Row),
            ast::Shape::Sparse => quote!(Sparse),
        };
        let scalar_access = if row {
            let y_true_doc = if self.loss.shape == ast::Shape::Sparse {
                "`y_true` is `[label]`"
            } else {
                "`y_true` and `y_pred` are one row each"
            };
            let loss_doc = format!(" The loss of one row ({y_true_doc}).");
            let grad_doc = format!(
                " The derivative of the loss of one row with respect to each element of `y_pred` ({y_true_doc})."
            );
            let hess_doc =
                format!(" The diagonal of the Hessian of the loss of one row ({y_true_doc}).");
            quote! {
                #[doc = #loss_doc]
                pub fn loss_at<F: #p::Float>(&self, y_true: &[F], y_pred: &[F]) -> ::core::result::Result<F, #p::LossError> {
                    let (t, p) = #p::one_row(y_true, y_pred)?;
                    Ok(<Self as #p::Loss>::per_sample(self, t, p)?[0])
                }

                #[doc = #grad_doc]
                pub fn grad_at<F: #p::Float>(&self, y_true: &[F], y_pred: &[F]) -> ::core::result::Result<::std::vec::Vec<F>, #p::LossError> {
                    let (t, p) = #p::one_row(y_true, y_pred)?;
                    Ok(<Self as #p::Loss>::grad_hess(self, t, p)?.0.into_iter().collect())
                }

                #[doc = #hess_doc]
                pub fn hess_at<F: #p::Float>(&self, y_true: &[F], y_pred: &[F]) -> ::core::result::Result<::std::vec::Vec<F>, #p::LossError> {
                    let (t, p) = #p::one_row(y_true, y_pred)?;
                    Ok(<Self as #p::Loss>::grad_hess(self, t, p)?.1.into_iter().collect())
                }
            }
        } else {
            quote! {
                /// The loss of one element.
                pub fn loss_at<F: #p::Float>(&self, y_true: F, y_pred: F) -> F {
                    #p::ElementKernel::value(&self.__kernel::<F>(), y_true, y_pred)
                }

                /// The derivative of the loss of one element with respect to `y_pred`.
                pub fn grad_at<F: #p::Float>(&self, y_true: F, y_pred: F) -> F {
                    #p::ElementKernel::value_grad(&self.__kernel::<F>(), y_true, y_pred).1
                }

                /// The second derivative of the loss of one element with respect to `y_pred`.
                pub fn hess_at<F: #p::Float>(&self, y_true: F, y_pred: F) -> F {
                    #p::ElementKernel::grad_hess(&self.__kernel::<F>(), y_true, y_pred).1
                }
            }
        };
        quote! {
            #(#user_docs)*
            #[doc = ""]
            #[doc = #struct_doc]
            #[derive(Clone, Copy, Debug, PartialEq)]
            #vis struct #class {
                #( #field_docs pub #field_ident: #field_ty, )*
                /// How `forward` reduces the per-sample losses.
                pub reduction: #p::Reduction,
            }

            #[doc(hidden)]
            #[derive(Clone, Copy, Debug)]
            #[allow(non_camel_case_types, dead_code)]
            #vis struct #kernel #kernel_params {
                #( #kernel_fields_f, )*
                #( #kernel_fields_b, )*
                __float: ::core::marker::PhantomData<F>,
            }

            impl ::core::default::Default for #class {
                fn default() -> Self {
                    Self { #( #field_ident: #field_default, )* reduction: #p::Reduction::Mean }
                }
            }

            #[allow(clippy::too_many_arguments)]
            impl #class {
                #[doc = #new_doc]
                pub fn new(#( #field_ident: #field_ty ),*) -> ::core::result::Result<Self, #p::LossError> {
                    let loss = Self { #( #field_ident, )* reduction: #p::Reduction::Mean };
                    loss.validate()?;
                    Ok(loss)
                }

                #(
                    #[doc = #setter_docs]
                    #[must_use]
                    pub fn #field_ident(mut self, #field_ident: #field_ty) -> Self {
                        self.#field_ident = #field_ident;
                        self
                    }
                )*

                /// Sets the reduction used by `forward` and the gradient methods.
                #[must_use]
                pub fn with_reduction(mut self, reduction: #p::Reduction) -> Self {
                    self.reduction = reduction;
                    self
                }

                /// Checks every parameter against its rule.
                // Rules read best as written (`x >= 0.0 && x <= 1.0`), also in error messages.
                #[allow(unused_variables, clippy::manual_range_contains)]
                pub fn validate(&self) -> ::core::result::Result<(), #p::LossError> {
                    #( let #field_ident = self.#field_ident; )*
                    #( #checks )*
                    Ok(())
                }

                /// The kernel for these parameters, one per setting of the flags.
                #[inline(always)]
                fn __kernel<F: #p::Float>(&self) -> #kernel_type {
                    #make_kernel
                }

                #scalar_access
            }

            impl #p::Loss for #class {
                type Kernel<F: #p::Float> = #kernel_type;

                fn kernel<F: #p::Float>(&self) -> ::core::result::Result<Self::Kernel<F>, #p::LossError> {
                    self.validate()?;
                    Ok(self.__kernel::<F>())
                }

                fn name(&self) -> &'static str {
                    #name
                }

                fn reduction(&self) -> #p::Reduction {
                    self.reduction
                }

                fn spec(&self) -> ::std::string::String {
                    #p::format_spec(#name, &[ #( #spec_values ),* ], self.reduction)
                }
            }

            impl #p::FromParams for #class {
                fn from_params(
                    values: &[#p::ParamValue],
                    reduction: #p::Reduction,
                ) -> ::core::result::Result<Self, #p::LossError> {
                    let mut loss = Self::default();
                    #( #from_values )*
                    loss.reduction = reduction;
                    loss.validate()?;
                    Ok(loss)
                }
            }

            #(#user_docs)*
            #[doc = ""]
            #[doc = #fn_doc]
            #vis fn #fn_ident<'a, 'b, F, D>(
                y_true: impl #p::ndarray::AsArray<'a, F, D>,
                y_pred: impl #p::ndarray::AsArray<'b, F, D>,
            ) -> ::core::result::Result<#p::ndarray::Array<F, D::Smaller>, #p::LossError>
            where
                F: #p::Float,
                D: #p::ndarray::Dimension,
            {
                <#class as #p::Loss>::per_sample(&<#class as ::core::default::Default>::default(), y_true, y_pred)
            }

            #p::inventory::submit! {
                #p::Entry {
                    name: #name,
                    struct_name: #class_str,
                    aliases: &[ #( #aliases ),* ],
                    kind: #p::Kind::#kind,
                    params: &[ #( #param_infos ),* ],
                    doc: #user_doc_text,
                    formula: #formula_text,
                    location: ::core::concat!(::core::module_path!(), "::", #class_str, " at ", ::core::file!(), ":", ::core::line!()),
                    make_f32: #p::make_dyn::<#class, f32>,
                    make_f64: #p::make_dyn::<#class, f64>,
                }
            }
        }
    }

    fn struct_doc(&self, formula: &Formula) -> String {
        let mut doc = String::new();
        doc.push_str(&format!(" # Formula\n\n Registered as `{}`", self.name));
        if !self.attr.aliases.is_empty() {
            let aliases: Vec<String> = self
                .attr
                .aliases
                .iter()
                .map(|a| format!("`{}`", a.value()))
                .collect();
            doc.push_str(&format!(" (aliases {})", aliases.join(", ")));
        }
        doc.push('.');
        if let Some(k) = &self.attr.keras {
            doc.push_str(&format!(" Matches Keras `{}`.", k.value()));
        }
        if let Some(t) = &self.attr.pytorch {
            doc.push_str(&format!(" Matches PyTorch `{}`.", t.value()));
        }
        doc.push_str(match self.loss.shape {
            ast::Shape::Element => {
                " The loss of one element is below, with its derivative with respect to `y_pred` \
                 as derived by `#[loss]`; the per-sample loss is the mean over the last axis.\n\n```text\n"
            }
            ast::Shape::Row => {
                " The loss of one row (the last axis) is below, with its derivative with respect \
                 to each element `y_pred` of the row, as derived by `#[loss]` (through every \
                 reduction over the row). `y_true` and `y_pred` stand for one element; `sum`, \
                 `mean`, `max`, `min`, `logsumexp` reduce over the row.\n\n```text\n"
            }
            ast::Shape::Sparse => {
                " The loss of one row (the last axis) given its class index, with its derivative \
                 with respect to each element `y_pred` of the row, as derived by `#[loss]`. \
                 Inside the formula `y_true` is 1 at the label's element and 0 elsewhere; \
                 `at_label(e)` is `e` at the label's element.\n\n```text\n"
            }
        });
        doc.push_str(&formula.text);
        doc.push_str("```\n");
        if !self.loss.params.is_empty() {
            doc.push_str("\n # Parameters\n\n");
            for q in &self.loss.params {
                let first_line = doc_text(&q.docs)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                doc.push_str(&format!(
                    " - `{}` (default `{}`",
                    q.ident,
                    default_text(q.default)
                ));
                if let Some(c) = &q.check {
                    doc.push_str(&format!(", must satisfy `{}`", expr_text(c)));
                }
                doc.push(')');
                if !first_line.is_empty() {
                    doc.push_str(&format!(": {first_line}"));
                }
                doc.push('\n');
            }
        }
        doc
    }
}

/// The most bool parameters that become const generics of the kernel.
const MAX_CONST_FLAGS: usize = 4;

/// Bool parameters beyond this many are tested per element instead of once per call (the
/// code size doubles with each one specialized).
const MAX_SPECIALIZED: usize = 3;

/// How kernel methods read parameters and flags.
struct Flags<'a> {
    float_params: Vec<Ident>,
    /// How each bool parameter is read: its const generic, or a field.
    bool_reads: Vec<TokenStream>,
    pinned: &'a [Pinned],
}

/// The body of a kernel method computing `roots`: one branch-free variant per combination of
/// the bool parameters it reads (and of the pinned float parameters at their value or not),
/// chosen once per call by `if <flag>`.
fn specialized_body(
    lowered: &mut Lowered,
    names: &mut HashMap<NodeId, String>,
    roots: &[NodeId],
    params: &Flags<'_>,
    emit: &dyn Fn(&Graph, &Bindings, &[NodeId]) -> TokenStream,
) -> TokenStream {
    specialized_with(lowered, names, roots, params, (0, 0), emit)
}

/// [`specialized_body`] below `depth` splits, `decided` marking the pinned parameters already
/// split on.
fn specialized_with(
    lowered: &mut Lowered,
    names: &mut HashMap<NodeId, String>,
    roots: &[NodeId],
    params: &Flags<'_>,
    (depth, decided): (usize, u32),
    emit: &dyn Fn(&Graph, &Bindings, &[NodeId]) -> TokenStream,
) -> TokenStream {
    enum Split {
        Bool(u16),
        Pinned(usize),
    }
    let graph = &lowered.graph;
    let split = graph
        .bool_params_used(roots)
        .first()
        .map(|&b| Split::Bool(b))
        .or_else(|| {
            params
                .pinned
                .iter()
                .enumerate()
                .find(|(k, p)| decided & (1 << k) == 0 && graph.reads_param(roots, p.index))
                .map(|(k, _)| Split::Pinned(k))
        });
    let Some(split) = split.filter(|_| depth < MAX_SPECIALIZED) else {
        let bindings = Bindings {
            params: &params.float_params,
            bool_params: &params.bool_reads,
            externs: &lowered.externs,
            names,
        };
        return emit(&lowered.graph, &bindings, roots);
    };
    let mut arms = Vec::new();
    for value in [true, false] {
        let (specialized, copies, decided) = match split {
            Split::Bool(flag) => {
                let (r, c) = lowered.graph.specialize(roots, flag, value);
                (r, c, decided)
            }
            Split::Pinned(k) if value => {
                let p = &params.pinned[k];
                let (r, c) = lowered.graph.specialize_param(roots, p.index, p.value);
                (r, c, decided | 1 << k)
            }
            Split::Pinned(k) => (roots.to_vec(), HashMap::new(), decided | 1 << k),
        };
        for (old, new) in copies {
            if let Some(name) = names.get(&old).cloned() {
                names.entry(new).or_insert(name);
            }
        }
        arms.push(specialized_with(
            lowered,
            names,
            &specialized,
            params,
            (depth + 1, decided),
            emit,
        ));
    }
    let read = match split {
        Split::Bool(flag) => params.bool_reads[flag as usize].clone(),
        Split::Pinned(k) => {
            let flag = &params.pinned[k].flag;
            quote!(#flag)
        }
    };
    let (on, off) = (&arms[0], &arms[1]);
    quote! {
        if #read { #on } else { #off }
    }
}

/// The formula and its derivatives as text, for rustdoc and the registry.
pub struct Formula {
    pub text: String,
}

/// Names for derivative nodes of named bindings: `d_x` for the derivative of `x`, `d2_x` for
/// its second derivative.
fn derivative_names(lowered: &Lowered) -> HashMap<NodeId, String> {
    let mut names = lowered.names.clone();
    let mut pairs: Vec<(NodeId, NodeId)> = lowered
        .graph
        .derivative_of
        .iter()
        .map(|(&a, &b)| (a, b))
        .collect();
    pairs.sort();
    for _ in 0..2 {
        for &(of, d) in &pairs {
            if names.contains_key(&d) || lowered.graph.const_value(d).is_some() {
                continue;
            }
            if let Some(name) = names.get(&of) {
                let new = if let Some(rest) = name.strip_prefix("d_") {
                    format!("d2_{rest}")
                } else if name.starts_with("d2_") {
                    continue;
                } else {
                    format!("d_{name}")
                };
                names.insert(d, new);
            }
        }
    }
    names
}

fn default_tokens(default: ast::Default) -> TokenStream {
    match default {
        ast::Default::Float(v) => quote!(#v),
        ast::Default::Bool(b) => quote!(#b),
    }
}

fn default_text(default: ast::Default) -> String {
    match default {
        ast::Default::Float(v) => format!("{v:?}"),
        ast::Default::Bool(b) => b.to_string(),
    }
}

/// A short Rust expression as the user wrote it, with token spacing tidied.
pub fn expr_text(expr: &syn::Expr) -> String {
    let raw = quote!(#expr).to_string();
    raw.replace(" . ", ".")
}

/// The text of doc attributes, one line per attribute.
pub fn doc_text(docs: &[syn::Attribute]) -> String {
    docs.iter()
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').unwrap_or(&line).to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
pub(crate) mod tests {
    use quote::quote;

    /// The body of one generated kernel method, as text.
    pub(crate) fn method_body(expanded: &str, method: &str) -> String {
        let start = expanded
            .find(&format!("fn {method} ("))
            .or_else(|| expanded.find(&format!("fn {method} <")))
            .unwrap_or_else(|| panic!("no method {method} in {expanded}"));
        let rest = &expanded[start..];
        // Up to the next method's attributes.
        let end = ["# [inline", "# [cfg_attr"]
            .iter()
            .filter_map(|a| rest[1..].find(a))
            .min()
            .map_or(rest.len(), |e| e + 1);
        rest[..end].to_string()
    }

    fn focal() -> String {
        super::loss(
            quote!(),
            quote! {
                fn focal(
                    y_true: f64,
                    y_pred: f64,
                    #[default(false)] apply_class_balancing: bool,
                    #[default(0.25)] alpha: f64,
                    #[default(2.0)] gamma: f64,
                    #[default(false)] from_logits: bool,
                ) -> f64 {
                    let p = if from_logits { sigmoid(y_pred) } else { y_pred };
                    let p_clipped = clip(p, EPSILON, 1.0 - EPSILON);
                    let bce = -(y_true * p_clipped.ln() + (1.0 - y_true) * (1.0 - p_clipped).ln());
                    let p_t = y_true * p + (1.0 - y_true) * (1.0 - p);
                    let focal_bce = (1.0 - p_t).powf(gamma) * bce;
                    if apply_class_balancing {
                        (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal_bce
                    } else {
                        focal_bce
                    }
                }
            },
        )
        .to_string()
    }

    #[test]
    fn fused_value_and_gradient_shares_the_forward_pass() {
        let expanded = focal();
        assert!(!expanded.contains("compile_error"), "{expanded}");
        let value = method_body(&expanded, "value_staged");
        let value_grad = method_body(&expanded, "value_grad_staged");
        let count = |s: &str, pat: &str| s.matches(pat).count();
        // The forward pass takes two logarithms (of clipped probabilities: `ln_normal`); the
        // derivative of ln needs none, so the fused pass must not take more than the forward
        // pass does.
        // Each method has one branch-free variant per setting of its two bool parameters and
        // of `gamma` at its default 2 or not.
        let variants = 8;
        for body in [&value, &value_grad] {
            assert_eq!(count(body, ". ln_normal ()"), 2 * variants, "{body}");
            assert_eq!(count(body, ". ln ()"), 0, "{body}");
        }
        // At gamma = 2 the focal factor is a square and its derivative a product: no powf.
        // Otherwise one powf for the factor, one for its derivative (exponent gamma - 1).
        assert_eq!(count(&value, ". powi (2i32)"), variants / 2, "{value}");
        assert_eq!(count(&value, ". powf ("), variants / 2, "{value}");
        assert_eq!(count(&value_grad, ". powf ("), variants, "{value_grad}");
        assert_eq!(
            count(&value_grad, "GAMMA_IS_2"),
            variants / 2,
            "{value_grad}"
        );
        // sigmoid(y_pred), shared by the value and the gradient, and sigmoid(-y_pred) for the
        // derivative, in each of the four from_logits variants.
        assert_eq!(count(&value_grad, ". sigmoid ()"), 8, "{value_grad}");
    }

    #[test]
    fn softmax_gradient_reuses_the_exponentials_of_logsumexp() {
        let expanded = super::loss(
            quote!(),
            quote! {
                fn ce(y_true: Class, y_pred: Row) -> f64 {
                    -at_label(y_pred - logsumexp(y_pred))
                }
            },
        )
        .to_string();
        assert!(!expanded.contains("compile_error"), "{expanded}");
        let value_grad = method_body(&expanded, "row_value_grad");
        let grad_hess = method_body(&expanded, "row_grad_hess");
        // One exponential per element (in the whole chunks and in the tail), in the pass that
        // sums them (of `x - max <= 0`: `exp_nonpositive`); the gradient pass reads them back
        // from the buffer: in the chunks, the tail, and once more for the label's element.
        for body in [&value_grad, &grad_hess] {
            assert_eq!(body.matches(". exp_nonpositive ()").count(), 2, "{body}");
            assert_eq!(body.matches(". exp ()").count(), 0, "{body}");
            assert_eq!(body.matches("grad [at] = e ;").count(), 2, "{body}");
            assert_eq!(
                body.matches("let softmax = grad [at] * inv_sum ;").count(),
                3,
                "{body}"
            );
        }
        // The gradient pass compares no indices: `y_true` is 0 in the loop, and the label's
        // element is computed again with 1, from the buffer as the loop found it.
        assert!(
            value_grad.contains("let grad_at_label = grad [label] ;"),
            "{value_grad}"
        );
        assert!(
            value_grad.contains(
                "{ grad [label] = grad_at_label ; let (j , at) = (label , label) ; \
                 let y_pred = y_pred_row [label] ; let y_true = F :: ONE ;"
            ),
            "{value_grad}"
        );
        let gradient_pass = &value_grad[value_grad.find("grad_at_label").unwrap()..];
        assert!(!gradient_pass.contains("j == label"), "{gradient_pass}");
    }

    #[test]
    fn intermediates_keep_the_users_names() {
        let expanded = focal();
        let value_grad = method_body(&expanded, "value_grad_staged");
        for name in [
            "let p_clipped",
            "let p_t",
            "let d_p_clipped",
            "let d_p_t",
            "let d_p =",
        ] {
            assert!(value_grad.contains(name), "{name} missing in {value_grad}");
        }
    }

    #[test]
    fn the_struct_docs_show_formula_gradient_parameters_and_peer_names() {
        let expanded = super::loss(
            quote!(keras = "keras.losses.Huber", pytorch = "torch.nn.HuberLoss"),
            quote! {
                /// Huber loss.
                fn huber(
                    y_true: f64,
                    y_pred: f64,
                    /// Where the loss turns linear.
                    #[default(1.0)]
                    #[check(delta > 0.0)]
                    delta: f64,
                ) -> f64 {
                    let error = y_pred - y_true;
                    if error.abs() <= delta { 0.5 * error * error } else { delta * error.abs() - 0.5 * delta * delta }
                }
            },
        )
        .to_string();
        for needle in [
            "Matches Keras `keras.losses.Huber`",
            "Matches PyTorch `torch.nn.HuberLoss`",
            "loss = if abs(error) <= delta",
            "d_loss = d loss / d y_pred",
            "`delta` (default `1.0`, must satisfy `delta > 0.0`): Where the loss turns linear.",
        ] {
            assert!(
                expanded.contains(needle),
                "{needle:?} not in the docs: {expanded}"
            );
        }
    }
}
