//! Lowering: the body of a `#[loss]` function into the expression IR.
//!
//! The body is ordinary Rust, and this module decides which Rust is part of the loss
//! language. Everything else is rejected with an error on the user's own tokens, saying what
//! to write instead.

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{BinOp, Block, Expr, Lit, Pat, Stmt, UnOp};

use crate::ast::{LossFn, ParamType, Shape};
use crate::ctxt::{Ctxt, did_you_mean};
use crate::symbolic::{Cmp, Graph, NodeId, Op1, Op2, RowOp};

/// Keras's fuzz factor, the value of `EPSILON` inside a loss body.
pub const EPSILON: f64 = 1e-7;

/// The lowered body.
pub struct Lowered {
    pub graph: Graph,
    /// The loss value.
    pub value: NodeId,
    /// Names of user `let` bindings, for readable generated code and docs.
    pub names: HashMap<NodeId, String>,
    /// Constants from the user's scope, in `Node::Extern` index order.
    pub externs: Vec<TokenStream>,
}

const METHODS_0: &[(&str, Op1)] = &[
    ("ln", Op1::Ln),
    ("exp", Op1::Exp),
    ("sqrt", Op1::Sqrt),
    ("abs", Op1::Abs),
    ("signum", Op1::Signum),
    ("tanh", Op1::Tanh),
    ("sinh", Op1::Sinh),
    ("cosh", Op1::Cosh),
    ("sin", Op1::Sin),
    ("cos", Op1::Cos),
    ("recip", Op1::Recip),
    ("ln_1p", Op1::Ln1p),
    ("exp_m1", Op1::ExpM1),
];
const METHODS_1: &[(&str, Op2)] = &[("powf", Op2::Powf), ("max", Op2::Max), ("min", Op2::Min)];
const FUNCTIONS_1: &[(&str, Op1)] = &[
    ("sigmoid", Op1::Sigmoid),
    ("softplus", Op1::Softplus),
    ("log_sigmoid", Op1::LogSigmoid),
];
/// Reductions over the row, for row losses.
const REDUCTIONS: &[(&str, RowOp)] = &[
    ("sum", RowOp::Sum),
    ("mean", RowOp::Mean),
    ("max", RowOp::Max),
    ("min", RowOp::Min),
    ("logsumexp", RowOp::LogSumExp),
    ("at_label", RowOp::AtLabel),
];
/// f64 methods that exist but have no useful derivative, with what to write instead.
const NOT_DIFFERENTIABLE: &[(&str, &str)] = &[
    (
        "floor",
        "it is piecewise constant, so its gradient is zero almost everywhere",
    ),
    (
        "ceil",
        "it is piecewise constant, so its gradient is zero almost everywhere",
    ),
    (
        "round",
        "it is piecewise constant, so its gradient is zero almost everywhere",
    ),
    (
        "trunc",
        "it is piecewise constant, so its gradient is zero almost everywhere",
    ),
    ("fract", "it jumps at every integer"),
    ("rem_euclid", "it jumps at every multiple of its argument"),
    ("to_bits", "it is not a number-valued function"),
];

fn all_method_names() -> impl Iterator<Item = &'static str> {
    METHODS_0
        .iter()
        .map(|m| m.0)
        .chain(METHODS_1.iter().map(|m| m.0))
        .chain(["powi", "clamp"])
}

fn all_function_names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS_1.iter().map(|f| f.0).chain(["clip", "xlogy"])
}

