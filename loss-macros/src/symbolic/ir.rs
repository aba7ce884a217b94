//! The expression IR: a hash-consed DAG of scalar nodes.
//!
//! Nodes are `Copy` and refer to their children by [`NodeId`]; building a node that already
//! exists returns the existing id, so common subexpressions are shared by construction. The
//! constructors simplify (see `simplify.rs`) but never change a value on the domain.
//!
//! No `syn` here: the lowering stage builds graphs from user tokens, and the property tests
//! build them from random expressions.

use proc_macro2::Span;
use std::collections::HashMap;

/// Index of a node in its [`Graph`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One-argument float functions. `Sign0` is internal (the derivative of `abs`: 0 at 0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Op1 {
    Neg,
    Ln,
    Exp,
    Sqrt,
    Abs,
    Signum,
    Sign0,
    Tanh,
    Sinh,
    Cosh,
    Sin,
    Cos,
    Recip,
    Ln1p,
    ExpM1,
    Sigmoid,
    Softplus,
    LogSigmoid,
    Powi(i32),
}

impl Op1 {
    /// The function's name in the loss language and on `Float` (`ln`, `ln_1p`, `sigmoid`):
    /// the generated code calls it as a method, the docs print it as a call. `None` for the
    /// operators written otherwise (`-x`, `x.powi(n)`).
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Op1::Neg | Op1::Powi(_) => return None,
            Op1::Ln => "ln",
            Op1::Exp => "exp",
            Op1::Sqrt => "sqrt",
            Op1::Abs => "abs",
            Op1::Signum => "signum",
            Op1::Sign0 => "sign0",
            Op1::Tanh => "tanh",
            Op1::Sinh => "sinh",
            Op1::Cosh => "cosh",
            Op1::Sin => "sin",
            Op1::Cos => "cos",
            Op1::Recip => "recip",
            Op1::Ln1p => "ln_1p",
            Op1::ExpM1 => "exp_m1",
            Op1::Sigmoid => "sigmoid",
            Op1::Softplus => "softplus",
            Op1::LogSigmoid => "log_sigmoid",
        })
    }
}

/// Two-argument float functions.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Op2 {
    Add,
    Sub,
    Mul,
    Div,
    Powf,
    Max,
    Min,
    /// `x * ln(y)`, and exactly 0 where `x == 0`.
    Xlogy,
}

/// Reductions over the row (the last axis) in a row loss.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RowOp {
    Sum,
    Mean,
    Max,
    Min,
    /// `ln(sum(exp(e)))`, computed without overflow.
    LogSumExp,
    /// The value of `e` at the element of the label (sparse losses: `y_true` is the one-hot
    /// indicator of the label there).
    AtLabel,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// A node. Float-valued unless noted; boolean nodes appear only as `Select` conditions and
/// inside other boolean nodes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Node {
    /// A finite float constant, stored as bits so nodes hash.
    Const(u64),
    YTrue,
    YPred,
    /// The i-th float parameter of the loss.
    Param(u16),
    /// The i-th named constant from the user's scope (`PI`, `consts::LN_2`): its value is not
    /// known to the macro, its derivative is zero.
    Extern(u16),
    Unary(Op1, NodeId),
    Binary(Op2, NodeId, NodeId),
    /// `if cond { a } else { b }`.
    Select(NodeId, NodeId, NodeId),
    /// A reduction of an element expression over the row: one value per row.
    Reduce(RowOp, NodeId),
    /// The number of elements in the row (`count()`), as a float.
    Count,
    /// Boolean.
    BoolConst(bool),
    /// Boolean: the i-th bool parameter of the loss.
    BoolParam(u16),
    /// Boolean.
    Compare(Cmp, NodeId, NodeId),
    /// Boolean.
    And(NodeId, NodeId),
    /// Boolean.
    Or(NodeId, NodeId),
    /// Boolean.
    Not(NodeId),
}

impl Node {
    pub fn is_bool(&self) -> bool {
        matches!(
            self,
            Node::BoolConst(_)
                | Node::BoolParam(_)
                | Node::Compare(..)
                | Node::And(..)
                | Node::Or(..)
                | Node::Not(_)
        )
    }

    /// Children in evaluation order.
    pub fn children(&self) -> impl Iterator<Item = NodeId> {
        let (a, b, c) = match *self {
            Node::Unary(_, a) | Node::Not(a) | Node::Reduce(_, a) => (Some(a), None, None),
            Node::Binary(_, a, b) | Node::Compare(_, a, b) | Node::And(a, b) | Node::Or(a, b) => {
                (Some(a), Some(b), None)
            }
            Node::Select(c, a, b) => (Some(c), Some(a), Some(b)),
            _ => (None, None, None),
        };
        a.into_iter().chain(b).chain(c)
    }
}

