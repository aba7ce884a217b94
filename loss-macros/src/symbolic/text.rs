//! Readable math text for rustdoc: `loss = ...`, `d loss / d y_pred = ...`.
//!
//! Infix operators with the fewest parentheses that keep the math unambiguous (`a + b + c`
//! reads the same either way it is grouped; `a - (b - c)` does not), functions written as
//! calls in the words of the `#[loss]` language (`ln(x)`, `max(a, b)`, `powi(x, 2)`), and
//! `if c { a } else { b }` for piecewise formulas. `sign0(x)` is the sign of `x`, 0 at 0;
//! `is_nan(x)` is written for `x != x`.

use super::ir::{Cmp, Graph, Node, NodeId, Op1, Op2, RowOp};
use std::collections::{HashMap, HashSet};

/// What to call the leaves and the user's `let` bindings.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// Float parameters, by index (`gamma`).
    pub params: Vec<String>,
    /// Boolean parameters, by index (`from_logits`).
    pub bool_params: Vec<String>,
    /// Constants from the user's scope, by index (`PI`).
    pub externs: Vec<String>,
    /// Nodes that print as a name instead of their expression (user `let` bindings).
    pub nodes: HashMap<NodeId, String>,
}

fn indexed(names: &[String], i: u16, prefix: &str) -> String {
    names
        .get(usize::from(i))
        .cloned()
        .unwrap_or_else(|| format!("{prefix}{i}"))
}

/// Binding strength, loosest first.
const SELECT: u8 = 0;
const OR: u8 = 1;
const AND: u8 = 2;
const CMP: u8 = 3;
const ADD: u8 = 4;
const MUL: u8 = 5;
const PREFIX: u8 = 6;
const ATOM: u8 = 7;

/// A float constant, shortest: `0.5`, `2`, `1e-7`.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 || (1e-4..1e6).contains(&a) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

struct Printer<'a> {
    g: &'a Graph,
    names: &'a Names,
    /// Nodes printed as a name: user bindings and lines of a program.
    named: &'a HashMap<NodeId, String>,
}