pub fn lower(cx: &Ctxt, loss: &LossFn) -> Option<Lowered> {
    let mut lowerer = Lowerer {
        cx,
        graph: Graph::new(),
        scopes: vec![Vec::new()],
        names: HashMap::new(),
        externs: Vec::new(),
        extern_index: HashMap::new(),
        float_params: Vec::new(),
        bool_params: Vec::new(),
        poisoned: Vec::new(),
        shape: loss.shape,
    };
    lowerer.graph.sparse = loss.shape == Shape::Sparse;
    for p in &loss.params {
        let name = p.ident.to_string();
        match p.ty {
            ParamType::Float => {
                let index = lowerer.float_params.len() as u16;
                lowerer.float_params.push(name.clone());
                let id = lowerer.graph.param(index, p.ident.span());
                lowerer.bind(name, id);
            }
            ParamType::Bool => {
                let index = lowerer.bool_params.len() as u16;
                lowerer.bool_params.push(name.clone());
                let id = lowerer.graph.bool_param(index, p.ident.span());
                lowerer.bind(name, id);
            }
        }
    }
    let y_true = lowerer.graph.y_true(Span::call_site());
    let y_pred = lowerer.graph.y_pred(Span::call_site());
    lowerer.bind("y_true".into(), y_true);
    lowerer.bind("y_pred".into(), y_pred);

    let value = lowerer.block(&loss.body)?;
    // Errors about the value point at the final expression, not the whole body.
    let at = value_tokens(&loss.body);
    let value = lowerer.expect_float(value, &at)?;
    if loss.shape.is_row() && lowerer.graph.is_elementwise(value) {
        cx.error_at(
            &at,
            "the loss of a row is one number: reduce the element expression over the row with `sum(..)`, `mean(..)`, `max(..)`, `min(..)` or `logsumexp(..)`",
        );
        return None;
    }
    if !lowerer.graph.reads_pred(value) {
        cx.error_at(
            &at,
            "this loss does not depend on `y_pred`: its gradient would be zero everywhere",
        );
        return None;
    }
    Some(Lowered {
        graph: lowerer.graph,
        value,
        names: lowerer.names,
        externs: lowerer.externs,
    })
}

struct Lowerer<'a> {
    cx: &'a Ctxt,
    graph: Graph,
    scopes: Vec<Vec<(String, NodeId)>>,
    names: HashMap<NodeId, String>,
    externs: Vec<TokenStream>,
    extern_index: HashMap<String, u16>,
    float_params: Vec<String>,
    bool_params: Vec<String>,
    /// Names of `let`s that failed (already reported): their uses report nothing more.
    poisoned: Vec<String>,
    /// Element-wise, row or sparse: which reductions the body may use.
    shape: Shape,
}

