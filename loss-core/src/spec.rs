//! Loss specs: `huber`, `huber()`, `huber(delta=0.5, reduction=sum)`.
//!
//! # Grammar
//!
//! ```text
//! spec   = name [ "(" [ arg { "," arg } [ "," ] ] ")" ]
//! name   = (letter | "_") { letter | digit | "_" | "-" }
//! arg    = key "=" value            key: letter or "_", then letters, digits, "_"
//! value  = number | "true" | "false" | word | quoted
//! number = [ "+" | "-" ] ( digits [ "." [ digits ] ] | "." digits ) [ ("e" | "E") [ "+" | "-" ] digits ]
//!        | [ "+" | "-" ] ( "inf" | "infinity" )        (any case)
//! word   = letter or "_", then letters, digits, "_"    (e.g. reduction=sum)
//! quoted = '"' ... '"' | "'" ... "'"                    (the same as a word: reduction="sum")
//! ```
//!
//! Whitespace is allowed between tokens. `nan` is rejected (no parameter takes NaN). A key
//! may appear once (keys are compared ignoring case, `_` and `-`). `true`/`false` also accept
//! Python's `True`/`False`. Errors are [`LossError::MalformedSpec`] with the byte position and
//! what was expected there.

use crate::{LossError, ParamValue, Reduction, Result};

/// A value written in a spec.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SpecValue {
    Float(f64),
    Bool(bool),
    /// A bare word or a quoted string (`sum`, `"weighted_mean"`).
    Word(String),
}

impl SpecValue {
    /// The value as written, for error messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            SpecValue::Float(x) => format!("{x:?}"),
            SpecValue::Bool(b) => b.to_string(),
            SpecValue::Word(w) => w.clone(),
        }
    }
}

/// One `key=value` of a spec.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SpecArg {
    pub key: String,
    pub value: SpecValue,
}

/// A parsed spec.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Spec {
    pub name: String,
    pub args: Vec<SpecArg>,
}

/// Lowercase, without `_` and `-`: the form in which names and keys are compared.
pub(crate) fn normalize(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

struct Parser<'s> {
    src: &'s str,
    pos: usize,
}