impl Printer<'_> {
    /// `id` as an operand that needs binding strength at least `min`.
    fn operand(&self, id: NodeId, min: u8) -> String {
        let (text, prec) = self.named_or_expr(id);
        if prec < min {
            format!("({text})")
        } else {
            text
        }
    }

    fn named_or_expr(&self, id: NodeId) -> (String, u8) {
        match self.named.get(&id) {
            Some(name) => (name.clone(), ATOM),
            None => self.expr(id),
        }
    }

    fn call(&self, f: &str, args: &[NodeId]) -> (String, u8) {
        let args: Vec<String> = args.iter().map(|&a| self.operand(a, SELECT)).collect();
        (format!("{f}({})", args.join(", ")), ATOM)
    }

    /// The expression of `id` itself (even if it has a name) and its binding strength.
    fn expr(&self, id: NodeId) -> (String, u8) {
        let g = self.g;
        match g.node(id) {
            Node::Const(bits) => {
                let v = f64::from_bits(bits);
                (number(v), if v < 0.0 { PREFIX } else { ATOM })
            }
            Node::YTrue => ("y_true".into(), ATOM),
            Node::YPred => ("y_pred".into(), ATOM),
            Node::Param(i) => (indexed(&self.names.params, i, "param"), ATOM),
            Node::Extern(i) => (indexed(&self.names.externs, i, "extern"), ATOM),
            Node::BoolConst(b) => (b.to_string(), ATOM),
            Node::BoolParam(i) => (indexed(&self.names.bool_params, i, "flag"), ATOM),
            Node::Unary(op, x) => self.unary(op, x),
            Node::Binary(op, a, b) => self.binary(op, a, b),
            Node::Select(..) => (self.select(id), SELECT),
            Node::Count => ("count()".into(), ATOM),
            Node::Reduce(op, e) => {
                let name = match op {
                    RowOp::Sum => "sum",
                    RowOp::Mean => "mean",
                    RowOp::Max => "max",
                    RowOp::Min => "min",
                    RowOp::LogSumExp => "logsumexp",
                    RowOp::AtLabel => "at_label",
                };
                self.call(name, &[e])
            }
            // `x != x` is how the derivative of max/min asks whether `x` is NaN.
            Node::Compare(Cmp::Ne, a, b) if a == b => {
                (format!("is_nan({})", self.operand(a, SELECT)), ATOM)
            }
            Node::Compare(cmp, a, b) => {
                let op = match cmp {
                    Cmp::Lt => "<",
                    Cmp::Le => "<=",
                    Cmp::Gt => ">",
                    Cmp::Ge => ">=",
                    Cmp::Eq => "==",
                    Cmp::Ne => "!=",
                };
                let (a, b) = (self.operand(a, ADD), self.operand(b, ADD));
                (format!("{a} {op} {b}"), CMP)
            }
            Node::And(a, b) => (self.logic(id, "&&", a, b), AND),
            Node::Or(a, b) => (self.logic(id, "||", a, b), OR),
            Node::Not(x) => (format!("!{}", self.operand(x, PREFIX)), PREFIX),
        }
    }

    /// `a && b`: chains of the same operator need no parentheses, a mix of `&&` and `||` does.
    fn logic(&self, id: NodeId, op: &str, a: NodeId, b: NodeId) -> String {
        let same = |x: NodeId| {
            !self.named.contains_key(&x)
                && std::mem::discriminant(&self.g.node(x))
                    == std::mem::discriminant(&self.g.node(id))
        };
        let side = |x: NodeId| {
            if same(x) {
                self.expr(x).0
            } else {
                self.operand(x, CMP)
            }
        };
        format!("{} {op} {}", side(a), side(b))
    }

    fn select(&self, id: NodeId) -> String {
        let Node::Select(c, a, b) = self.g.node(id) else {
            unreachable!("select() is called on Select nodes")
        };
        let head = format!(
            "if {} {{ {} }} else ",
            self.operand(c, SELECT),
            self.operand(a, SELECT)
        );
        // `else if` chains read better than nested braces.
        let chained = !self.named.contains_key(&b) && matches!(self.g.node(b), Node::Select(..));
        if chained {
            head + &self.select(b)
        } else {
            format!("{head}{{ {} }}", self.operand(b, SELECT))
        }
    }

    fn unary(&self, op: Op1, x: NodeId) -> (String, u8) {
        let f = match (op, op.name()) {
            (_, Some(name)) => name,
            (Op1::Powi(n), None) => {
                return (format!("powi({}, {n})", self.operand(x, SELECT)), ATOM);
            }
            _ => return (format!("-{}", self.operand(x, PREFIX)), PREFIX),
        };
        self.call(f, &[x])
    }

    /// `-y` or a negative constant, unless named: what `a + -y` can subtract instead.
    fn negated(&self, id: NodeId) -> Option<String> {
        if self.named.contains_key(&id) {
            return None;
        }
        match self.g.node(id) {
            Node::Const(bits) if f64::from_bits(bits) < 0.0 => Some(number(-f64::from_bits(bits))),
            Node::Unary(Op1::Neg, y) => Some(self.operand(y, MUL)),
            _ => None,
        }
    }

    fn binary(&self, op: Op2, a: NodeId, b: NodeId) -> (String, u8) {
        let (sym, left, right, prec) = match op {
            // `a + -y` reads as `a - y`, and `a - -y` as `a + y` (the same IEEE operations).
            Op2::Add | Op2::Sub if self.negated(b).is_some() => {
                let sym = if op == Op2::Add { "-" } else { "+" };
                let y = self.negated(b).unwrap_or_default();
                return (format!("{} {sym} {y}", self.operand(a, ADD)), ADD);
            }
            // `-x + b` reads as `b - x`.
            Op2::Add if self.negated(a).is_some() => {
                let x = self.negated(a).unwrap_or_default();
                return (format!("{} - {x}", self.operand(b, ADD)), ADD);
            }
            Op2::Add => ("+", ADD, ADD, ADD),
            Op2::Sub => ("-", ADD, MUL, ADD),
            Op2::Mul => ("*", MUL, MUL, MUL),
            Op2::Div => ("/", MUL, PREFIX, MUL),
            Op2::Powf => return self.call("powf", &[a, b]),
            Op2::Max => return self.call("max", &[a, b]),
            Op2::Min => return self.call("min", &[a, b]),
            Op2::Xlogy => return self.call("xlogy", &[a, b]),
        };
        let (a, b) = (self.operand(a, left), self.operand(b, right));
        (format!("{a} {sym} {b}"), prec)
    }
}

