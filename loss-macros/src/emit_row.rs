//! Scheduling and code generation for row losses: the passes over one row.
//!
//! A reduction can only be used once a pass over the row has computed it, and a reduction
//! whose element expression uses another reduction needs a later pass. So reductions are
//! grouped by depth: pass 1 computes every reduction that uses none, pass 2 those that use
//! pass 1's, and so on, each pass fusing all reductions of its depth (a `logsumexp` takes
//! its max in a loop of its own first). Row-level values between passes are computed once,
//! not per element. A last pass writes the element outputs (the gradient, the Hessian
//! diagonal) and accumulates the reductions only the loss value needs. Every loop walks the
//! row in fixed-size chunks with one accumulator per lane, so it vectorizes. Nothing of the
//! row's size is allocated.

use std::collections::{BTreeMap, HashMap, HashSet};

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};

use crate::emit::{Bindings, Emitter};
use crate::symbolic::{Graph, Node, NodeId, Op1, Op2, RowOp};

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
    buffers: &[&str],
    write: &dyn Fn(&[TokenStream]) -> TokenStream,
) -> TokenStream {
    let mut layout = Layout::Row;
    body(
        graph,
        bindings,
        labels,
        row_roots,
        element_roots,
        buffers,
        write,
        &mut layout,
    )
}