/// The DAG. Nodes are only ever appended, so a child always has a smaller id than its parent
/// and the id order is a topological order.
#[derive(Default)]
pub struct Graph {
    nodes: Vec<Node>,
    spans: Vec<Span>,
    /// Whether the node's value depends on this element's `y_pred` directly, not through a
    /// row reduction (its local derivative may be non-zero).
    on_pred: Vec<bool>,
    /// Whether the node's value varies along the row (it reads `y_true` or `y_pred` outside
    /// any reduction); otherwise it is one value per row.
    elementwise: Vec<bool>,
    lookup: HashMap<Node, NodeId>,
    /// Memoized first derivatives with respect to `y_pred` (see `diff.rs`).
    pub(crate) derivative_of: HashMap<NodeId, NodeId>,
    /// Memoized partial derivatives with respect to row reductions.
    pub(crate) partial_of: HashMap<(super::diff::Var, NodeId), NodeId>,
    /// Memoized "depends on reduction r" answers, keyed by (r, node).
    pub(crate) reaches: HashMap<(NodeId, NodeId), bool>,
    /// Memoized total derivatives through reductions (`rowdiff.rs`).
    pub(crate) total_of: HashMap<NodeId, NodeId>,
    /// Whether the formula is sparse: `y_true` is the one-hot indicator of the row's label,
    /// so `sum(y_true * e)` is `at_label(e)` (no pass over the row) and `sum(y_true)` is 1.
    pub sparse: bool,
    /// Memoized derivatives of reductions with respect to this element's `y_pred`.
    pub(crate) reduction_gradient_of: HashMap<NodeId, NodeId>,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, id: NodeId) -> Node {
        self.nodes[id.index()]
    }

    pub fn span(&self, id: NodeId) -> Span {
        self.spans[id.index()]
    }

    pub fn depends_on_pred(&self, id: NodeId) -> bool {
        self.on_pred[id.index()]
    }

    pub fn is_bool(&self, id: NodeId) -> bool {
        self.node(id).is_bool()
    }

    /// Whether the node varies along the row (see the field).
    pub fn is_elementwise(&self, id: NodeId) -> bool {
        self.elementwise[id.index()]
    }

    /// Whether `y_pred` is read anywhere below `id`, also inside reductions.
    pub fn reads_pred(&self, id: NodeId) -> bool {
        self.reachable(&[id])
            .into_iter()
            .any(|n| self.node(n) == Node::YPred)
    }

    /// The reduction nodes `id` uses directly: reachable without passing through another
    /// reduction. In id order.
    pub fn direct_reductions(&self, id: NodeId) -> Vec<NodeId> {
        let mut seen = std::collections::HashSet::new();
        let mut found = Vec::new();
        let mut stack = vec![id];
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            match self.node(n) {
                Node::Reduce(..) if n != id => found.push(n),
                node => stack.extend(node.children()),
            }
        }
        found.sort_unstable();
        found
    }

    /// The value of a `Const` node.
    pub fn const_value(&self, id: NodeId) -> Option<f64> {
        match self.node(id) {
            Node::Const(bits) => Some(f64::from_bits(bits)),
            _ => None,
        }
    }

    /// The id of `node` if the graph already has it.
    pub fn find(&self, node: &Node) -> Option<NodeId> {
        self.lookup.get(node).copied()
    }

    /// Interns `node` without simplifying it (the simplifying constructors live in
    /// `simplify.rs` and end here).
    pub fn intern(&mut self, node: Node, span: Span) -> NodeId {
        if let Some(&id) = self.lookup.get(&node) {
            return id;
        }
        let (on_pred, elementwise) = match node {
            Node::YPred => (true, true),
            Node::YTrue => (false, true),
            Node::Reduce(..) | Node::Count => (false, false),
            _ => (
                node.children().any(|c| self.on_pred[c.index()]),
                node.children().any(|c| self.elementwise[c.index()]),
            ),
        };
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(node);
        self.spans.push(span);
        self.on_pred.push(on_pred);
        self.elementwise.push(elementwise);
        self.lookup.insert(node, id);
        id
    }

    pub fn y_true(&mut self, span: Span) -> NodeId {
        self.intern(Node::YTrue, span)
    }

    pub fn y_pred(&mut self, span: Span) -> NodeId {
        self.intern(Node::YPred, span)
    }

    pub fn param(&mut self, index: u16, span: Span) -> NodeId {
        self.intern(Node::Param(index), span)
    }

    pub fn bool_param(&mut self, index: u16, span: Span) -> NodeId {
        self.intern(Node::BoolParam(index), span)
    }

    pub fn external(&mut self, index: u16, span: Span) -> NodeId {
        self.intern(Node::Extern(index), span)
    }

    pub fn bool_const(&mut self, value: bool, span: Span) -> NodeId {
        self.intern(Node::BoolConst(value), span)
    }

    /// A float constant. Non-finite values are not representable as Rust literals, so the
    /// caller must not ask for one (the simplifier refuses to fold to them).
    pub fn constant(&mut self, value: f64, span: Span) -> NodeId {
        debug_assert!(value.is_finite());
        // One zero: -0.0 and 0.0 compare equal everywhere a loss formula can observe them
        // except through signum and division, which the folding rules do not rely on.
        let value = if value == 0.0 { 0.0 } else { value };
        self.intern(Node::Const(value.to_bits()), span)
    }

    /// Ids of all nodes reachable from `roots`, in topological (increasing id) order.
    pub fn reachable(&self, roots: &[NodeId]) -> Vec<NodeId> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<NodeId> = roots.to_vec();
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id.index()], true) {
                continue;
            }
            stack.extend(self.node(id).children());
        }
        (0..self.nodes.len() as u32)
            .map(NodeId)
            .filter(|id| seen[id.index()])
            .collect()
    }
}
