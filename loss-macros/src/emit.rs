//! Scheduling and code generation: straight-line Rust for a set of IR roots.
//!
//! Every non-leaf node becomes one named `let`, emitted once, in dependency order, so shared
//! subexpressions between the value, the gradient and the second derivative are computed
//! once. A node needed by only one branch of an `if` is computed inside that branch (a
//! `bool` parameter such as `from_logits` then costs one predictable branch, not both
//! formulas); a node needed by both branches is hoisted above the `if`.
//!
//! `sigmoid`, `softplus` and `log_sigmoid` of `z` and of `-z` all need `exp(-|z|)`. Where a
//! block holds a `softplus` (or `log_sigmoid`) and another of them of the same `z`, as the
//! value and the gradient of a loss written with `softplus(z)` do, what they compute from it
//! is computed once (`let e_z = z.logistic_parts();`: `ln(1 + e)` and `e / (1 + e)`) and
//! each takes it (`z.softplus_of_parts(e_z)`, the same bits as `z.softplus()`).

use std::collections::{BTreeSet, HashMap, HashSet};

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use crate::symbolic::{Cmp, Graph, Node, NodeId, Op1, Op2, range};

/// What leaf nodes refer to in the generated code.
pub struct Bindings<'a> {
    /// Float parameters, by `Node::Param` index (read as `self.<name>`).
    pub params: &'a [Ident],
    /// How each bool parameter is read, by `Node::BoolParam` index: a const generic of the
    /// kernel (`FROM_LOGITS`), or a field (`self.from_logits`).
    pub bool_params: &'a [TokenStream],
    /// Constants from the user's scope, by `Node::Extern` index.
    pub externs: &'a [TokenStream],
    /// Readable names for nodes (user `let` bindings and their derivatives).
    pub names: &'a HashMap<NodeId, String>,
}

pub struct Emitter<'a> {
    graph: &'a Graph,
    bindings: &'a Bindings<'a>,
    /// Nodes already computed in the current scope, and the local holding each.
    in_scope: HashMap<NodeId, Ident>,
    /// For a `logsumexp` reduction: its running max and the log of its sum, so that
    /// `x - logsumexp(..)` is computed as `(x - max) - ln(sum)`, which keeps the digits of a
    /// log-probability near 0 that `x - (max + ln(sum))` loses when `x` is large.
    logsumexp_parts: HashMap<NodeId, (Ident, Ident)>,
    /// For an argument `z` of `sigmoid`, `softplus`, `log_sigmoid` (of `z` or `-z`): the local
    /// holding `z.logistic_parts()`, once computed in the current scope.
    logistic_parts: HashMap<NodeId, Ident>,
    /// The arguments `z` of a `sigmoid` (of `z` or `-z`) in what the emitter was asked for:
    /// their parts' small sigmoid is read.
    sigmoid_of: HashSet<NodeId>,
    /// Whether a select on this node (a condition) is emitted as a branch.
    branch_on: Vec<bool>,
    /// Whether the node depends on `y_true` or `y_pred` (else it is the same for every
    /// element, and the loop computes it once).
    on_data: Vec<bool>,
    /// Set for the staged form of an element kernel (see [`Staging`]).
    staging: Option<Staging>,
    used_names: HashSet<String>,
    counter: usize,
}