impl<'s> Parser<'s> {
    fn error(&self, position: usize, message: impl Into<String>) -> LossError {
        LossError::MalformedSpec {
            spec: self.src.to_owned(),
            position,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`, plus `-` inside when `dashes`.
    fn word(&mut self, dashes: bool) -> Option<&'s str> {
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self.pos += 1,
            _ => return None,
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' || (dashes && c == '-') {
                self.pos += 1;
            } else {
                break;
            }
        }
        Some(&self.src[start..self.pos])
    }

    fn value(&mut self) -> Result<SpecValue> {
        let start = self.pos;
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.pos += 1;
                let body = self.pos;
                match self.src[body..].find(q) {
                    Some(len) => {
                        self.pos = body + len + 1;
                        Ok(SpecValue::Word(
                            self.src[body..body + len].trim().to_owned(),
                        ))
                    }
                    None => Err(self.error(start, format!("unterminated string (missing `{q}`)"))),
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let w = self.word(false).unwrap_or_default();
                match w {
                    "true" | "True" => Ok(SpecValue::Bool(true)),
                    "false" | "False" => Ok(SpecValue::Bool(false)),
                    _ if w.eq_ignore_ascii_case("inf") || w.eq_ignore_ascii_case("infinity") => {
                        Ok(SpecValue::Float(f64::INFINITY))
                    }
                    _ if w.eq_ignore_ascii_case("nan") => {
                        Err(self.error(start, "NaN is not a valid parameter value"))
                    }
                    _ => Ok(SpecValue::Word(w.to_owned())),
                }
            }
            Some(c) if c.is_ascii_digit() || matches!(c, '.' | '+' | '-') => self.number(),
            _ => Err(self.error(
                start,
                "expected a value (a number, `true`, `false` or a name such as `sum`)",
            )),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<SpecValue> {
        let start = self.pos;
        let negative = if self.eat('-') {
            true
        } else {
            self.eat('+');
            false
        };
        if matches!(self.peek(), Some(c) if c.is_ascii_alphabetic()) {
            let at = self.pos;
            let w = self.word(false).unwrap_or_default();
            if w.eq_ignore_ascii_case("inf") || w.eq_ignore_ascii_case("infinity") {
                let x = if negative {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                };
                return Ok(SpecValue::Float(x));
            }
            return Err(self.error(at, "expected digits or `inf` after the sign"));
        }
        let int_digits = self.digits();
        let mut frac_digits = 0;
        if self.eat('.') {
            frac_digits = self.digits();
        }
        if int_digits + frac_digits == 0 {
            return Err(self.error(start, "expected a number"));
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.pos += 1;
            if !self.eat('-') {
                self.eat('+');
            }
            if self.digits() == 0 {
                return Err(self.error(self.pos, "expected the digits of the exponent"));
            }
        }
        let text = &self.src[start..self.pos];
        text.parse::<f64>()
            .map(SpecValue::Float)
            .map_err(|_| self.error(start, format!("invalid number `{text}`")))
    }

    fn spec(&mut self) -> Result<Spec> {
        self.skip_ws();
        let name_pos = self.pos;
        let Some(name) = self.word(true) else {
            return Err(self.error(name_pos, "expected a loss name"));
        };
        let name = name.to_owned();
        self.skip_ws();
        let mut args: Vec<SpecArg> = Vec::new();
        let mut seen: Vec<(String, usize)> = Vec::new();
        if self.eat('(') {
            loop {
                self.skip_ws();
                if self.eat(')') {
                    break;
                }
                let key_pos = self.pos;
                let Some(key) = self.word(false) else {
                    return Err(self.error(key_pos, "expected a parameter name or `)`"));
                };
                let norm = normalize(key);
                if let Some((_, first)) = seen.iter().find(|(k, _)| *k == norm) {
                    return Err(self.error(
                        key_pos,
                        format!("duplicate parameter `{key}` (first given at byte {first})"),
                    ));
                }
                seen.push((norm, key_pos));
                self.skip_ws();
                if !self.eat('=') {
                    return Err(self.error(self.pos, format!("expected `=` after `{key}`")));
                }
                self.skip_ws();
                let value = self.value()?;
                args.push(SpecArg {
                    key: key.to_owned(),
                    value,
                });
                self.skip_ws();
                if self.eat(',') {
                    continue;
                }
                if self.eat(')') {
                    break;
                }
                return Err(self.error(self.pos, "expected `,` or `)`"));
            }
            self.skip_ws();
        }
        if self.pos < self.src.len() {
            let msg = if args.is_empty() && seen.is_empty() && !self.src[..self.pos].contains('(') {
                "expected `(` or the end of the spec"
            } else {
                "unexpected text after the spec"
            };
            return Err(self.error(self.pos, msg));
        }
        Ok(Spec { name, args })
    }
}

/// Parses `name`, `name()` or `name(key=value, ...)`.
pub(crate) fn parse_spec(spec: &str) -> Result<Spec> {
    Parser { src: spec, pos: 0 }.spec()
}

/// Prints a spec that [`from_spec`](crate::from_spec) reads back exactly:
/// `huber(delta=0.5, reduction=mean)`. Every parameter is printed, floats with `{:?}` (the
/// shortest text that round-trips: `0.5`, `1e-7`, `inf`), then the reduction.
///
/// ```
/// use loss_core::{ParamValue, Reduction};
/// let s = loss_core::format_spec("huber", &[("delta", ParamValue::Float(0.5))], Reduction::Sum);
/// assert_eq!(s, "huber(delta=0.5, reduction=sum)");
/// ```
pub fn format_spec(name: &str, params: &[(&str, ParamValue)], reduction: Reduction) -> String {
    let mut s = String::with_capacity(name.len() + 24 * (params.len() + 1));
    s.push_str(name);
    s.push('(');
    for (key, value) in params {
        s.push_str(key);
        s.push('=');
        match value {
            ParamValue::Float(x) => s.push_str(&format!("{x:?}")),
            ParamValue::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        }
        s.push_str(", ");
    }
    s.push_str("reduction=");
    s.push_str(reduction.as_str());
    s.push(')');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arg(key: &str, value: SpecValue) -> SpecArg {
        SpecArg {
            key: key.into(),
            value,
        }
    }

    fn pos_of(spec: &str) -> (usize, String) {
        match parse_spec(spec) {
            Err(LossError::MalformedSpec {
                position, message, ..
            }) => (position, message),
            other => panic!("{spec:?} gave {other:?}"),
        }
    }

    #[test]
    fn bare_names_and_empty_parens() {
        for s in ["huber", "huber()", "  huber ( ) ", "huber(\n)"] {
            let spec = parse_spec(s).unwrap();
            assert_eq!(spec.name, "huber");
            assert!(spec.args.is_empty());
        }
        assert_eq!(parse_spec("smooth-l1").unwrap().name, "smooth-l1");
        assert_eq!(
            parse_spec("BCEWithLogitsLoss").unwrap().name,
            "BCEWithLogitsLoss"
        );
    }

    #[test]
    fn values() {
        let spec = parse_spec(
            "focal( gamma = 2 , alpha=.25, eps=1e-3, x=-2, y=+1.5, z=5., w=-1E+2, \
             from_logits=true, b=False, reduction=sum, r2=\"weighted_mean\", i=inf, j=-Infinity,)",
        )
        .unwrap();
        assert_eq!(spec.name, "focal");
        use SpecValue::*;
        let want = vec![
            arg("gamma", Float(2.0)),
            arg("alpha", Float(0.25)),
            arg("eps", Float(1e-3)),
            arg("x", Float(-2.0)),
            arg("y", Float(1.5)),
            arg("z", Float(5.0)),
            arg("w", Float(-100.0)),
            arg("from_logits", Bool(true)),
            arg("b", Bool(false)),
            arg("reduction", Word("sum".into())),
            arg("r2", Word("weighted_mean".into())),
            arg("i", Float(f64::INFINITY)),
            arg("j", Float(f64::NEG_INFINITY)),
        ];
        assert_eq!(spec.args, want);
    }

    #[test]
    fn errors_have_positions() {
        assert_eq!(pos_of("").0, 0);
        assert_eq!(pos_of("   ").0, 3);
        assert_eq!(pos_of("(delta=1)").0, 0);
        let (p, m) = pos_of("huber(delta=)");
        assert_eq!(p, 12);
        assert!(m.contains("expected a value"), "{m}");
        let (p, m) = pos_of("huber(delta 1)");
        assert_eq!(p, 12);
        assert!(m.contains("`=`"), "{m}");
        let (p, m) = pos_of("huber(delta=1");
        assert_eq!(p, 13);
        assert!(m.contains("`,` or `)`"), "{m}");
        let (p, m) = pos_of("huber(delta=1 2)");
        assert_eq!(p, 14);
        assert!(m.contains("`,` or `)`"), "{m}");
        let (p, m) = pos_of("huber(delta=1) x");
        assert_eq!(p, 15);
        assert!(m.contains("after the spec"), "{m}");
        let (p, m) = pos_of("huber x");
        assert_eq!(p, 6);
        assert!(m.contains("`(`"), "{m}");
        assert_eq!(pos_of("huber(=1)").0, 6);
        assert_eq!(pos_of("huber(1=1)").0, 6);
        assert_eq!(pos_of("huber(delta=1e)").0, 14);
        assert_eq!(pos_of("huber(delta=-)").0, 12);
        assert_eq!(pos_of("huber(delta=-x)").0, 13);
        assert_eq!(pos_of("huber(delta=.)").0, 12);
        assert_eq!(pos_of("huber(delta=\"sum)").0, 12);
        let (p, m) = pos_of("huber(delta=nan)");
        assert_eq!(p, 12);
        assert!(m.contains("NaN"));
        assert_eq!(pos_of("huber(,)").0, 6);
    }

    #[test]
    fn duplicate_keys_are_rejected() {
        let (p, m) = pos_of("huber(delta=1, delta=2)");
        assert_eq!(p, 15);
        assert!(
            m.contains("duplicate parameter `delta`") && m.contains("byte 6"),
            "{m}"
        );
        let (p, _) = pos_of("cce(label_smoothing=0.1, labelSmoothing=0.2)");
        assert_eq!(p, 25);
    }

    #[test]
    fn format_and_parse_round_trip() {
        let params = [
            ("delta", ParamValue::Float(0.1 + 0.2)),
            ("eps", ParamValue::Float(1e-7)),
            ("big", ParamValue::Float(1e300)),
            ("neg", ParamValue::Float(-2.0)),
            ("m", ParamValue::Float(f64::INFINITY)),
            ("from_logits", ParamValue::Bool(true)),
        ];
        for r in Reduction::ALL {
            let s = format_spec("x", &params, r);
            let spec = parse_spec(&s).unwrap();
            assert_eq!(spec.name, "x");
            for ((k, v), a) in params.iter().zip(&spec.args) {
                assert_eq!(a.key, *k);
                match (v, &a.value) {
                    (ParamValue::Float(x), SpecValue::Float(y)) => {
                        assert_eq!(x.to_bits(), y.to_bits())
                    }
                    (ParamValue::Bool(x), SpecValue::Bool(y)) => assert_eq!(x, y),
                    other => panic!("{other:?}"),
                }
            }
            let last = spec.args.last().unwrap();
            assert_eq!(last.value, SpecValue::Word(r.as_str().into()));
        }
        assert_eq!(
            format_spec("mse", &[], Reduction::Mean),
            "mse(reduction=mean)"
        );
    }

    #[test]
    fn normalize_ignores_case_and_separators() {
        assert_eq!(normalize("Mean_Squared-Error"), "meansquarederror");
        assert_eq!(normalize(" MSE "), "mse");
    }
}
