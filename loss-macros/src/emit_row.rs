//! Scheduling and code generation for row losses: the passes over one row.
//!
//! A reduction can only be used once a pass over the row has computed it, and a reduction
//! whose element expression uses another reduction needs a later pass. So reductions are
//! grouped by depth: pass 1 computes every reduction that uses none, pass 2 those that use
//! pass 1's, and so on, each pass fusing all reductions of its depth (and an online
//! `logsumexp` needs no separate pass for its max). Row-level values between passes are
//! computed once, not per element. A last pass writes the element outputs (the gradient,
//! the Hessian diagonal). Nothing of the row's size is allocated.

use std::collections::{BTreeMap, HashMap, HashSet};

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use crate::emit::{Bindings, Emitter};
use crate::symbolic::{Graph, Node, NodeId, RowOp};

/// How the label of a sparse row is read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// `y_true` is a row like `y_pred`.
    Dense,
    /// `y_true` holds one class index; inside the formula `y_true` is its one-hot indicator.
    Sparse,
}

/// The body of a row kernel method: computes `row_roots` (returned as a tuple, or `()`), and
/// for every element the `element_roots`, handed to `write` (which gets `j` and their
/// expressions and returns the statement storing them).
pub fn row_body(
    graph: &Graph,
    bindings: &Bindings,
    labels: Labels,
    row_roots: &[NodeId],
    element_roots: &[NodeId],
    write: &dyn Fn(&[TokenStream]) -> TokenStream,
) -> TokenStream {
    let mut em = Emitter::new(graph, bindings);
    let mut out = TokenStream::new();
    out.extend(quote! {
        let count = F::from_usize(y_pred_row.len());
    });
    if labels == Labels::Sparse {
        out.extend(quote! {
            // The engine has checked that the label is a class index in 0..count.
            let label = y_true_row[0].to_f64() as usize;
        });
    }

    // Reductions only the row results need, over expressions the element outputs' passes
    // make available, are accumulated in the pass that writes the element outputs (the loss
    // value of a cross-entropy rides along with its gradient).
    let before_write: HashSet<NodeId> = all_reductions(graph, element_roots);
    let deferred: Vec<NodeId> = if element_roots.is_empty() {
        Vec::new()
    } else {
        all_reductions(graph, row_roots)
            .into_iter()
            .filter(|r| !before_write.contains(r))
            .filter(|&r| !matches!(graph.node(r), Node::Reduce(RowOp::AtLabel, _)))
            .filter(|&r| {
                let e = reduced(graph, r);
                inner_reductions(graph, e)
                    .iter()
                    .all(|i| before_write.contains(i))
            })
            .collect()
    };
    let mut deferred_sorted = deferred.clone();
    deferred_sorted.sort_unstable();

    let roots: Vec<NodeId> = row_roots.iter().chain(element_roots).copied().collect();
    for (_, reductions) in by_depth(graph, &roots) {
        let (looped, at_label): (Vec<NodeId>, Vec<NodeId>) = reductions
            .into_iter()
            .filter(|r| !deferred.contains(r))
            .partition(|&r| !matches!(graph.node(r), Node::Reduce(RowOp::AtLabel, _)));
        if !looped.is_empty() {
            out.extend(pass(&mut em, graph, labels, &looped, &[], &|_| quote!()));
        }
        for r in at_label {
            let e = reduced(graph, r);
            out.extend(hoist_row_values(&mut em, graph, &[e]));
            let (stmts, exprs) = em.scoped(|em| em.program(&[e]));
            let e = &exprs[0];
            let name = em.local("at_label");
            out.extend(quote! {
                let #name = {
                    let y_true = F::ONE;
                    let y_pred = y_pred_row[label];
                    #stmts
                    #e
                };
            });
            em.bind(r, name);
        }
    }
    if !element_roots.is_empty() {
        out.extend(pass(
            &mut em,
            graph,
            labels,
            &deferred_sorted,
            element_roots,
            write,
        ));
    }
    let (row_stmts, row_exprs) = em.program(row_roots);
    out.extend(row_stmts);
    quote!(#out (#(#row_exprs),*))
}

/// Every reduction the roots need, directly or through other reductions.
fn all_reductions(graph: &Graph, roots: &[NodeId]) -> HashSet<NodeId> {
    graph
        .reachable(roots)
        .into_iter()
        .filter(|&n| matches!(graph.node(n), Node::Reduce(..)))
        .collect()
}

/// The reductions an element expression uses directly.
fn inner_reductions(graph: &Graph, e: NodeId) -> Vec<NodeId> {
    match graph.node(e) {
        Node::Reduce(..) => vec![e],
        _ => graph.direct_reductions(e),
    }
}

/// `let y_true = ..; let y_pred = ..;` for element `j`.
fn element_binding(labels: Labels) -> TokenStream {
    match labels {
        Labels::Dense => quote! {
            let y_true = y_true_row[j];
            let y_pred = y_pred_row[j];
        },
        Labels::Sparse => quote! {
            let y_true = if j == label { F::ONE } else { F::ZERO };
            let y_pred = y_pred_row[j];
        },
    }
}

/// The element expression of a reduction node.
fn reduced(graph: &Graph, r: NodeId) -> NodeId {
    match graph.node(r) {
        Node::Reduce(_, e) => e,
        _ => unreachable!("not a reduction"),
    }
}