impl<'a> Emitter<'a> {
    pub fn new(graph: &'a Graph, bindings: &'a Bindings<'a>) -> Self {
        // The names the row loops use around the formula's own locals.
        let used_names = [
            "y_true", "y_pred", "self", "F", "count", "label", "j", "at", "lane", "chunk", "n",
            "whole", "scale", "grad", "hess", "row", "c", "ct", "values",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let mut on_data = Vec::with_capacity(graph.len());
        let mut on_flag = Vec::with_capacity(graph.len());
        for i in 0..graph.len() {
            let node = graph.node(NodeId(i as u32));
            let data = matches!(node, Node::YTrue | Node::YPred)
                || node.children().any(|c| on_data[c.index()]);
            let flag = matches!(node, Node::BoolParam(_))
                || node.children().any(|c: NodeId| on_flag[c.index()]);
            on_data.push(data);
            on_flag.push(flag);
        }
        // A select on `bool` parameters only chooses a formula for every element: a branch
        // (computing one side) costs one predictable test. Any other select (on the data, or
        // on a float parameter such as `gamma == 0`) computes both sides and picks one,
        // which keeps the loop branch-free and vectorizable.
        let branch_on: Vec<bool> = on_flag
            .iter()
            .zip(&on_data)
            .map(|(&f, &d)| f && !d)
            .collect();
        Emitter {
            graph,
            bindings,
            in_scope: HashMap::new(),
            logsumexp_parts: HashMap::new(),
            logistic_parts: HashMap::new(),
            sigmoid_of: HashSet::new(),
            branch_on,
            on_data,
            staging: None,
            used_names,
            counter: 0,
        }
    }

    /// Emits the staged form: every expensive call on the data goes through the loop's
    /// `stage` (see [`Staging`]).
    pub fn staged(mut self) -> Self {
        self.used_names.insert("stage".to_string());
        self.staging = Some(Staging::default());
        self
    }

    /// The levels and slots of the staged calls emitted so far (0 when not staged).
    pub fn stage_levels(&self) -> (u8, usize) {
        self.staging
            .as_ref()
            .map_or((0, 0), |s| (s.max_level, s.next_slot))
    }

    /// Statements computing `roots`, and an expression for each root.
    pub fn program(&mut self, roots: &[NodeId]) -> (TokenStream, Vec<TokenStream>) {
        let mut stack = roots.to_vec();
        let mut seen = HashSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            let node = self.graph.node(id);
            if let Node::Unary(Op1::Sigmoid, _) = node {
                self.sigmoid_of.extend(self.logistic_argument(node));
            }
            stack.extend(node.children());
        }
        self.block(roots)
    }

    fn block(&mut self, roots: &[NodeId]) -> (TokenStream, Vec<TokenStream>) {
        let mut here: Vec<NodeId> = self.unconditional(roots).into_iter().collect();
        let shared = self.shared_exponentials(&here);
        // A single result computed last is the block's tail expression, not a `let` that is
        // returned at once.
        let tail = match (roots, here.last()) {
            ([root], Some(&last)) if last == *root && !self.is_branch(last) => here.pop(),
            _ => None,
        };
        let mut stmts = TokenStream::new();
        for id in here {
            stmts.extend(self.logistic_parts_stmt(id, &shared));
            let stmt = self.let_stmt(id);
            stmts.extend(stmt);
        }
        let exprs = match tail {
            Some(id) => {
                stmts.extend(self.logistic_parts_stmt(id, &shared));
                let node = self.graph.node(id);
                let op = self.operation(node, self.graph.span(id));
                vec![self.through_stage(id, node, op)]
            }
            None => roots.iter().map(|&r| self.reference(r)).collect(),
        };
        (stmts, exprs)
    }

    /// For `sigmoid`, `softplus` or `log_sigmoid` of `z` or of `-z`: `z`, whose `exp(-|z|)`
    /// each of them computes.
    fn logistic_argument(&self, node: Node) -> Option<NodeId> {
        match node {
            Node::Unary(Op1::Sigmoid | Op1::Softplus | Op1::LogSigmoid, a) => {
                match self.graph.node(a) {
                    Node::Unary(Op1::Neg, z) => Some(z),
                    _ => Some(a),
                }
            }
            _ => None,
        }
    }

    /// The arguments `z` whose `exp(-|z|)` the nodes `here` share: a `softplus` (or
    /// `log_sigmoid`) and at least one other of the three, of `z` or `-z` (in a staged body,
    /// a `softplus` alone). (`sigmoid(z)` with `sigmoid(-z)` alone, the second derivative of
    /// a sigmoid, keeps its two plain calls, and its generated code as it was. Once inlined,
    /// LLVM merges the identical exponentials of plain calls too; the shared local makes it
    /// certain, not up to the optimizer.)
    fn shared_exponentials(&self, here: &[NodeId]) -> HashSet<NodeId> {
        let mut uses: HashMap<NodeId, (usize, bool)> = HashMap::new();
        for &id in here {
            let node = self.graph.node(id);
            if let Some(z) = self.logistic_argument(node) {
                let (count, softplus) = uses.entry(z).or_default();
                *count += 1;
                *softplus |= !matches!(node, Node::Unary(Op1::Sigmoid, _));
            }
        }
        // Staged, a lone `softplus` takes the parts too: the stage computes them a block at a
        // time (its exponential and logarithm as short loops), where the call alone would run
        // both as one long chain per element (a value-only pass of log-cosh took longer than
        // its value and gradient).
        let staged = self.staging.is_some();
        uses.into_iter()
            .filter(|&(_, (count, softplus))| softplus && (count >= 2 || staged))
            .map(|(z, _)| z)
            .collect()
    }