/// The body of `group_value_grad`: the program of [`row_body`] for `GROUP_ROWS` rows at
/// once, transposed (see [`Layout::Group`]), with the same arithmetic in the same order, so
/// each row gets the same bits as one row alone. `y_pred_rows`, `y_true_rows` and
/// `grad_rows` hold the group's rows; the row values go to `values`. `None` if a statement
/// of the program has a form the transposition does not handle (the kernel then has no
/// grouped form).
pub fn group_body(
    graph: &Graph,
    bindings: &Bindings,
    labels: Labels,
    value: NodeId,
    element_roots: &[NodeId],
    buffers: &[&str],
    write: &dyn Fn(&[TokenStream]) -> TokenStream,
) -> Option<TokenStream> {
    let mut layout = Layout::Group {
        row_names: Vec::new(),
        failed: false,
    };
    let out = body(
        graph,
        bindings,
        labels,
        &[value],
        element_roots,
        buffers,
        write,
        &mut layout,
    );
    match layout {
        Layout::Group { failed: false, .. } => Some(out),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn body(
    graph: &Graph,
    bindings: &Bindings,
    labels: Labels,
    row_roots: &[NodeId],
    element_roots: &[NodeId],
    buffers: &[&str],
    write: &dyn Fn(&[TokenStream]) -> TokenStream,
    layout: &mut Layout,
) -> TokenStream {
    let mut em = Emitter::new(graph, bindings);
    let mut out = layout.prologue(labels, buffers);

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
            .filter(|&r| {
                !matches!(
                    graph.node(r),
                    Node::Reduce(RowOp::AtLabel | RowOp::LogSumExp, _)
                )
            })
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

    // A softmax `exp(x - logsumexp(x))` in the element outputs reuses the `exp(x - max)` of
    // the logsumexp's pass, kept in the first output buffer until the write pass overwrites
    // it: one exponential per element instead of two (and `exp(x - max) / sum` is the more
    // accurate form).
    let cache = buffers
        .first()
        .filter(|_| !element_roots.is_empty())
        .and_then(|buffer| {
            let (r, exps) = softmaxes(graph, element_roots)?;
            Some(Cache {
                lse: r,
                exps,
                buffer: Ident::new(buffer, proc_macro2::Span::call_site()),
                inv_sum: em.local("inv_sum"),
            })
        });

    let roots: Vec<NodeId> = row_roots.iter().chain(element_roots).copied().collect();
    for (_, reductions) in by_depth(graph, &roots) {
        let (looped, at_label): (Vec<NodeId>, Vec<NodeId>) = reductions
            .into_iter()
            .filter(|r| !deferred.contains(r))
            .partition(|&r| !matches!(graph.node(r), Node::Reduce(RowOp::AtLabel, _)));
        if !looped.is_empty() {
            out.extend(pass(
                &mut em,
                graph,
                labels,
                &looped,
                &[],
                &[],
                &|_| quote!(),
                cache.as_ref(),
                layout,
            ));
        }
        for r in at_label {
            let e = reduced(graph, r);
            let hoisted = hoist_row_values(&mut em, graph, &[e]);
            out.extend(layout.row_level(&mut em, quote!(), hoisted));
            let (stmts, exprs) = em.scoped(|em| em.program(&[e]));
            let e = &exprs[0];
            let name = em.local("at_label");
            let y_pred = layout.at_label();
            let stmt = quote! {
                let #name = {
                    let y_true = F::ONE;
                    let y_pred = #y_pred;
                    #stmts
                    #e
                };
            };
            out.extend(layout.row_level(&mut em, quote!(), stmt));
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
            buffers,
            write,
            cache.as_ref(),
            layout,
        ));
    }
    let (row_stmts, row_exprs) = em.program(row_roots);
    match layout {
        Layout::Row => quote!(#out #row_stmts (#(#row_exprs),*)),
        Layout::Group { .. } => {
            let value = em.local("row_value");
            let e = &row_exprs[0];
            let stmts = quote!(#row_stmts let #value = #e;);
            out.extend(layout.row_level(&mut em, quote!(), stmts));
            for name in buffers {
                let rows = format_ident!("{name}_rows");
                let t = format_ident!("{name}_t");
                out.extend(quote! {
                    ::losses::__private::columns_to_rows(&#t, c, #rows);
                });
            }
            quote!(#out *values = #value;)
        }
    }
}

/// A logsumexp whose `exp(x - max)` terms are kept for the softmaxes of the write pass.
struct Cache {
    /// The `logsumexp(x)` node.
    lse: NodeId,
    /// The `exp(x - logsumexp(x))` nodes of the element outputs.
    exps: Vec<NodeId>,
    /// The output buffer holding `exp(x - max)` between the two passes.
    buffer: Ident,
    /// `1 / sum(exp(x - max))`.
    inv_sum: Ident,
}

/// The first logsumexp (by node order) whose softmax `exp(x - logsumexp(x))` the element
/// outputs use, with those softmax nodes.
fn softmaxes(graph: &Graph, element_roots: &[NodeId]) -> Option<(NodeId, Vec<NodeId>)> {
    let mut found: BTreeMap<NodeId, Vec<NodeId>> = BTreeMap::new();
    for n in graph.reachable(element_roots) {
        if let Node::Unary(Op1::Exp, a) = graph.node(n)
            && let Node::Binary(Op2::Sub, x, r) = graph.node(a)
            && graph.node(r) == Node::Reduce(RowOp::LogSumExp, x)
        {
            found.entry(r).or_default().push(n);
        }
    }
    found.into_iter().next()
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

/// Independent accumulators per reduction: the loop over a row runs in chunks of this many
/// elements, one accumulator per position in the chunk, so that the compiler can keep the
/// chunk in vector registers (one accumulator would chain every addition to the previous).
const LANES: usize = 8;

/// Lanes a grouped loop runs together (a divisor of [`LANES`]).
const INTERLEAVED: usize = 4;

/// The loops over the row that compute `reductions` (which use no reduction that is not yet
/// computed) and hand the element outputs `outputs` to `write`: a first loop for the maxima
/// of `logsumexp`s, then one for everything else. With `cache`, the pass of its logsumexp
/// keeps `exp(x - max)` in the cache's buffer, and the pass writing the outputs reads its
/// softmaxes from there.
#[allow(clippy::too_many_arguments)]
fn pass(
    em: &mut Emitter,
    graph: &Graph,
    labels: Labels,
    reductions: &[NodeId],
    outputs: &[NodeId],
    buffers: &[&str],
    write: &dyn Fn(&[TokenStream]) -> TokenStream,
    cache: Option<&Cache>,
    layout: &mut Layout,
) -> TokenStream {
    let mut out = TokenStream::new();
    let elements: Vec<NodeId> = reductions.iter().map(|&r| reduced(graph, r)).collect();
    let all: Vec<NodeId> = outputs.iter().chain(&elements).copied().collect();
    let hoisted = hoist_row_values(em, graph, &all);
    out.extend(layout.row_level(em, quote!(), hoisted));

    // The maxima that keep `logsumexp` from overflowing.
    let mut maxima: HashMap<NodeId, Ident> = HashMap::new();
    let lse: Vec<(NodeId, NodeId)> = reductions
        .iter()
        .zip(&elements)
        .filter(|&(&r, _)| matches!(graph.node(r), Node::Reduce(RowOp::LogSumExp, _)))
        .map(|(&r, &e)| (r, e))
        .collect();
    if !lse.is_empty() {
        let accumulators: Vec<Accumulator> = lse
            .iter()
            .map(|&(r, _)| {
                let max = em.local("max");
                maxima.insert(r, max.clone());
                Accumulator::Max(max)
            })
            .collect();
        let roots: Vec<NodeId> = lse.iter().map(|&(_, e)| e).collect();
        let no_outputs = Outputs {
            count: 0,
            buffers: &[],
            write: &|_| quote!(),
        };
        out.extend(lane_loop(
            em,
            labels,
            &roots,
            &no_outputs,
            &accumulators,
            &[],
            layout,
        ));
    }
    let caching = cache.filter(|c| reductions.contains(&c.lse));

    let accumulators: Vec<Accumulator> = reductions
        .iter()
        .map(|&r| {
            let Node::Reduce(op, _) = graph.node(r) else {
                unreachable!("not a reduction")
            };
            match op {
                RowOp::Sum => Accumulator::Sum(em.local("sum")),
                RowOp::Mean => Accumulator::Mean(em.local("mean")),
                RowOp::Max => Accumulator::Max(em.local("max")),
                RowOp::Min => Accumulator::Min(em.local("min")),
                RowOp::LogSumExp => Accumulator::SumExp {
                    sum: em.local("logsumexp"),
                    max: maxima[&r].clone(),
                    ln_sum: em.local("ln_sum"),
                    cache: caching
                        .filter(|c| c.lse == r)
                        .map(|c| (c.buffer.clone(), c.inv_sum.clone())),
                },
                RowOp::AtLabel => unreachable!("at_label needs no pass"),
            }
        })
        .collect();
    // The softmaxes this pass reads back, if it writes the outputs after the cache was filled.
    let cached: Vec<(NodeId, TokenStream)> = match cache {
        Some(c) if !outputs.is_empty() && em.is_in_scope(c.lse) => {
            let (buffer, inv_sum) = (&c.buffer, &c.inv_sum);
            c.exps
                .iter()
                .map(|&n| (n, quote!(#buffer[at] * #inv_sum)))
                .collect()
        }
        _ => Vec::new(),
    };
    let cache_buffer = caching.map(|c| c.buffer.to_string());
    let buffers: Vec<&str> = match &cache_buffer {
        Some(b) if outputs.is_empty() => vec![b.as_str()],
        _ => buffers.to_vec(),
    };
    let outs = Outputs {
        count: outputs.len(),
        buffers: &buffers,
        write,
    };
    out.extend(lane_loop(
        em,
        labels,
        &all,
        &outs,
        &accumulators,
        &cached,
        layout,
    ));
    for (&r, acc) in reductions.iter().zip(accumulators) {
        match acc {
            Accumulator::SumExp {
                sum, max, ln_sum, ..
            } => em.bind_logsumexp(r, sum, max, ln_sum),
            Accumulator::Sum(a)
            | Accumulator::Mean(a)
            | Accumulator::Max(a)
            | Accumulator::Min(a) => em.bind(r, a),
        }
    }
    out
}

/// One loop over the row in chunks of [`LANES`]: computes `roots` at every element, hands
/// the first `outputs` of them to `write` (which stores into `buffers[at]`) and feeds the
/// rest to `accumulators`, which are combined after the loop in a fixed order. `given`
/// nodes are computed by their expressions at the top of the loop body, before the formula.
///
/// The row is split into whole chunks and a tail, and every slice is walked in chunks of
/// exactly [`LANES`] elements: the compiler then knows every index is in bounds and keeps a
/// chunk in vector registers whatever the row's length.
fn lane_loop(
    em: &mut Emitter,
    labels: Labels,
    roots: &[NodeId],
    outs: &Outputs<'_>,
    accumulators: &[Accumulator],
    given: &[(NodeId, TokenStream)],
    layout: &mut Layout,
) -> TokenStream {
    let Outputs {
        count: outputs,
        buffers,
        write,
    } = *outs;
    // A sparse row's one-hot `y_true` costs an index comparison per element. Where only the
    // stored outputs read it, the loop takes `y_true = 0` everywhere and the label's element
    // is computed again afterwards with `y_true = 1` (from the buffers as they were before
    // the loop): the same arithmetic, so the same bits, and a loop without indices.
    let label_after = labels == Labels::Sparse
        && outputs > 0
        && matches!(layout, Layout::Row)
        && !em.reads_y_true(&roots[outputs..]);
    let (stmts, exprs) = em.scoped(|em| {
        let mut stmts = TokenStream::new();
        for (n, e) in given {
            let name = em.local("softmax");
            stmts.extend(quote!(let #name = #e;));
            em.bind(*n, name);
        }
        let (rest, exprs) = em.program(roots);
        stmts.extend(rest);
        (stmts, exprs)
    });
    let store = write(&exprs[..outputs]);
    let grouped = matches!(layout, Layout::Group { .. });
    let updates: Vec<TokenStream> = accumulators
        .iter()
        .zip(&exprs[outputs..])
        .map(|(a, e)| a.update(e, grouped))
        .collect();
    let init = accumulators.iter().map(|a| a.init(grouped));
    let lanes = LANES;
    let dense = labels == Labels::Dense;
    if let Layout::Group { row_names, .. } = &*layout {
        // The rows of the group are the vector lanes: each element `j` of the row runs the
        // formula for every row, reading the transposed inputs; each row's accumulators are
        // updated in the order of `j`, as in a row alone.
        let shadow: Vec<TokenStream> = row_names
            .iter()
            .map(|n| quote!(let #n = #n[row];))
            .collect();
        let group = quote!(::losses::__private::GROUP_ROWS);
        // Sparse groups have their one-hot rows transposed too (see `prologue`).
        let (true_j, y_true) = (
            quote!(let y_true_j = &y_true_t[j];),
            quote!(let y_true = y_true_j[row];),
        );
        let mut bind_j = TokenStream::new();
        let mut bind_row = TokenStream::new();
        for name in buffers {
            let buffer = format_ident!("{name}");
            let t = format_ident!("{name}_t");
            let at_j = format_ident!("{name}_j");
            bind_j.extend(quote!(let #at_j = &mut #t[j];));
            bind_row.extend(quote!(let #buffer = &mut *#at_j;));
        }
        let mut finished = TokenStream::new();
        let mut rest = TokenStream::new();
        for a in accumulators {
            let (combined, after) = a.finish_group();
            finished.extend(combined);
            rest.extend(after);
        }
        if let Layout::Group { row_names, .. } = layout {
            row_names.extend(accumulators.iter().map(|a| a.ident().clone()));
        }
        finished.extend(layout.row_level(em, quote!(), rest));
        let acc: Vec<&Ident> = accumulators.iter().map(Accumulator::ident).collect();
        let all: Vec<Ident> = acc.iter().map(|a| format_ident!("{a}_lanes")).collect();
        // Element `j + u` of the row for every row of the group, updating lane `lane + u`'s
        // accumulators (`{acc}_{u}`, borrowed under the accumulators' own names).
        let lane_locals =
            |u: usize| -> Vec<Ident> { acc.iter().map(|a| format_ident!("{a}_{u}")).collect() };
        let element = |u: usize| {
            let mine = lane_locals(u);
            quote! {
                {
                    let j = j + #u;
                    #(let #acc = &mut #mine;)*
                    let y_pred_j = &y_pred_t[j];
                    #true_j
                    #bind_j
                    for row in 0..#group {
                        #(#shadow)*
                        let at = row;
                        let y_pred = y_pred_j[row];
                        #y_true
                        #bind_row
                        #stmts
                        #store
                        #(#updates)*
                    }
                }
            }
        };
        let both: Vec<TokenStream> = (0..INTERLEAVED).map(element).collect();
        let rest: Vec<TokenStream> = (0..INTERLEAVED)
            .map(|u| {
                let one = element(u);
                quote!(if j + #u < c { #one })
            })
            .collect();
        let (take, give): (Vec<TokenStream>, Vec<TokenStream>) = (0..INTERLEAVED)
            .map(|u| {
                let mine = lane_locals(u);
                (
                    quote!(#(let mut #mine = #all[lane + #u];)*),
                    quote!(#(#all[lane + #u] = #mine;)*),
                )
            })
            .unzip();
        let interleaved = INTERLEAVED;
        // Lanes `INTERLEAVED` at a time: lane `l` takes the elements `j = l, l + LANES, ...`
        // in order, so each accumulator sees the updates of a row alone in the same order (the
        // same bits); the lanes taken together are independent chains in one block, which
        // the processor overlaps (one lane at a time, a chain as long as an exponential
        // waited on its own latency), and their accumulators are locals the compiler keeps in
        // registers. The joint loop runs while every lane has an element; each lane has at
        // most one after it.
        return quote! {
            #(#init)*
            for lane in (0..#lanes).step_by(#interleaved) {
                #(#take)*
                let mut j = lane;
                while j + (#interleaved - 1) < c {
                    #(#both)*
                    j += #lanes;
                }
                #(#rest)*
                #(#give)*
            }
            #finished
        };
    }

    // Slices walked together: y_pred, y_true (dense), the output buffers.
    let finish = accumulators.iter().map(Accumulator::finish);
    let mut split = quote!(let (y_pred_head, y_pred_tail) = y_pred_row.split_at(whole););
    let mut chunks = quote!(y_pred_head.chunks_exact(#lanes));
    let mut pattern = quote!(y_pred_chunk);
    let mut bind_chunk = quote!(let y_pred = y_pred_chunk[lane];);
    let mut bind_tail = quote!(let y_pred = y_pred_tail[lane];);
    if dense {
        split.extend(quote!(let (y_true_head, y_true_tail) = y_true_row.split_at(whole);));
        chunks = quote!(#chunks.zip(y_true_head.chunks_exact(#lanes)));
        pattern = quote!((#pattern, y_true_chunk));
        bind_chunk.extend(quote!(let y_true = y_true_chunk[lane];));
        bind_tail.extend(quote!(let y_true = y_true_tail[lane];));
    } else if label_after {
        bind_chunk.extend(quote!(let y_true = F::ZERO;));
        bind_tail.extend(quote!(let y_true = F::ZERO;));
    } else {
        let label = quote!(let y_true = if j == label { F::ONE } else { F::ZERO };);
        bind_chunk.extend(label.clone());
        bind_tail.extend(label);
    }
    let (mut save, mut restore) = (TokenStream::new(), TokenStream::new());
    for name in buffers.iter().filter(|_| label_after) {
        let buffer = Ident::new(name, proc_macro2::Span::call_site());
        let saved = format_ident!("{name}_at_label");
        save.extend(quote!(let #saved = #buffer[label];));
        restore.extend(quote!(#buffer[label] = #saved;));
    }
    let at_label = label_after.then(|| {
        quote! {
            {
                #restore
                let (j, at) = (label, label);
                let y_pred = y_pred_row[label];
                let y_true = F::ONE;
                #stmts
                #store
            }
        }
    });
    for name in buffers {
        let buffer = Ident::new(name, proc_macro2::Span::call_site());
        let head = Ident::new(&format!("{name}_head"), proc_macro2::Span::call_site());
        let tail = Ident::new(&format!("{name}_tail"), proc_macro2::Span::call_site());
        let chunk = Ident::new(&format!("{name}_chunk"), proc_macro2::Span::call_site());
        split.extend(quote!(let (#head, #tail) = #buffer.split_at_mut(whole);));
        chunks = quote!(#chunks.zip(#head.chunks_exact_mut(#lanes)));
        pattern = quote!((#pattern, #chunk));
        bind_chunk.extend(quote!(let #buffer = &mut *#chunk;));
        bind_tail.extend(quote!(let #buffer = &mut *#tail;));
    }
    let exps = accumulators
        .iter()
        .any(|a| matches!(a, Accumulator::SumExp { .. }));
    // The pass with the exponentials is the longest: it hides the fetch of the next row,
    // which the next row's first pass (its maximum) would otherwise wait for.
    // A pass that only sums exponentials runs its whole blocks staged (see `staged_exps`) and
    // the rest of the row as any pass, from `offset`.
    let extremes = accumulators
        .iter()
        .all(|a| matches!(a, Accumulator::Max(_) | Accumulator::Min(_)));
    let staged = match (outputs, accumulators) {
        (0, [sum_exp @ Accumulator::SumExp { .. }]) => {
            Some(staged_exps(sum_exp, &exprs[0], &stmts, labels))
        }
        (0, [_, ..]) if extremes => Some(extremes_in_four_chains(
            accumulators,
            &stmts,
            &updates,
            labels,
        )),
        _ => None,
    };
    let offset = staged.as_ref().map(|_| quote!(offset+));
    let prefetch = exps
        .then(|| quote!(::losses::__private::prefetch_after(y_pred_tail, #offset chunk * #lanes);));
    let rest = quote! {
        let n = y_pred_row.len();
        let whole = n - n % #lanes;
        #split
        for (chunk, #pattern) in #chunks.enumerate() {
            #prefetch
            for lane in 0..#lanes {
                let (j, at) = (#offset chunk * #lanes + lane, lane);
                #bind_chunk
                #stmts
                #store
                #(#updates)*
            }
        }
        for lane in 0..n - whole {
            let (j, at) = (#offset whole + lane, lane);
            #bind_tail
            #stmts
            #store
            #(#updates)*
        }
    };
    let body = match staged {
        Some(staged) => quote! {
            #staged
            {
                #rest
            }
        },
        None => rest,
    };
    quote! {
        #(#init)*
        #save
        {
            #body
        }
        #at_label
        #(#finish)*
    }
}

/// The whole blocks of a row's exponential pass (a `logsumexp` alone) in three loops per
/// block, which add up to the bits of the plain loop in fewer cycles: the arguments
/// `e - max` into the block, their exponentials in place by `Float::exp_nonpositive_block`
/// (whose stages keep the out-of-order window busy, see there), then the lanes' sums in the
/// order of the plain loop (and the cached exponentials stored). Leaves the rest of the row
/// (`y_pred_row`, `y_true_row` and the cache, rebound) to the plain loop, from `offset`.
fn staged_exps(
    sum_exp: &Accumulator,
    e: &TokenStream,
    stmts: &TokenStream,
    labels: Labels,
) -> TokenStream {
    let Accumulator::SumExp {
        sum, max, cache, ..
    } = sum_exp
    else {
        unreachable!("staged_exps takes a SumExp")
    };
    let lanes = LANES;
    let block = quote!(::losses::__private::EXP_BLOCK);
    let y_true = match labels {
        Labels::Dense => quote!(let y_true = y_true_blocks[b][at];),
        Labels::Sparse => quote!(let y_true = if j == label { F::ONE } else { F::ZERO };),
    };
    let (dense_split, dense_rest) = match labels {
        Labels::Dense => (
            quote!(let (y_true_blocks, _) = y_true_row.as_chunks::<{ #block }>();),
            quote!(let y_true_row = &y_true_row[offset..];),
        ),
        Labels::Sparse => (quote!(), quote!()),
    };
    let (cache_split, cache_block, cache_store, cache_rest) = match cache {
        Some((buffer, _)) => (
            quote!(let (mut cache_blocks, _) = #buffer.as_chunks_mut::<{ #block }>();),
            quote!(let cache_block = &mut cache_blocks[b];),
            quote!(cache_block[at] = e;),
            quote!(let #buffer = &mut #buffer[offset..];),
        ),
        None => (quote!(), quote!(), quote!(), quote!()),
    };
    quote! {
        let (y_pred_blocks, _) = y_pred_row.as_chunks::<{ #block }>();
        #dense_split
        #cache_split
        let offset = y_pred_blocks.len() * #block;
        for b in 0..y_pred_blocks.len() {
            let mut xs = [F::ZERO; #block];
            ::losses::__private::prefetch_lines_after(y_pred_row, b * #block, #block);
            for chunk in 0..#block / #lanes {
                for lane in 0..#lanes {
                    let at = chunk * #lanes + lane;
                    let j = b * #block + at;
                    let y_pred = y_pred_blocks[b][at];
                    #y_true
                    #stmts
                    xs[at] = #e - #max;
                }
            }
            F::exp_nonpositive_block(&mut xs);
            #cache_block
            for chunk in 0..#block / #lanes {
                for lane in 0..#lanes {
                    let at = chunk * #lanes + lane;
                    let e = xs[at];
                    #cache_store
                    #sum[lane] += e;
                }
            }
        }
        let y_pred_row = &y_pred_row[offset..];
        #dense_rest
        #cache_rest
    }
}

/// The leading whole quads (4 chunks) of a pass that only takes maxima or minima, with four
/// copies of each accumulator: four independent chains of comparisons, where one chain waited
/// for each comparison before the next (an eighth of the samples of softmax cross-entropy over
/// rows of 1000). The result is the same whatever the order (the extreme of the elements; a
/// NaN is skipped by every comparison), except possibly the sign of a zero extreme. Leaves
/// the rest of the row (`y_pred_row`, `y_true_row`, rebound) to the plain loop, from `offset`.
fn extremes_in_four_chains(
    accumulators: &[Accumulator],
    stmts: &TokenStream,
    updates: &[TokenStream],
    labels: Labels,
) -> TokenStream {
    let lanes = LANES;
    let acc: Vec<&Ident> = accumulators.iter().map(Accumulator::ident).collect();
    let (dense_split, dense_rest) = match labels {
        Labels::Dense => (
            quote!(let (y_true_quads, _) = y_true_row.as_chunks::<{ 4 * #lanes }>();),
            quote!(let y_true_row = &y_true_row[offset..];),
        ),
        Labels::Sparse => (quote!(), quote!()),
    };
    let chains = (0..4usize).map(|k| {
        let copies: Vec<Ident> = acc.iter().map(|a| format_ident!("{a}_{k}")).collect();
        let y_true = match labels {
            Labels::Dense => quote!(let y_true = y_true_quads[q][#k * #lanes + lane];),
            Labels::Sparse => quote!(let y_true = if j == label { F::ONE } else { F::ZERO };),
        };
        quote! {
            {
                #(let mut #acc = #copies;)*
                for lane in 0..#lanes {
                    let (j, at) = (q * 4 * #lanes + #k * #lanes + lane, lane);
                    let y_pred = y_pred_quads[q][#k * #lanes + lane];
                    #y_true
                    #stmts
                    #(#updates)*
                }
                #(#copies = #acc;)*
            }
        }
    });
    let mut copies = TokenStream::new();
    let mut combine = TokenStream::new();
    for a in accumulators {
        let name = a.ident();
        let k: Vec<Ident> = (0..4).map(|k| format_ident!("{name}_{k}")).collect();
        copies.extend(quote!(#(let mut #k = #name;)*));
        let pick = match a {
            Accumulator::Max(_) => quote!(>),
            _ => quote!(<),
        };
        let (first, later) = (&k[0], &k[1..]);
        combine.extend(quote! {
            for lane in 0..#lanes {
                let mut m = #first[lane];
                #(if #later[lane] #pick m { m = #later[lane]; })*
                #name[lane] = m;
            }
        });
    }
    quote! {
        let (y_pred_quads, _) = y_pred_row.as_chunks::<{ 4 * #lanes }>();
        #dense_split
        let offset = y_pred_quads.len() * 4 * #lanes;
        #copies
        for q in 0..y_pred_quads.len() {
            #(#chains)*
        }
        #combine
        let y_pred_row = &y_pred_row[offset..];
        #dense_rest
    }
}

/// What a loop stores per element: its first `count` roots, by `write`, into `buffers` (which
/// the loop walks along with the inputs).
#[derive(Clone, Copy)]
struct Outputs<'a> {
    count: usize,
    buffers: &'a [&'a str],
    write: &'a dyn Fn(&[TokenStream]) -> TokenStream,
}

/// The running state of one reduction in a pass: one value per lane.
enum Accumulator {
    Sum(Ident),
    Mean(Ident),
    Max(Ident),
    Min(Ident),
    /// The sum of `exp(e - max)` for a `logsumexp` whose maximum is known; finishes as
    /// `max + ln_sum` with `ln_sum` kept for `x - logsumexp(..)`. With a cache, each
    /// `exp(e - max)` is also stored in the buffer, and `1 / sum` kept.
    SumExp {
        sum: Ident,
        max: Ident,
        ln_sum: Ident,
        cache: Option<(Ident, Ident)>,
    },
}

impl Accumulator {
    /// The local holding the lanes.
    fn ident(&self) -> &Ident {
        match self {
            Accumulator::Sum(a)
            | Accumulator::Mean(a)
            | Accumulator::Max(a)
            | Accumulator::Min(a)
            | Accumulator::SumExp { sum: a, .. } => a,
        }
    }

    /// One value per lane, or (grouped) one per lane and row.
    fn init(&self, grouped: bool) -> TokenStream {
        let lanes = LANES;
        let a = self.ident();
        let start = match self {
            Accumulator::Max(_) => quote!(F::NEG_INFINITY),
            Accumulator::Min(_) => quote!(F::INFINITY),
            _ => quote!(F::ZERO),
        };
        if grouped {
            let group = quote!(::losses::__private::GROUP_ROWS);
            let all = format_ident!("{a}_lanes");
            quote!(let mut #all = [[#start; #group]; #lanes];)
        } else {
            quote!(let mut #a = [#start; #lanes];)
        }
    }

    /// Adds `e` to the accumulator's lane (`[lane]`; grouped, `[row]` of the lane's copy).
    fn update(&self, e: &TokenStream, grouped: bool) -> TokenStream {
        let index = if grouped {
            quote!([row])
        } else {
            quote!([lane])
        };
        match self {
            Accumulator::Sum(a) | Accumulator::Mean(a) => quote!(#a #index += #e;),
            // `max` as a comparison: one `maxps` per chunk instead of three operations that
            // also guard against a NaN accumulator, which cannot arise here (it starts at
            // -inf and a NaN `e` never compares greater). So a NaN is skipped either way, and
            // the maximum pass runs one operation per chunk (in four chains over a long row,
            // see `extremes_in_four_chains`).
            Accumulator::Max(a) => {
                quote!(#a #index = { let e = #e; if e > #a #index { e } else { #a #index } };)
            }
            Accumulator::Min(a) => {
                quote!(#a #index = { let e = #e; if e < #a #index { e } else { #a #index } };)
            }
            Accumulator::SumExp {
                sum,
                max,
                cache: None,
                ..
            } => quote!(#sum #index += (#e - #max).exp_nonpositive();),
            Accumulator::SumExp {
                sum,
                max,
                cache: Some((buffer, _)),
                ..
            } => quote! {
                {
                    let e = (#e - #max).exp_nonpositive();
                    #buffer[at] = e;
                    #sum #index += e;
                }
            },
        }
    }

    /// The function of `__private` that combines the lanes (`lanes_sum`, ...).
    fn combine(&self) -> &'static str {
        match self {
            Accumulator::Sum(_) | Accumulator::Mean(_) | Accumulator::SumExp { .. } => "sum",
            Accumulator::Max(_) => "max",
            Accumulator::Min(_) => "min",
        }
    }

    /// The statements after the lanes are combined into `self.ident()`.
    fn finish_combined(&self) -> TokenStream {
        match self {
            Accumulator::Mean(a) => quote!(let #a = #a / count;),
            Accumulator::SumExp {
                sum,
                max,
                ln_sum,
                cache,
            } => {
                let inv = cache
                    .as_ref()
                    .map(|(_, inv_sum)| quote!(let #inv_sum = F::ONE / #sum;));
                quote! {
                    #inv
                    let #ln_sum = #sum.ln();
                    let #sum = #max + #ln_sum;
                }
            }
            _ => TokenStream::new(),
        }
    }

    fn finish(&self) -> TokenStream {
        let a = self.ident();
        let combine = format_ident!("lanes_{}", self.combine());
        let rest = self.finish_combined();
        quote! {
            let #a = ::losses::__private::#combine(&#a);
            #rest
        }
    }

    /// [`finish`](Self::finish) for a group: the lanes of every row combined at once (the
    /// same operations per row, in vector registers).
    fn finish_group(&self) -> (TokenStream, TokenStream) {
        let a = self.ident();
        let all = format_ident!("{a}_lanes");
        let combine = format_ident!("group_lanes_{}", self.combine());
        (
            quote!(let #a = ::losses::__private::#combine(&#all);),
            self.finish_combined(),
        )
    }
}

/// How the row program is laid out.
enum Layout {
    /// One row: row-level values are scalars.
    Row,
    /// `GROUP_ROWS` rows at once, transposed (small rows, where the per-row work of one row
    /// alone - a horizontal sum, a scalar logarithm - costs more than its elements): the
    /// inputs are copied to `y_pred_t[j][row]`, row-level values are arrays with one entry
    /// per row, each loop over the elements runs its body for every row of the group (the
    /// rows are the vector lanes), and row-level statements run in a loop over the rows of
    /// their own, so that they vectorize too. `row_names` are the row-level locals so far.
    Group { row_names: Vec<Ident>, failed: bool },
}

impl Layout {
    /// The statements before the passes: `count`, the label, and (grouped) the transposed
    /// inputs and output buffers.
    fn prologue(&mut self, labels: Labels, buffers: &[&str]) -> TokenStream {
        let sparse = labels == Labels::Sparse;
        let Layout::Group { row_names, .. } = self else {
            let label = sparse.then(|| {
                quote! {
                    // The engine has checked that the label is a class index in 0..count.
                    let label = y_true_row[0].to_f64() as usize;
                }
            });
            return quote! {
                let count = F::from_usize(y_pred_row.len());
                #label
            };
        };
        let group = quote!(::losses::__private::GROUP_ROWS);
        let max = quote!(::losses::__private::GROUP_MAX_COLS);
        row_names.push(format_ident!("count"));
        let y_true = if sparse {
            row_names.push(format_ident!("label"));
            quote! {
                let ct = y_true_rows.len() / #group;
                // The engine has checked that the labels are class indices in 0..count.
                let mut label = [0usize; #group];
                for row in 0..#group {
                    label[row] = y_true_rows[row * ct].to_f64() as usize;
                }
                // The one-hot rows, transposed like a dense `y_true`: the loops then load
                // `y_true` instead of comparing indices.
                let mut y_true_t = [[F::ZERO; #group]; #max];
                for row in 0..#group {
                    if let Some(tj) = y_true_t.get_mut(label[row]) {
                        tj[row] = F::ONE;
                    }
                }
            }
        } else {
            quote! {
                let mut y_true_t = [[F::ZERO; #group]; #max];
                ::losses::__private::rows_to_columns(y_true_rows, c, &mut y_true_t);
            }
        };
        let outputs = buffers.iter().map(|name| {
            let t = format_ident!("{name}_t");
            quote!(let mut #t = [[F::ZERO; #group]; #max];)
        });
        quote! {
            // The engine passes at most GROUP_MAX_COLS columns.
            let c = (y_pred_rows.len() / #group).min(#max);
            let mut y_pred_t = [[F::ZERO; #group]; #max];
            ::losses::__private::rows_to_columns(y_pred_rows, c, &mut y_pred_t);
            #y_true
            #(#outputs)*
            let count = [F::from_usize(c); #group];
        }
    }

    /// Where `at_label` reads the prediction at the label.
    fn at_label(&self) -> TokenStream {
        match self {
            Layout::Row => quote!(y_pred_row[label]),
            Layout::Group { .. } => quote!(y_pred_t[label][row]),
        }
    }

    /// Row-level statements: as they are, or (grouped) run for every row of the group, after
    /// `prologue`, with the row-level locals they define collected into arrays.
    fn row_level(
        &mut self,
        em: &mut Emitter,
        prologue: TokenStream,
        stmts: TokenStream,
    ) -> TokenStream {
        let Layout::Group { row_names, failed } = self else {
            return quote!(#prologue #stmts);
        };
        let Some(defined) = let_names(&stmts) else {
            *failed = true;
            return TokenStream::new();
        };
        if defined.is_empty() {
            return TokenStream::new();
        }
        let temps: Vec<Ident> = defined
            .iter()
            .map(|d| em.local(&format!("{d}_rows")))
            .collect();
        let shadow = row_names.iter().map(|n| quote!(let #n = #n[row];));
        let group = quote!(::losses::__private::GROUP_ROWS);
        let out = quote! {
            let (#(#defined),*) = {
                #(let mut #temps = [::core::default::Default::default(); #group];)*
                for row in 0..#group {
                    #(#shadow)*
                    #prologue
                    #stmts
                    #(#temps[row] = #defined;)*
                }
                (#(#temps),*)
            };
        };
        for d in defined {
            if !row_names.contains(&d) {
                row_names.push(d);
            }
        }
        out
    }
}

/// The locals that the top-level `let` statements of `stmts` define, once each in order of
/// first definition; `None` if one binds a pattern other than a name.
fn let_names(stmts: &TokenStream) -> Option<Vec<Ident>> {
    use proc_macro2::TokenTree;
    let mut names: Vec<Ident> = Vec::new();
    let mut tokens = stmts.clone().into_iter();
    while let Some(t) = tokens.next() {
        let TokenTree::Ident(kw) = t else { continue };
        if kw != "let" {
            continue;
        }
        let name = match tokens.next()? {
            TokenTree::Ident(m) if m == "mut" => match tokens.next()? {
                TokenTree::Ident(name) => name,
                _ => return None,
            },
            TokenTree::Ident(name) => name,
            _ => return None,
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Some(names)
}