/// `id` as math text. Nodes named in `names.nodes` print as their name, except `id` itself.
/// Shared subexpressions are written out at every use: for a large DAG use
/// [`render_program`].
pub fn render(g: &Graph, id: NodeId, names: &Names) -> String {
    let printer = Printer {
        g,
        names,
        named: &names.nodes,
    };
    printer.expr(id).0
}

/// Leaves, and the negation of a leaf, are cheaper to read inline than as a name.
fn trivial(g: &Graph, id: NodeId) -> bool {
    match g.node(id) {
        Node::Unary(Op1::Neg, x) => g.node(x).children().next().is_none(),
        node => node.children().next().is_none(),
    }
}

/// Lines `name = expr` computing each root, in dependency order. Besides the roots, a node
/// gets its own line if the user named it (`names.nodes`), if it is the derivative of a named
/// node `x` (called `d_x`), or if it is a float expression used more than once (`t1`, `t2`,
/// ...). A root that is already computed by an earlier line reads `name = that_line`.
pub fn render_program(g: &Graph, roots: &[(&str, NodeId)], names: &Names) -> Vec<String> {
    let ids: Vec<NodeId> = roots.iter().map(|&(_, id)| id).collect();
    let live = g.reachable(&ids);
    let mut uses: HashMap<NodeId, usize> = HashMap::new();
    for &id in &live {
        for c in g.node(id).children() {
            *uses.entry(c).or_default() += 1;
        }
    }

    // Names, by priority: roots, user bindings, derivatives of user bindings, generated.
    let mut named: HashMap<NodeId, String> = HashMap::new();
    let mut taken: HashSet<String> = HashSet::new();
    let mut give = |named: &mut HashMap<NodeId, String>, id: NodeId, base: &str| {
        if named.contains_key(&id) {
            return;
        }
        let mut name = base.to_string();
        let mut k = 2;
        while taken.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        taken.insert(name.clone());
        named.insert(id, name);
    };
    for &(name, id) in roots {
        // A trivial root (`1`, `y_pred`) prints inline: naming it would rename every use.
        if !trivial(g, id) {
            give(&mut named, id, name);
        }
    }
    let live_set: HashSet<NodeId> = live.iter().copied().collect();
    for &id in &live {
        if let Some(name) = names.nodes.get(&id) {
            give(&mut named, id, name);
        }
    }
    for &id in &live {
        if let (Some(name), Some(&d)) = (names.nodes.get(&id), g.derivative_of.get(&id))
            && live_set.contains(&d)
            && !trivial(g, d)
        {
            give(&mut named, d, &format!("d_{name}"));
        }
    }
    let mut k = 0;
    for &id in &live {
        let shared = uses.get(&id).copied().unwrap_or(0) > 1;
        if shared && !trivial(g, id) && !g.is_bool(id) && !named.contains_key(&id) {
            k += 1;
            give(&mut named, id, &format!("t{k}"));
        }
    }

    let printer = Printer {
        g,
        names,
        named: &named,
    };
    let mut lines = Vec::new();
    let mut done: HashSet<NodeId> = HashSet::new();
    for &(root_name, root) in roots {
        // Each root's lines in id order: a topological order.
        for id in g.reachable(&[root]) {
            if id != root && named.contains_key(&id) && done.insert(id) {
                lines.push(format!("{} = {}", named[&id], printer.expr(id).0));
            }
        }
        let first = done.insert(root);
        match named.get(&root) {
            Some(name) if !first => {
                if name != root_name {
                    lines.push(format!("{root_name} = {name}"));
                }
            }
            _ => lines.push(format!("{root_name} = {}", printer.expr(root).0)),
        }
    }
    lines
}