    /// `let e_z = z.logistic_parts();` before the first node of the block that takes it.
    fn logistic_parts_stmt(&mut self, id: NodeId, shared: &HashSet<NodeId>) -> TokenStream {
        let z = match self.logistic_argument(self.graph.node(id)) {
            Some(z) if shared.contains(&z) && !self.logistic_parts.contains_key(&z) => z,
            _ => return TokenStream::new(),
        };
        let base = match (self.in_scope.get(&z), self.graph.node(z)) {
            (Some(name), _) => format!("e_{name}"),
            (None, Node::YPred) => "e_y_pred".to_string(),
            (None, Node::YTrue) => "e_y_true".to_string(),
            _ => "e".to_string(),
        };
        let e = self.local(&base);
        let z_ref = self.reference(z);
        self.logistic_parts.insert(z, e.clone());
        let on_data = self.on_data[z.index()];
        let call = match &mut self.staging {
            // Through the stage, which computes a block of them at once.
            Some(staging) => {
                let above = staging.level(z);
                match on_data.then(|| staging.take(above, 2)).flatten() {
                    Some((level, k)) => {
                        staging.e_levels.insert(z, level);
                        let sigmoid = self.sigmoid_of.contains(&z);
                        quote!(stage.logistic_parts(#level, #k, #z_ref, #sigmoid))
                    }
                    None => {
                        staging.e_levels.insert(z, above);
                        quote!(#z_ref.logistic_parts())
                    }
                }
            }
            None => quote!(#z_ref.logistic_parts()),
        };
        quote! { let #e = #call; }
    }

    /// `op`, the code of node `id`, through the loop's stage when the kernel is staged and
    /// `id` is an expensive call on the data.
    fn through_stage(&mut self, id: NodeId, node: Node, op: TokenStream) -> TokenStream {
        let shared_e = self
            .logistic_argument(node)
            .filter(|z| self.logistic_parts.contains_key(z));
        let expensive = self.on_data[id.index()] && is_expensive(node);
        let Some(staging) = &mut self.staging else {
            return op;
        };
        let mut above = node.children().map(|c| staging.level(c)).max().unwrap_or(0);
        if let Some(z) = shared_e {
            above = above.max(staging.e_levels.get(&z).copied().unwrap_or(0));
        }
        let (op, level) = staging.place(above, expensive, op);
        staging.levels.insert(id, level);
        op
    }

    /// Nodes this block must compute: everything `roots` need, except what is already in
    /// scope and what only one branch of an `if` needs; in topological (id) order.
    fn unconditional(&self, roots: &[NodeId]) -> BTreeSet<NodeId> {
        let mut here = BTreeSet::new();
        for &r in roots {
            self.visit_unconditional(r, &mut here);
        }
        loop {
            let selects: Vec<(NodeId, NodeId)> = here
                .iter()
                .filter_map(|&id| match self.graph.node(id) {
                    Node::Select(_, a, b) => Some((a, b)),
                    _ => None,
                })
                .collect();
            let before = here.len();
            for (a, b) in selects {
                let in_a = self.closure(a, &here);
                let in_b = self.closure(b, &here);
                for &id in in_a.intersection(&in_b) {
                    self.visit_unconditional(id, &mut here);
                }
            }
            if here.len() == before {
                return here;
            }
        }
    }

    fn visit_unconditional(&self, id: NodeId, here: &mut BTreeSet<NodeId>) {
        if self.is_leaf(id) || self.in_scope.contains_key(&id) || !here.insert(id) {
            return;
        }
        match self.graph.node(id) {
            // A branch computes only the side taken (see `branch_on`).
            Node::Select(c, _, _) if self.branch_on[c.index()] => self.visit_unconditional(c, here),
            node => {
                for child in node.children() {
                    self.visit_unconditional(child, here);
                }
            }
        }
    }

    /// The nodes `id` needs unconditionally that are not yet computed (not looking into the
    /// branches of nested `if`s: hoisting what only some paths need would compute it on
    /// every path).
    fn closure(&self, id: NodeId, here: &BTreeSet<NodeId>) -> BTreeSet<NodeId> {
        let mut needed = BTreeSet::new();
        self.visit_unconditional(id, &mut needed);
        needed.retain(|n| !here.contains(n));
        needed
    }

    /// A select on parameters only, emitted as a real branch with its own scopes.
    fn is_branch(&self, id: NodeId) -> bool {
        matches!(self.graph.node(id), Node::Select(c, _, _) if self.branch_on[c.index()])
    }

    fn is_leaf(&self, id: NodeId) -> bool {
        matches!(
            self.graph.node(id),
            Node::Const(_)
                | Node::YTrue
                | Node::YPred
                | Node::Param(_)
                | Node::Extern(_)
                | Node::BoolConst(_)
                | Node::BoolParam(_)
                | Node::Count
                // Computed by a pass over the row (`emit_row.rs`) before anything uses it.
                | Node::Reduce(..)
        )
    }

    /// Makes `id` available as the local `ident` (a reduction's result after its pass).
    pub fn bind(&mut self, id: NodeId, ident: Ident) {
        self.in_scope.insert(id, ident);
    }

    /// Makes a `logsumexp` reduction available as `whole = max + ln_sum`, with its parts.
    pub fn bind_logsumexp(&mut self, id: NodeId, whole: Ident, max: Ident, ln_sum: Ident) {
        self.in_scope.insert(id, whole);
        self.logsumexp_parts.insert(id, (max, ln_sum));
    }

    /// Whether any of `roots` reads `y_true` element by element (row-level values in scope
    /// and reductions, computed before, do not count).
    pub fn reads_y_true(&self, roots: &[NodeId]) -> bool {
        let mut stack = roots.to_vec();
        let mut seen = HashSet::new();
        while let Some(id) = stack.pop() {
            if !seen.insert(id) || self.in_scope.contains_key(&id) {
                continue;
            }
            match self.graph.node(id) {
                Node::YTrue => return true,
                Node::Reduce(..) => {}
                node => stack.extend(node.children()),
            }
        }
        false
    }

    /// Whether `id` has been computed in the current scope.
    pub fn is_in_scope(&self, id: NodeId) -> bool {
        self.in_scope.contains_key(&id)
    }

    /// Runs `f` in a nested scope (a loop body): the locals it computes are forgotten after.
    pub fn scoped<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        let saved = (self.in_scope.clone(), self.logistic_parts.clone());
        let result = f(self);
        (self.in_scope, self.logistic_parts) = saved;
        result
    }

    /// A fresh local name, unique in the generated method.
    pub fn local(&mut self, base: &str) -> Ident {
        let mut name = base.to_string();
        let mut k = 1;
        while !self.used_names.insert(name.clone()) {
            k += 1;
            name = format!("{base}_{k}");
        }
        format_ident!("{}", name)
    }

    fn fresh_name(&mut self, id: NodeId) -> Ident {
        let base = match self.bindings.names.get(&id) {
            Some(name) => name.clone(),
            None => {
                self.counter += 1;
                format!("t{}", self.counter)
            }
        };
        self.local(&base)
    }

    fn let_stmt(&mut self, id: NodeId) -> TokenStream {
        let span = self.graph.span(id);
        let value = match self.graph.node(id) {
            Node::Select(c, a, b) if self.branch_on[c.index()] => {
                let cond = self.reference(c);
                let (then_stmts, then_expr) = self.scoped_block(a);
                let (else_stmts, else_expr) = self.scoped_block(b);
                quote_spanned! {span=>
                    if #cond { #then_stmts #then_expr } else { #else_stmts #else_expr }
                }
            }
            node => {
                let op = self.operation(node, span);
                self.through_stage(id, node, op)
            }
        };
        if let Some(staging) = &mut self.staging {
            // A branch: as deep as its deepest side (already recorded).
            let level = self
                .graph
                .node(id)
                .children()
                .map(|c| staging.level(c))
                .max();
            staging.levels.entry(id).or_insert(level.unwrap_or(0));
        }
        let name = self.fresh_name(id);
        self.in_scope.insert(id, name.clone());
        quote! { let #name = #value; }
    }

    /// A branch of an `if`: its locals go out of scope after it.
    fn scoped_block(&mut self, root: NodeId) -> (TokenStream, TokenStream) {
        self.scoped(|em| {
            let (stmts, mut exprs) = em.block(&[root]);
            (stmts, exprs.remove(0))
        })
    }

    /// An expression for a node that is a leaf or already in scope.
    fn reference(&self, id: NodeId) -> TokenStream {
        if let Some(name) = self.in_scope.get(&id) {
            return quote!(#name);
        }
        let span = self.graph.span(id);
        match self.graph.node(id) {
            Node::Const(bits) => float_literal(f64::from_bits(bits)),
            Node::YTrue => quote!(y_true),
            Node::YPred => quote!(y_pred),
            Node::Param(i) => {
                let p = &self.bindings.params[i as usize];
                quote!(self.#p)
            }
            Node::BoolParam(i) => {
                let p = &self.bindings.bool_params[i as usize];
                quote!(#p)
            }
            Node::Extern(i) => {
                let path = &self.bindings.externs[i as usize];
                // The binding's type annotation puts a type error (a constant that is not
                // `f64`) on the user's own token.
                quote_spanned!(span=> F::from_f64({ let constant: f64 = #path; constant }))
            }
            Node::BoolConst(b) => quote!(#b),
            Node::Count => quote!(count),
            other => unreachable!("node {other:?} is scheduled before it is used"),
        }
    }

    fn operation(&self, node: Node, span: Span) -> TokenStream {
        let shared_e = self
            .logistic_argument(node)
            .and_then(|z| self.logistic_parts.get(&z));
        if let (Node::Unary(op, a), Some(e)) = (node, shared_e) {
            let a = self.reference(a);
            let method = match op {
                Op1::Sigmoid => "sigmoid_of_parts",
                Op1::Softplus => "softplus_of_parts",
                _ => "log_sigmoid_of_parts",
            };
            let method = Ident::new(method, span);
            return quote_spanned!(span=> #a.#method(#e));
        }
        match node {
            Node::Unary(op, a) => {
                // A logarithm of a positive normal number (`ln(clip(p, eps, 1 - eps))`) skips
                // the general one's tests for zero, negatives, subnormals and infinity.
                let normal = op == Op1::Ln && range::is_positive_normal(self.graph, a);
                let a = self.reference(a);
                let method = match (op, op.name()) {
                    _ if normal => "ln_normal",
                    (_, Some(name)) => name,
                    (Op1::Powi(n), None) => return quote_spanned!(span=> #a.powi(#n)),
                    _ => return quote_spanned!(span=> -#a),
                };
                let method = Ident::new(method, span);
                quote_spanned!(span=> #a.#method())
            }
            Node::Binary(Op2::Sub, a, b) if self.logsumexp_parts.contains_key(&b) => {
                let (max, ln_sum) = &self.logsumexp_parts[&b];
                let a = self.reference(a);
                quote_spanned!(span=> (#a - #max) - #ln_sum)
            }
            Node::Binary(op, a, b) => {
                let (a, b) = (self.reference(a), self.reference(b));
                match op {
                    Op2::Add => quote_spanned!(span=> #a + #b),
                    Op2::Sub => quote_spanned!(span=> #a - #b),
                    Op2::Mul => quote_spanned!(span=> #a * #b),
                    Op2::Div => quote_spanned!(span=> #a / #b),
                    Op2::Powf => quote_spanned!(span=> #a.powf(#b)),
                    Op2::Max => quote_spanned!(span=> #a.max(#b)),
                    Op2::Min => quote_spanned!(span=> #a.min(#b)),
                    Op2::Xlogy => quote_spanned!(span=> #a.xlogy(#b)),
                }
            }
            // `x != x` is how the derivative rules ask whether x is NaN; written as such it
            // would trip clippy's `eq_op` in the user's crate.
            Node::Compare(Cmp::Ne, a, b) if a == b => {
                let a = self.reference(a);
                quote_spanned!(span=> #a.is_nan())
            }
            Node::Compare(op, a, b) => {
                let (a, b) = (self.reference(a), self.reference(b));
                match op {
                    Cmp::Lt => quote_spanned!(span=> #a < #b),
                    Cmp::Le => quote_spanned!(span=> #a <= #b),
                    Cmp::Gt => quote_spanned!(span=> #a > #b),
                    Cmp::Ge => quote_spanned!(span=> #a >= #b),
                    Cmp::Eq => quote_spanned!(span=> #a == #b),
                    Cmp::Ne => quote_spanned!(span=> #a != #b),
                }
            }
            Node::And(a, b) => {
                let (a, b) = (self.reference(a), self.reference(b));
                quote_spanned!(span=> #a && #b)
            }
            Node::Or(a, b) => {
                let (a, b) = (self.reference(a), self.reference(b));
                quote_spanned!(span=> #a || #b)
            }
            Node::Not(a) => {
                let a = self.reference(a);
                quote_spanned!(span=> !#a)
            }
            Node::Select(c, a, b) => {
                let (c, a, b) = (self.reference(c), self.reference(a), self.reference(b));
                quote_spanned!(span=> if #c { #a } else { #b })
            }
            leaf => unreachable!("leaf {leaf:?} is never bound to a local"),
        }
    }
}

/// Where the staged form of an element kernel puts its expensive calls. A call on the data
/// is one level above the deepest staged call it depends on; the element loop runs one pass
/// per level, each computing that level's calls into their slots, then a last pass with
/// every call read back (`ElementKernel::value_grad_staged` in the runtime). Calls beyond
/// the slots or levels the runtime has are computed where they stand, in the passes that
/// need them.
#[derive(Default)]
struct Staging {
    /// The level of each node emitted so far (0: no staged call below it).
    levels: HashMap<NodeId, u8>,
    /// The level of the shared `logistic_parts` of each argument.
    e_levels: HashMap<NodeId, u8>,
    next_slot: usize,
    max_level: u8,
}

/// What the runtime's staged loop holds (`STAGE_SLOTS`, `STAGE_LEVELS` in `kernel.rs`).
const STAGE_SLOTS: usize = 8;
const STAGE_LEVELS: u8 = 1;

impl Staging {
    fn level(&self, id: NodeId) -> u8 {
        self.levels.get(&id).copied().unwrap_or(0)
    }

    /// A level and the first of `width` slots for a call above level `above`, if any are left.
    fn take(&mut self, above: u8, width: usize) -> Option<(u8, usize)> {
        if above >= STAGE_LEVELS || self.next_slot + width > STAGE_SLOTS {
            return None;
        }
        let slot = self.next_slot;
        self.next_slot += width;
        self.max_level = self.max_level.max(above + 1);
        Some((above + 1, slot))
    }

    /// `call` above level `above`: through the stage if `stage` and a slot is left, else as
    /// it is. Returns its code and its level.
    fn place(&mut self, above: u8, stage: bool, call: TokenStream) -> (TokenStream, u8) {
        match stage.then(|| self.take(above, 1)).flatten() {
            Some((level, k)) => (staged_call(level, k, call), level),
            None => (call, above),
        }
    }
}

/// `call` through the loop's stage at `level`, in slot `k`: computed in the pass of its
/// level, read back in the passes after. (Shared `logistic_parts` go through
/// `stage.logistic_parts`, which the loop computes a block at a time.)
fn staged_call(level: u8, k: usize, call: TokenStream) -> TokenStream {
    quote!(stage.slot(#level, #k, if stage.computes(#level) { #call } else { F::ZERO }))
}

/// Calls that cost tens of instructions: the ones worth a pass of their own.
fn is_expensive(node: Node) -> bool {
    match node {
        Node::Unary(op, _) => matches!(
            op,
            Op1::Ln
                | Op1::Exp
                | Op1::Tanh
                | Op1::Sinh
                | Op1::Cosh
                | Op1::Sin
                | Op1::Cos
                | Op1::Ln1p
                | Op1::ExpM1
                | Op1::Sigmoid
                | Op1::Softplus
                | Op1::LogSigmoid
        ),
        Node::Binary(op, _, _) => matches!(op, Op2::Powf | Op2::Xlogy),
        _ => false,
    }
}

/// `F::from_f64(0.5)`; the IR only holds finite constants.
fn float_literal(value: f64) -> TokenStream {
    let lit = Literal::f64_unsuffixed(value.abs());
    if value.is_sign_negative() {
        quote!(F::from_f64(-#lit))
    } else {
        quote!(F::from_f64(#lit))
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    /// The kernel methods `value`, `value_grad` and `grad_hess` of the loss `item`, as text.
    fn kernel_methods(item: TokenStream) -> [String; 3] {
        let expanded = crate::expand::loss(quote!(), item).to_string();
        assert!(!expanded.contains("compile_error"), "{expanded}");
        ["value_staged", "value_grad_staged", "grad_hess"]
            .map(|method| crate::expand::tests::method_body(&expanded, method))
    }

    fn count(body: &str, call: &str) -> usize {
        body.matches(&format!(". {call} (")).count()
    }

    #[test]
    fn softplus_and_its_sigmoid_gradient_share_one_exponential() {
        let [value, value_grad, grad_hess] = kernel_methods(quote! {
            fn logit_loss(y_true: f64, y_pred: f64) -> f64 {
                softplus(y_pred) - y_true * y_pred
            }
        });
        assert_eq!(count(&value_grad, "logistic_parts"), 1, "{value_grad}");
        assert!(
            value_grad
                .contains("let e_y_pred = stage . logistic_parts (1u8 , 0usize , y_pred , true) ;"),
            "{value_grad}"
        );
        assert_eq!(count(&value_grad, "softplus_of_parts"), 1, "{value_grad}");
        assert_eq!(count(&value_grad, "sigmoid_of_parts"), 1, "{value_grad}");
        assert_eq!(count(&value_grad, "softplus"), 0, "{value_grad}");
        assert_eq!(count(&value_grad, "sigmoid"), 0, "{value_grad}");
        // Alone, a softplus of the staged value goes through the stage too (its block
        // computes the logarithms, not the sigmoids).
        assert!(
            value.contains(
                "let e_y_pred = stage . logistic_parts (1u8 , 0usize , y_pred , false) ;"
            ),
            "{value}"
        );
        assert_eq!(count(&value, "softplus_of_parts"), 1, "{value}");
        assert_eq!(count(&value, "softplus"), 0, "{value}");
        // sigmoid(y_pred) and sigmoid(-y_pred) without a softplus keep theirs (see
        // `shared_exponentials`).
        assert_eq!(count(&grad_hess, "logistic_parts"), 0, "{grad_hess}");
        assert_eq!(count(&grad_hess, "sigmoid"), 2, "{grad_hess}");
    }

    #[test]
    fn logarithms_of_clipped_probabilities_skip_the_special_cases() {
        let [value, value_grad, _] = kernel_methods(quote! {
            fn bce(y_true: f64, y_pred: f64) -> f64 {
                let p = clip(y_pred, 1e-7, 1.0 - 1e-7);
                -(y_true * p.ln() + (1.0 - y_true) * (1.0 - p).ln())
            }
        });
        for body in [&value, &value_grad] {
            assert_eq!(count(body, "ln_normal"), 2, "{body}");
            assert_eq!(count(body, "ln"), 0, "{body}");
        }
        // Unclipped, or clipped to 1 (where `1 - p` is 0): the general logarithm.
        let [value, ..] = kernel_methods(quote! {
            fn bce(y_true: f64, y_pred: f64) -> f64 {
                let p = clip(y_pred, 1e-7, 1.0);
                -(y_true * y_pred.ln() + (1.0 - y_true) * (1.0 - p).ln())
            }
        });
        assert_eq!(count(&value, "ln_normal"), 0, "{value}");
        assert_eq!(count(&value, "ln"), 2, "{value}");
        // A ratio of clipped values (Kullback-Leibler): between 1e-7 and 1e7.
        let [value, ..] = kernel_methods(quote! {
            fn kld(y_true: f64, y_pred: f64) -> f64 {
                let t = clip(y_true, 1e-7, 1.0);
                t * (t / clip(y_pred, 1e-7, 1.0)).ln()
            }
        });
        assert_eq!(count(&value, "ln_normal"), 1, "{value}");
    }

    #[test]
    fn log_sigmoid_of_z_and_minus_z_share_one_exponential() {
        let [value, value_grad, _] = kernel_methods(quote! {
            fn bce_logits(y_true: f64, y_pred: f64) -> f64 {
                -(y_true * log_sigmoid(y_pred) + (1.0 - y_true) * log_sigmoid(-y_pred))
            }
        });
        for body in [&value, &value_grad] {
            assert_eq!(count(body, "logistic_parts"), 1, "{body}");
            assert_eq!(count(body, "log_sigmoid_of_parts"), 2, "{body}");
            assert_eq!(count(body, "log_sigmoid"), 0, "{body}");
            assert_eq!(count(body, "sigmoid"), 0, "{body}");
        }
    }

    #[test]
    fn a_named_argument_names_its_exponential() {
        // Keras's log_cosh: the softplus and the sigmoid of its derivative take `-2 x`.
        let [_, value_grad, _] = kernel_methods(quote! {
            fn log_cosh(y_true: f64, y_pred: f64) -> f64 {
                let x = y_pred - y_true;
                let z = -2.0 * x;
                x + softplus(z) - std::f64::consts::LN_2
            }
        });
        assert_eq!(count(&value_grad, "logistic_parts"), 1, "{value_grad}");
        assert!(
            value_grad.contains("let e_z = stage . logistic_parts (1u8 , 0usize , z , true) ;"),
            "{value_grad}"
        );
        assert!(
            value_grad.contains("z . softplus_of_parts (e_z)"),
            "{value_grad}"
        );
        assert!(
            value_grad.contains("z . sigmoid_of_parts (e_z)"),
            "{value_grad}"
        );
    }

    fn staging_of(item: TokenStream) -> (String, String) {
        let expanded = crate::expand::loss(quote!(), item).to_string();
        assert!(!expanded.contains("compile_error"), "{expanded}");
        let consts = ["LEVELS", "SLOTS"]
            .map(|c| {
                let at = expanded.find(&format!("const {c} :")).expect(c);
                expanded[at..at + expanded[at..].find(';').unwrap()]
                    .trim()
                    .to_string()
            })
            .join("; ");
        let body = crate::expand::tests::method_body(&expanded, "value_grad_staged");
        (consts, body)
    }

    #[test]
    fn the_staged_form_records_the_first_expensive_calls() {
        // The shared exponential is the first call (two slots: its low part too); the
        // softplus and sigmoids that take it are computed in the last pass.
        let (consts, body) = staging_of(quote! {
            fn bce_logits(y_true: f64, y_pred: f64) -> f64 {
                -(y_true * log_sigmoid(y_pred) + (1.0 - y_true) * log_sigmoid(-y_pred))
            }
        });
        assert_eq!(
            consts,
            "const LEVELS : u8 = 1u8; const SLOTS : usize = 2usize"
        );
        assert_eq!(body.matches("stage .").count(), 1, "{body}");
        assert!(
            body.contains("stage . logistic_parts (1u8 , 0usize , y_pred , true)"),
            "{body}"
        );
        // Two logarithms of the data: one slot each. The derivative's divisions are cheap.
        let (consts, body) = staging_of(quote! {
            fn bce(y_true: f64, y_pred: f64) -> f64 {
                -(y_true * y_pred.ln() + (1.0 - y_true) * (1.0 - y_pred).ln())
            }
        });
        assert_eq!(
            consts,
            "const LEVELS : u8 = 1u8; const SLOTS : usize = 2usize"
        );
        assert!(body.contains("stage . slot (1u8 , 0usize , if stage . computes (1u8) { y_pred . ln () } else { F :: ZERO })"), "{body}");
        assert!(body.contains("stage . slot (1u8 , 1usize ,"), "{body}");
    }

    #[test]
    fn the_staged_form_leaves_cheap_and_constant_calls_alone() {
        // A logarithm of a parameter is the same for every element (the loop hoists it);
        // squares, roots and divisions are a few instructions.
        let (consts, body) = staging_of(quote! {
            fn scaled(y_true: f64, y_pred: f64, #[default(2.0)] a: f64) -> f64 {
                ((y_pred - y_true).powi(2) + 1.0).sqrt() / a.ln()
            }
        });
        assert_eq!(
            consts,
            "const LEVELS : u8 = 0u8; const SLOTS : usize = 0usize"
        );
        assert!(!body.contains("stage ."), "{body}");
        // Nor is the shared exponential of a parameter's softplus and sigmoid.
        let (consts, body) = staging_of(quote! {
            fn scaled_logistic(y_true: f64, y_pred: f64, #[default(2.0)] a: f64) -> f64 {
                y_pred * softplus(a) + y_true * sigmoid(a)
            }
        });
        assert!(body.contains("logistic_parts"), "{body}");
        assert_eq!(
            consts,
            "const LEVELS : u8 = 0u8; const SLOTS : usize = 0usize"
        );
        assert!(!body.contains("stage ."), "{body}");
        // Past the slots the runtime holds, calls are computed where they stand.
        let (consts, body) = staging_of(quote! {
            fn many(y_true: f64, y_pred: f64) -> f64 {
                y_pred.exp() + (2.0 * y_pred).exp() + (3.0 * y_pred).exp()
                    + (4.0 * y_pred).exp() + (5.0 * y_pred).exp() + (6.0 * y_pred).exp()
                    + (7.0 * y_pred).exp() + (8.0 * y_pred).exp() + (9.0 * y_pred).exp()
                    + y_true.ln()
            }
        });
        assert_eq!(
            consts,
            "const LEVELS : u8 = 1u8; const SLOTS : usize = 8usize"
        );
        assert_eq!(body.matches("stage . slot").count(), 8, "{body}");
        assert_eq!(body.matches(". exp ()").count(), 9, "{body}");
    }
}