impl Lowerer<'_> {
    fn bind(&mut self, name: String, id: NodeId) {
        self.scopes
            .last_mut()
            .expect("a scope is open")
            .push((name, id));
    }

    fn lookup(&self, name: &str) -> Option<NodeId> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|(n, _)| n == name)
            .map(|&(_, id)| id)
    }

    fn visible_names(&self) -> Vec<String> {
        self.scopes
            .iter()
            .flat_map(|s| s.iter().map(|(n, _)| n.clone()))
            .collect()
    }

    fn error<T: ToTokens>(&self, at: T, message: impl std::fmt::Display) -> Option<NodeId> {
        self.cx.error_at(at, message);
        None
    }

    /// A block: `let` bindings, then one final expression.
    fn block(&mut self, block: &Block) -> Option<NodeId> {
        self.scopes.push(Vec::new());
        let result = self.block_inner(block);
        self.scopes.pop();
        result
    }

    fn block_inner(&mut self, block: &Block) -> Option<NodeId> {
        let mut result = None;
        let count = block.stmts.len();
        let mut ok = true;
        for (i, stmt) in block.stmts.iter().enumerate() {
            let last = i + 1 == count;
            match stmt {
                Stmt::Local(local) => {
                    ok &= self.local(local).is_some();
                    if last {
                        self.cx.error_at(
                            local,
                            "a loss body ends with the loss value: add the final expression after this `let`",
                        );
                        return None;
                    }
                }
                Stmt::Expr(Expr::Return(ret), _) => {
                    if !last {
                        return self.error(
                            ret,
                            "`return` is only allowed as the last statement: a loss is one formula, so write the remaining cases with `if .. else ..`",
                        );
                    }
                    match &ret.expr {
                        Some(e) => result = self.expr(e),
                        None => return self.error(ret, "`return` needs the loss value"),
                    }
                }
                Stmt::Expr(expr, None) if last => result = self.expr(expr),
                Stmt::Expr(_, Some(semi)) if last => {
                    self.cx.error_at(
                        semi,
                        "remove the `;`: the last expression of a loss body is its value",
                    );
                    return None;
                }
                Stmt::Expr(expr, _) => {
                    // Lowered first, so that a loop, an assignment or an early `return` gets
                    // its own message; what lowers fine has no effect here.
                    if self.expr(expr).is_some() {
                        self.cx.error_at(
                            expr,
                            "a statement here has no effect: a loss body is `let` bindings and one final expression",
                        );
                    }
                    ok = false;
                }
                Stmt::Item(item) => {
                    return self.error(item, "items cannot be declared inside a loss body");
                }
                Stmt::Macro(m) => {
                    self.cx.error_at(
                        &m.mac,
                        "macros are not part of the loss language: the macro cannot see what they expand to",
                    );
                    ok = false;
                }
            }
        }
        if count == 0 {
            self.cx
                .error_span(block.span(), "a loss body needs a value");
            return None;
        }
        if ok { result } else { None }
    }

    /// A `let`. When it fails, its names are poisoned so their uses do not report again.
    fn local(&mut self, local: &syn::Local) -> Option<()> {
        let result = self.local_binding(local);
        if result.is_none() {
            pattern_names(&local.pat, &mut self.poisoned);
        }
        result
    }

    fn local_binding(&mut self, local: &syn::Local) -> Option<()> {
        let (pat, ty) = match &local.pat {
            Pat::Type(t) => (&*t.pat, Some(&t.ty)),
            p => (p, None),
        };
        let Pat::Ident(ident) = pat else {
            self.cx
                .error_at(pat, "a `let` in a loss binds one name (no patterns)");
            return None;
        };
        if let Some(m) = &ident.mutability {
            // Reported, then bound as if immutable, so the rest of the body is still checked.
            self.cx.error_at(
                m,
                "bindings in a loss are immutable: remove `mut` and bind a new name instead",
            );
        }
        if ident.by_ref.is_some() || ident.subpat.is_some() {
            self.cx
                .error_at(ident, "a `let` in a loss binds one name (no patterns)");
            return None;
        }
        let Some(init) = &local.init else {
            self.cx
                .error_at(local, "a `let` in a loss needs a value: `let x = ...;`");
            return None;
        };
        if let Some((_, diverge)) = &init.diverge {
            self.cx
                .error_at(diverge, "`let .. else` is not part of the loss language");
            return None;
        }
        let id = self.expr(&init.expr)?;
        if let Some(ty) = ty {
            let want_bool = matches!(&**ty, syn::Type::Path(p) if p.path.is_ident("bool"));
            let want_float = matches!(&**ty, syn::Type::Path(p) if p.path.is_ident("f64"));
            if !(want_bool || want_float) {
                self.cx
                    .error_at(ty, "a binding in a loss is `f64` or `bool`");
                return None;
            }
            if want_bool != self.graph.is_bool(id) {
                let found = if self.graph.is_bool(id) {
                    "a condition"
                } else {
                    "a number"
                };
                self.cx.error_at(
                    &init.expr,
                    format!(
                        "expected `{}`, found {found}",
                        if want_bool { "bool" } else { "f64" }
                    ),
                );
                return None;
            }
        }
        let name = ident.ident.to_string();
        self.names.entry(id).or_insert_with(|| name.clone());
        self.bind(name, id);
        Some(())
    }

    fn expect_float(&self, id: NodeId, at: impl ToTokens) -> Option<NodeId> {
        if self.graph.is_bool(id) {
            self.cx.error_at(
                at,
                "expected a number, found a condition: a loss returns `f64`",
            );
            None
        } else {
            Some(id)
        }
    }

    fn float(&mut self, expr: &Expr) -> Option<NodeId> {
        let id = self.expr(expr)?;
        if self.graph.is_bool(id) {
            return self.error(
                expr,
                "expected a number, found a condition: choose between numbers with `if <condition> { a } else { b }`",
            );
        }
        Some(id)
    }

    fn condition(&mut self, expr: &Expr) -> Option<NodeId> {
        let id = self.expr(expr)?;
        if !self.graph.is_bool(id) {
            return self.error(
                expr,
                "expected a condition (a comparison or a `bool` parameter), found a number",
            );
        }
        Some(id)
    }

    fn expr(&mut self, expr: &Expr) -> Option<NodeId> {
        let span = expr.span();
        match expr {
            Expr::Lit(lit) => self.literal(&lit.lit),
            Expr::Paren(p) => self.expr(&p.expr),
            Expr::Group(g) => self.expr(&g.expr),
            Expr::Block(b) if b.label.is_none() && b.attrs.is_empty() => self.block(&b.block),
            Expr::Path(path) => self.path(path),
            Expr::Unary(u) => match u.op {
                UnOp::Neg(_) => {
                    let a = self.float(&u.expr)?;
                    Some(self.graph.neg(a, span))
                }
                UnOp::Not(_) => {
                    let a = self.condition(&u.expr)?;
                    Some(self.graph.not(a, span))
                }
                _ => self.error(u, "references are not part of the loss language"),
            },
            Expr::Binary(b) => self.binary(b),
            Expr::If(i) => self.if_expr(i),
            Expr::MethodCall(m) => self.method(m),
            Expr::Call(c) => self.call(c),
            Expr::ForLoop(f) => self.error(
                f.for_token,
                "`for` loops are not part of the loss language: write the loss of one element, and the macro applies it to every element; to reduce over the last axis, declare `y_true: Row, y_pred: Row` and use `sum(..)`",
            ),
            Expr::While(w) => self.error(
                w.while_token,
                "loops are not part of the loss language: a loss is one formula per element",
            ),
            Expr::Loop(l) => self.error(
                l.loop_token,
                "loops are not part of the loss language: a loss is one formula per element",
            ),
            Expr::Match(m) => self.error(
                m.match_token,
                "`match` is not part of the loss language: write the cases with `if .. else if .. else ..`",
            ),
            Expr::Closure(c) => self.error(
                c,
                "closures are not part of the loss language: bind intermediate values with `let`",
            ),
            Expr::Assign(a) => self.error(
                a,
                "assignment is not part of the loss language: bindings are immutable, bind a new name with `let`",
            ),
            Expr::Return(r) => self.error(
                r,
                "`return` is only allowed as the last statement of the body",
            ),
            Expr::Index(i) => self.error(
                i,
                "indexing is not part of the loss language: `y_true` and `y_pred` are one element each",
            ),
            Expr::Field(f) => self.error(f, "field access is not part of the loss language"),
            Expr::Cast(c) => self.error(
                c,
                "casts are not needed in a loss: every number is `f64`, write float literals like `2.0`",
            ),
            Expr::Macro(m) => self.error(
                &m.mac,
                "macros are not part of the loss language: the macro cannot see what they expand to",
            ),
            Expr::Tuple(_) | Expr::Array(_) | Expr::Struct(_) | Expr::Repeat(_) => self.error(
                expr,
                "a loss value is one `f64`: tuples, arrays and structs are not part of the loss language",
            ),
            _ => self.error(expr, "this expression is not part of the loss language"),
        }
    }

    fn literal(&mut self, lit: &Lit) -> Option<NodeId> {
        let span = lit.span();
        match lit {
            Lit::Float(f) => match f.base10_parse::<f64>() {
                Ok(v) if v.is_finite() && f.suffix() != "f32" => Some(self.graph.constant(v, span)),
                Ok(_) if f.suffix() == "f32" => self.error(
                    f,
                    "write `f64` literals: the macro makes the loss generic over the float type",
                ),
                _ => self.error(f, "expected a finite number"),
            },
            Lit::Int(i) => match i.base10_parse::<f64>() {
                Ok(v) if i.suffix().is_empty() || i.suffix() == "f64" => {
                    Some(self.graph.constant(v, span))
                }
                _ => self.error(
                    i,
                    "integer literals in a loss stand for `f64` values: remove the suffix",
                ),
            },
            Lit::Bool(b) => Some(self.graph.bool_const(b.value, span)),
            _ => self.error(
                lit,
                "only number and `bool` literals are part of the loss language",
            ),
        }
    }

    fn path(&mut self, path: &syn::ExprPath) -> Option<NodeId> {
        let span = path.span();
        if path.qself.is_some() {
            return self.error(path, "qualified paths are not part of the loss language");
        }
        if let Some(ident) = path.path.get_ident() {
            let name = ident.to_string();
            if let Some(id) = self.lookup(&name) {
                return Some(id);
            }
            if name == "EPSILON" {
                return Some(self.graph.constant(EPSILON, span));
            }
            if self.poisoned.contains(&name) {
                return None;
            }
            if !is_constant_name(&name) {
                let mut candidates = self.visible_names();
                candidates.push("EPSILON".into());
                let hint = did_you_mean(&name, candidates.iter().map(String::as_str))
                    .map(|c| format!("; did you mean `{c}`?"))
                    .unwrap_or_else(|| {
                        ". Names in a loss are `y_true`, `y_pred`, the parameters, `let` bindings, and UPPER_CASE constants from your scope".into()
                    });
                return self.error(ident, format!("cannot find `{name}` in this loss{hint}"));
            }
        }
        // A constant from the user's scope: `PI`, `std::f64::consts::LN_2`, a `const`.
        let key = path.to_token_stream().to_string();
        let next = self.externs.len() as u16;
        let index = *self.extern_index.entry(key).or_insert(next);
        if index == next {
            self.externs.push(path.to_token_stream());
        }
        Some(self.graph.external(index, span))
    }

    fn binary(&mut self, b: &syn::ExprBinary) -> Option<NodeId> {
        let span = b.op.span();
        let arith = |op: &BinOp| match op {
            BinOp::Add(_) => Some(Op2::Add),
            BinOp::Sub(_) => Some(Op2::Sub),
            BinOp::Mul(_) => Some(Op2::Mul),
            BinOp::Div(_) => Some(Op2::Div),
            _ => None,
        };
        let cmp = |op: &BinOp| match op {
            BinOp::Lt(_) => Some(Cmp::Lt),
            BinOp::Le(_) => Some(Cmp::Le),
            BinOp::Gt(_) => Some(Cmp::Gt),
            BinOp::Ge(_) => Some(Cmp::Ge),
            BinOp::Eq(_) => Some(Cmp::Eq),
            BinOp::Ne(_) => Some(Cmp::Ne),
            _ => None,
        };
        if let Some(op) = arith(&b.op) {
            let l = self.float(&b.left);
            let r = self.float(&b.right);
            return Some(self.graph.binary(op, l?, r?, span));
        }
        if let Some(op) = cmp(&b.op) {
            let l = self.float(&b.left);
            let r = self.float(&b.right);
            return Some(self.graph.compare(op, l?, r?, span));
        }
        match b.op {
            BinOp::And(_) | BinOp::Or(_) => {
                let l = self.condition(&b.left);
                let r = self.condition(&b.right);
                let (l, r) = (l?, r?);
                Some(if matches!(b.op, BinOp::And(_)) {
                    self.graph.and(l, r, span)
                } else {
                    self.graph.or(l, r, span)
                })
            }
            BinOp::Rem(_) => self.error(
                b.op,
                "`%` is not part of the loss language: it jumps at every multiple",
            ),
            BinOp::AddAssign(_)
            | BinOp::SubAssign(_)
            | BinOp::MulAssign(_)
            | BinOp::DivAssign(_)
            | BinOp::RemAssign(_) => self.error(
                b.op,
                "compound assignment is not part of the loss language: bindings are immutable, bind a new name with `let`",
            ),
            _ => self.error(b.op, "bitwise operators are not part of the loss language"),
        }
    }

    fn if_expr(&mut self, i: &syn::ExprIf) -> Option<NodeId> {
        let span = i.if_token.span;
        let cond = self.condition(&i.cond);
        let then = self.block(&i.then_branch);
        let Some((_, else_branch)) = &i.else_branch else {
            if let Some(Stmt::Expr(Expr::Return(ret), _)) = i.then_branch.stmts.last() {
                return self.error(
                    ret,
                    "an early `return` is not part of the loss language: a loss is one formula, so write `if .. { <this value> } else { <the rest of the body> }`",
                );
            }
            return self.error(
                i.if_token,
                "an `if` in a loss needs an `else`: the loss has a value in every case",
            );
        };
        let otherwise = self.expr(else_branch);
        let (cond, then, otherwise) = (cond?, then?, otherwise?);
        if self.graph.is_bool(then) != self.graph.is_bool(otherwise) {
            return self.error(
                i,
                "both branches of this `if` must be numbers, or both conditions",
            );
        }
        Some(self.graph.select(cond, then, otherwise, span))
    }

    fn method(&mut self, m: &syn::ExprMethodCall) -> Option<NodeId> {
        let span = m.method.span();
        let name = m.method.to_string();
        if let Some(t) = &m.turbofish {
            return self.error(t, "type arguments are not part of the loss language");
        }
        let receiver = self.float(&m.receiver);
        let args: Vec<&Expr> = m.args.iter().collect();
        let arity = |n: usize, this: &Self| -> Option<()> {
            if args.len() == n {
                Some(())
            } else {
                this.cx.error_at(
                    &m.method,
                    format!(
                        "`{name}` takes {n} argument{}",
                        if n == 1 { "" } else { "s" }
                    ),
                );
                None
            }
        };
        if let Some(&(_, op)) = METHODS_0.iter().find(|(n, _)| *n == name) {
            arity(0, self)?;
            return Some(self.graph.unary(op, receiver?, span));
        }
        if let Some(&(_, op)) = METHODS_1.iter().find(|(n, _)| *n == name) {
            arity(1, self)?;
            let arg = self.float(args[0]);
            return Some(self.graph.binary(op, receiver?, arg?, span));
        }
        match name.as_str() {
            "powi" => {
                arity(1, self)?;
                let n = integer_literal(args[0]);
                let Some(n) = n else {
                    return self.error(args[0], "`powi` takes an integer literal, e.g. `x.powi(2)`; for other exponents use `powf`");
                };
                Some(self.graph.unary(Op1::Powi(n), receiver?, span))
            }
            "clamp" => {
                arity(2, self)?;
                let lo = self.float(args[0]);
                let hi = self.float(args[1]);
                Some(self.graph.clamp(receiver?, lo?, hi?, span))
            }
            _ => {
                if let Some((_, why)) = NOT_DIFFERENTIABLE.iter().find(|(n, _)| *n == name) {
                    return self.error(
                        &m.method,
                        format!("`{name}` is not differentiable ({why}), so it is not part of the loss language"),
                    );
                }
                let hint = match name.as_str() {
                    "log" | "log10" | "log2" => {
                        "; write `x.ln() / B.ln()` with the base's logarithm, or `x.ln()`"
                            .to_string()
                    }
                    "powf32" | "pow" => "; did you mean `powf`?".to_string(),
                    "log1p" => "; did you mean `ln_1p`?".to_string(),
                    "expm1" => "; did you mean `exp_m1`?".to_string(),
                    _ if all_function_names().any(|f| f == name) => {
                        format!("; `{name}` is a function here: write `{name}(x, ..)`")
                    }
                    _ => did_you_mean(&name, all_method_names())
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_default(),
                };
                self.error(
                    &m.method,
                    format!("unknown method `{name}` in a loss{hint}"),
                )
            }
        }
    }

    fn call(&mut self, c: &syn::ExprCall) -> Option<NodeId> {
        let span = c.func.span();
        let Expr::Path(path) = &*c.func else {
            return self.error(
                &c.func,
                "only the loss language's functions can be called here",
            );
        };
        let Some(ident) = path.path.get_ident() else {
            return self.error(
                path,
                format!(
                    "unknown function `{}` in a loss; the functions are {}",
                    path.to_token_stream().to_string().replace(' ', ""),
                    all_function_names().collect::<Vec<_>>().join(", ")
                ),
            );
        };
        let name = ident.to_string();
        let args: Vec<&Expr> = c.args.iter().collect();
        let arity = |n: usize, this: &Self| -> Option<()> {
            if args.len() == n {
                Some(())
            } else {
                this.cx.error_at(
                    ident,
                    format!(
                        "`{name}` takes {n} argument{}",
                        if n == 1 { "" } else { "s" }
                    ),
                );
                None
            }
        };
        if let Some(&(_, op)) = FUNCTIONS_1.iter().find(|(n, _)| *n == name) {
            arity(1, self)?;
            let x = self.float(args[0])?;
            return Some(self.graph.unary(op, x, span));
        }
        if let Some(&(_, op)) = REDUCTIONS.iter().find(|(n, _)| *n == name) {
            if op == RowOp::AtLabel && self.shape != Shape::Sparse {
                return self.error(
                    ident,
                    "`at_label(..)` reads the element at the label: it needs a sparse loss, `y_true: Class, y_pred: Row`",
                );
            }
            if !self.shape.is_row() {
                return self.error(
                    ident,
                    format!("`{name}(..)` reduces over the row (the last axis): it needs a row loss, `y_true: Row, y_pred: Row`"),
                );
            }
            if matches!(op, RowOp::Max | RowOp::Min) && args.len() == 2 {
                return self.error(
                    ident,
                    format!("`{name}(e)` reduces over the row; for the {name} of two numbers write `a.{name}(b)`"),
                );
            }
            arity(1, self)?;
            let e = self.float(args[0])?;
            return Some(self.graph.reduce(op, e, span));
        }
        if name == "count" {
            if !self.shape.is_row() {
                return self.error(
                    ident,
                    "`count()` is the number of elements in the row: it needs a row loss, `y_true: Row, y_pred: Row`",
                );
            }
            arity(0, self)?;
            return Some(self.graph.count(span));
        }
        match name.as_str() {
            "clip" => {
                arity(3, self)?;
                let x = self.float(args[0]);
                let lo = self.float(args[1]);
                let hi = self.float(args[2]);
                Some(self.graph.clamp(x?, lo?, hi?, span))
            }
            "xlogy" => {
                arity(2, self)?;
                let x = self.float(args[0]);
                let y = self.float(args[1]);
                Some(self.graph.binary(Op2::Xlogy, x?, y?, span))
            }
            _ if self.poisoned.contains(&name) => None,
            _ if self.lookup(&name).is_some() => self.error(
                ident,
                format!("`{name}` is a value, not a function: functions cannot be defined inside a loss body"),
            ),
            _ => {
                let hint = if all_method_names().any(|m| m == name) {
                    format!("; `{name}` is a method here: write `x.{name}(..)`")
                } else {
                    did_you_mean(&name, all_function_names())
                        .map(|c| format!("; did you mean `{c}`?"))
                        .unwrap_or_else(|| {
                            format!(
                                "; the functions are {}",
                                all_function_names().collect::<Vec<_>>().join(", ")
                            )
                        })
                };
                self.error(ident, format!("unknown function `{name}` in a loss{hint}"))
            }
        }
    }
}

