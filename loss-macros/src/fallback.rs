//! What a `#[loss]` with errors still emits: the struct, the function form and the registry
//! entry with the declared parameters, and a kernel that is never run (the crate does not
//! compile). The user sees the errors in their loss, not a cascade from every place that
//! names the loss.

use proc_macro2::TokenStream;
use quote::quote;

use crate::expand::{Expansion, Formula};

pub fn stub(expansion: &Expansion) -> TokenStream {
    let kernel = &expansion.kernel;
    let (impl_generics, type_args) = expansion.kernel_generics();
    let common = expansion.common_items(&Formula {
        text: String::new(),
    });
    if expansion.loss.shape.is_row() {
        return quote! {
            #[allow(unused_variables)]
            impl #impl_generics ::losses::__private::LossKernel<F> for #kernel #type_args {
                const ELEMENTWISE: bool = false;
                fn row_value(&self, y_true: &[F], y_pred: &[F]) -> F {
                    ::core::unreachable!()
                }
                fn row_value_grad(&self, y_true: &[F], y_pred: &[F], scale: F, grad: &mut [F]) -> F {
                    ::core::unreachable!()
                }
                fn row_grad_hess(&self, y_true: &[F], y_pred: &[F], grad: &mut [F], hess: &mut [F]) {
                    ::core::unreachable!()
                }
                fn per_element(&self, y_true: &[F], y_pred: &[F], out: &mut [F]) {
                    ::core::unreachable!()
                }
            }
            #common
        };
    }
    quote! {
        #[allow(unused_variables)]
        impl #impl_generics ::losses::__private::ElementKernel<F> for #kernel #type_args {
            fn value(&self, y_true: F, y_pred: F) -> F {
                ::core::unreachable!()
            }
            fn value_grad(&self, y_true: F, y_pred: F) -> (F, F) {
                ::core::unreachable!()
            }
            fn grad_hess(&self, y_true: F, y_pred: F) -> (F, F) {
                ::core::unreachable!()
            }
        }
        #common
    }
}