/// Every reduction the roots need, grouped by depth (1 = uses no other reduction).
fn by_depth(graph: &Graph, roots: &[NodeId]) -> BTreeMap<usize, Vec<NodeId>> {
    let mut depth: HashMap<NodeId, usize> = HashMap::new();
    for id in graph.reachable(roots) {
        if let Node::Reduce(_, e) = graph.node(id) {
            // Reachable ids come in increasing order, so inner reductions are known.
            let inner = graph
                .direct_reductions(e)
                .into_iter()
                .chain(matches!(graph.node(e), Node::Reduce(..)).then_some(e))
                .map(|r| depth[&r])
                .max()
                .unwrap_or(0);
            depth.insert(id, inner + 1);
        }
    }
    let mut groups: BTreeMap<usize, Vec<NodeId>> = BTreeMap::new();
    for (id, d) in depth {
        groups.entry(d).or_default().push(id);
    }
    for group in groups.values_mut() {
        group.sort_unstable();
    }
    groups
}

/// Computes, once per row, the row-level values the element expressions `roots` use (so a
/// loop does not recompute them for every element).
fn hoist_row_values(em: &mut Emitter, graph: &Graph, roots: &[NodeId]) -> TokenStream {
    let mut frontier = Vec::new();
    let mut seen = HashSet::new();
    let mut stack: Vec<NodeId> = roots.to_vec();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) || em.is_in_scope(n) {
            continue;
        }
        match graph.node(n) {
            Node::Reduce(..) | Node::Count => {}
            node if !graph.is_elementwise(n) && node.children().next().is_some() => {
                frontier.push(n)
            }
            node => stack.extend(node.children()),
        }
    }
    frontier.sort_unstable();
    let (stmts, _) = em.program(&frontier);
    stmts
}

/// One loop over the row: accumulates every reduction in `reductions` and hands the
/// element outputs `outputs` to `write`.
fn pass(
    em: &mut Emitter,
    graph: &Graph,
    labels: Labels,
    reductions: &[NodeId],
    outputs: &[NodeId],
    write: &dyn Fn(&[TokenStream]) -> TokenStream,
) -> TokenStream {
    let mut init = TokenStream::new();
    let mut finish = TokenStream::new();
    let mut accumulate: Vec<Accumulator> = Vec::new();
    let mut results = Vec::new();
    let mut logsumexp = Vec::new();
    let elements: Vec<NodeId> = reductions.iter().map(|&r| reduced(graph, r)).collect();
    for &r in reductions {
        let Node::Reduce(op, _) = graph.node(r) else {
            unreachable!()
        };
        let base = match op {
            RowOp::Sum => "sum",
            RowOp::Mean => "mean",
            RowOp::Max => "max",
            RowOp::Min => "min",
            RowOp::LogSumExp => "logsumexp",
            RowOp::AtLabel => unreachable!("at_label needs no pass"),
        };
        let acc = em.local(base);
        results.push((r, acc.clone()));
        match op {
            RowOp::Sum | RowOp::Mean => {
                init.extend(quote!(let mut #acc = F::ZERO;));
                if op == RowOp::Mean {
                    finish.extend(quote!(let #acc = #acc / count;));
                }
                accumulate.push(Accumulator::Sum(acc));
            }
            RowOp::Max => {
                init.extend(quote!(let mut #acc = F::NEG_INFINITY;));
                accumulate.push(Accumulator::Max(acc));
            }
            RowOp::Min => {
                init.extend(quote!(let mut #acc = F::INFINITY;));
                accumulate.push(Accumulator::Min(acc));
            }
            RowOp::LogSumExp => {
                let max = em.local("running_max");
                let ln_sum = em.local("ln_sum");
                init.extend(quote!(let mut #max = F::NEG_INFINITY; let mut #acc = F::ZERO;));
                finish.extend(quote!(let #ln_sum = #acc.ln(); let #acc = #max + #ln_sum;));
                logsumexp.push((r, max.clone(), ln_sum));
                accumulate.push(Accumulator::LogSumExp { max, sum: acc });
            }
            RowOp::AtLabel => unreachable!(),
        }
    }
    let all: Vec<NodeId> = outputs.iter().chain(&elements).copied().collect();
    let hoisted = hoist_row_values(em, graph, &all);
    let (stmts, exprs) = em.scoped(|em| em.program(&all));
    let store = write(&exprs[..outputs.len()]);
    let updates = accumulate
        .iter()
        .zip(&exprs[outputs.len()..])
        .map(|(a, e)| a.update(e));
    let element = element_binding(labels);
    for (r, acc) in results {
        match logsumexp.iter().find(|(l, _, _)| *l == r) {
            Some((_, max, ln_sum)) => em.bind_logsumexp(r, acc, max.clone(), ln_sum.clone()),
            None => em.bind(r, acc),
        }
    }
    quote! {
        #hoisted
        #init
        for j in 0..y_pred_row.len() {
            #element
            #stmts
            #store
            #(#updates)*
        }
        #finish
    }
}

/// The running state of one reduction in a pass.
enum Accumulator {
    Sum(Ident),
    Max(Ident),
    Min(Ident),
    /// Online: a running max and the sum of `exp(e - max)`, rescaled when the max grows, so
    /// one pass suffices and nothing overflows.
    LogSumExp {
        max: Ident,
        sum: Ident,
    },
}

impl Accumulator {
    fn update(&self, e: &TokenStream) -> TokenStream {
        match self {
            Accumulator::Sum(acc) => quote!(#acc += #e;),
            Accumulator::Max(acc) => quote!(#acc = #acc.max(#e);),
            Accumulator::Min(acc) => quote!(#acc = #acc.min(#e);),
            Accumulator::LogSumExp { max, sum } => quote! {
                let x = #e;
                if x > #max {
                    #sum = #sum * (#max - x).exp() + F::ONE;
                    #max = x;
                } else {
                    #sum += (x - #max).exp();
                }
            },
        }
    }
}