/// UPPER_CASE names are constants from the user's scope; anything else that is not bound is
/// most likely a typo.
fn is_constant_name(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The final expression of a body: its value.
fn value_tokens(block: &Block) -> TokenStream {
    match block.stmts.last() {
        Some(Stmt::Expr(Expr::Return(ret), _)) => match &ret.expr {
            Some(e) => e.to_token_stream(),
            None => ret.to_token_stream(),
        },
        Some(Stmt::Expr(e, _)) => e.to_token_stream(),
        _ => block.to_token_stream(),
    }
}

/// The names a `let` pattern would bind.
fn pattern_names(pat: &Pat, out: &mut Vec<String>) {
    match pat {
        Pat::Ident(p) => out.push(p.ident.to_string()),
        Pat::Type(p) => pattern_names(&p.pat, out),
        Pat::Paren(p) => pattern_names(&p.pat, out),
        Pat::Reference(p) => pattern_names(&p.pat, out),
        Pat::Tuple(p) => p.elems.iter().for_each(|e| pattern_names(e, out)),
        Pat::TupleStruct(p) => p.elems.iter().for_each(|e| pattern_names(e, out)),
        Pat::Slice(p) => p.elems.iter().for_each(|e| pattern_names(e, out)),
        Pat::Struct(p) => p.fields.iter().for_each(|f| pattern_names(&f.pat, out)),
        _ => {}
    }
}

fn integer_literal(expr: &Expr) -> Option<i32> {
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse().ok(),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => integer_literal(&u.expr).map(|n: i32| -n),
        Expr::Paren(p) => integer_literal(&p.expr),
        _ => None,
    }
}
