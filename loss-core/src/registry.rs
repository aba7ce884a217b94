//! The name registry: every `#[loss]` linked into the program, by name.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use crate::entry::{Entry, Kind, ParamInfo};
use crate::spec::{SpecArg, SpecValue, normalize, parse_spec};
use crate::{DynLoss, Float, LossError, ParamValue, Reduction, Result};

/// One registered loss: a view of its [`Entry`].
#[derive(Clone, Copy)]
pub struct RegistryEntry(&'static Entry);

impl RegistryEntry {
    /// The canonical name (`huber`).
    pub fn name(&self) -> &'static str {
        self.0.name
    }
    /// The generated struct's name (`Huber`).
    pub fn struct_name(&self) -> &'static str {
        self.0.struct_name
    }
    /// Other accepted names; an alias may carry preset parameters
    /// (`BCEWithLogitsLoss(from_logits=true)`).
    pub fn aliases(&self) -> &'static [&'static str] {
        self.0.aliases
    }
    /// Element-wise, row or sparse.
    pub fn kind(&self) -> Kind {
        self.0.kind
    }
    /// The parameters, in declaration order, with their defaults.
    pub fn params(&self) -> &'static [ParamInfo] {
        self.0.params
    }
    /// The doc comment of the `#[loss]` function.
    pub fn doc(&self) -> &'static str {
        self.0.doc
    }
    /// The formula and its derived gradient, as text.
    pub fn formula(&self) -> &'static str {
        self.0.formula
    }
    /// Where the loss was declared.
    pub fn location(&self) -> &'static str {
        self.0.location
    }
    /// The default spec: every parameter at its default, `reduction=mean`.
    pub fn default_spec(&self) -> String {
        let params: Vec<(&str, ParamValue)> =
            self.0.params.iter().map(|p| (p.name, p.default)).collect();
        crate::format_spec(self.0.name, &params, Reduction::default())
    }
    /// The underlying entry.
    pub fn entry(&self) -> &'static Entry {
        self.0
    }
    /// Builds the loss from parameter values in declaration order (complete and type-checked).
    pub fn make<F: Float>(
        &self,
        values: &[ParamValue],
        reduction: Reduction,
    ) -> Result<Box<dyn DynLoss<F>>> {
        F::make_dyn(self.0)(values, reduction)
    }
}

impl fmt::Debug for RegistryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryEntry")
            .field("name", &self.0.name)
            .field("struct_name", &self.0.struct_name)
            .field("aliases", &self.0.aliases)
            .field("kind", &self.0.kind)
            .field("params", &self.0.params)
            .field("location", &self.0.location)
            .finish()
    }
}

impl PartialEq for RegistryEntry {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

/// Two entries claiming the same normalised name.
#[derive(Clone, Debug)]
pub struct Conflict {
    /// The contested name, as the first entry spells it.
    pub name: String,
    pub first: RegistryEntry,
    pub second: RegistryEntry,
}

impl Conflict {
    /// The error a lookup of the contested name returns.
    pub fn to_error(&self) -> LossError {
        LossError::DuplicateLoss {
            name: self.name.clone(),
            first: self.first.location().to_owned(),
            second: self.second.location().to_owned(),
        }
    }
}

/// One name under which an entry can be found.
struct Claim {
    entry: RegistryEntry,
    /// The name as registered (`BCEWithLogitsLoss` for the alias
    /// `BCEWithLogitsLoss(from_logits=true)`).
    spelling: String,
    /// Parameters preset by an alias (or the error parsing the alias).
    presets: Result<Vec<SpecArg>>,
}

/// Every registered loss. Built once, on first use, from the entries collected at link time.
pub struct Registry {
    entries: Vec<RegistryEntry>,
    /// Normalised name → the claims on it, in entry order (name, struct name, aliases).
    keys: HashMap<String, Vec<Claim>>,
    conflicts: Vec<Conflict>,
}

/// The registry of every loss linked into the program: the built-ins, and the `#[loss]`
/// declarations of every crate that is linked (a crate that is never named is not linked:
/// `use that_crate as _;`).
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::from_entries(inventory::iter::<Entry>))
}

/// The loss with this name or spec, for float type `F`: the same as [`from_spec`].
///
/// ```ignore
/// let mse: Box<dyn DynLoss<f64>> = losses::get("mse")?;
/// ```
pub fn get<F: Float>(name: &str) -> Result<Box<dyn DynLoss<F>>> {
    registry().build(name)
}

/// Builds a loss from a spec such as `huber(delta=0.5, reduction=sum)` (see
/// [`Loss::spec`](crate::Loss::spec), whose output this reads back exactly).
///
/// Names are compared ignoring case, `_` and `-`, and may be the loss's name, its struct name
/// or an alias. Parameters use the names of the `#[loss]` function (also compared ignoring
/// case, `_` and `-`); those not given take their defaults; `reduction` is `mean`, `sum` or
/// `weighted_mean`.
///
/// # Errors
///
/// [`LossError::MalformedSpec`], [`LossError::UnknownLoss`] (with the closest names),
/// [`LossError::UnknownParameter`], [`LossError::ParameterType`],
/// [`LossError::UnknownReduction`], [`LossError::DuplicateLoss`] when two losses claim the
/// name, and [`LossError::InvalidParameter`] from the loss's own validation.
pub fn from_spec<F: Float>(spec: &str) -> Result<Box<dyn DynLoss<F>>> {
    registry().build(spec)
}

impl Registry {
    /// A registry of the given entries (the global one uses every `inventory` entry).
    pub fn from_entries<I: IntoIterator<Item = &'static Entry>>(entries: I) -> Registry {
        let mut entries: Vec<RegistryEntry> = entries.into_iter().map(RegistryEntry).collect();
        entries.sort_by(|a, b| (a.name(), a.location()).cmp(&(b.name(), b.location())));
        let mut keys: HashMap<String, Vec<Claim>> = HashMap::new();
        let mut conflicts = Vec::new();
        for &entry in &entries {
            let mut names = vec![
                (entry.name().to_owned(), Ok(Vec::new())),
                (entry.struct_name().to_owned(), Ok(Vec::new())),
            ];
            for alias in entry.aliases() {
                names.push(match parse_spec(alias) {
                    Ok(spec) => (spec.name, Ok(spec.args)),
                    Err(e) => (alias.split('(').next().unwrap_or(alias).to_owned(), Err(e)),
                });
            }
            for (spelling, presets) in names {
                let key = normalize(&spelling);
                if key.is_empty() {
                    continue;
                }
                let claims = keys.entry(key).or_default();
                if claims.iter().any(|c| c.entry == entry) {
                    continue;
                }
                if let Some(first) = claims.first() {
                    conflicts.push(Conflict {
                        name: first.spelling.clone(),
                        first: first.entry,
                        second: entry,
                    });
                }
                claims.push(Claim {
                    entry,
                    spelling,
                    presets,
                });
            }
        }
        Registry {
            entries,
            keys,
            conflicts,
        }
    }

    /// Every registered loss, sorted by name.
    pub fn entries(&self) -> &[RegistryEntry] {
        &self.entries
    }

    /// Pairs of losses claiming the same name (empty in a healthy program). Looking up a
    /// contested name fails with [`LossError::DuplicateLoss`].
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }

    /// The entry registered under `name` (a bare name: no parameters).
    pub fn find(&self, name: &str) -> Result<RegistryEntry> {
        self.claim(name).map(|c| c.entry)
    }

    fn claim(&self, name: &str) -> Result<&Claim> {
        let key = normalize(name);
        match self.keys.get(&key).map(Vec::as_slice) {
            Some([only]) => Ok(only),
            Some([first, second, ..]) => Err(LossError::DuplicateLoss {
                name: name.to_owned(),
                first: first.entry.location().to_owned(),
                second: second.entry.location().to_owned(),
            }),
            _ => Err(LossError::UnknownLoss {
                name: name.to_owned(),
                suggestions: self.suggest(&key),
            }),
        }
    }

    /// Up to 3 registered names close to `key` (normalised), one per loss, closest first.
    fn suggest(&self, key: &str) -> Vec<String> {
        let mut best: Vec<(usize, &str, RegistryEntry)> = Vec::new();
        for (k, claims) in &self.keys {
            let Some(d) = closeness(key, k) else { continue };
            for claim in claims {
                match best.iter_mut().find(|(_, _, e)| *e == claim.entry) {
                    Some(b) if (d, claim.spelling.as_str()) < (b.0, b.1) => {
                        *b = (d, &claim.spelling, claim.entry)
                    }
                    Some(_) => {}
                    None => best.push((d, &claim.spelling, claim.entry)),
                }
            }
        }
        best.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        best.into_iter()
            .take(3)
            .map(|(_, s, _)| s.to_owned())
            .collect()
    }

    /// Builds the loss a spec (or a bare name) describes; see [`from_spec`].
    pub fn build<F: Float>(&self, spec: &str) -> Result<Box<dyn DynLoss<F>>> {
        let parsed = parse_spec(spec)?;
        let claim = self.claim(&parsed.name)?;
        let presets = claim.presets.as_ref().map_err(Clone::clone)?;
        let (values, reduction) = resolve(claim.entry, presets.iter().chain(&parsed.args))?;
        claim.entry.make::<F>(&values, reduction)
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("entries", &self.entries)
            .field("conflicts", &self.conflicts)
            .finish()
    }
}

/// Parameter values in declaration order (defaults filled in) and the reduction, from the
/// arguments of a spec (later arguments override earlier ones: an alias's presets come first).
fn resolve<'a>(
    entry: RegistryEntry,
    args: impl Iterator<Item = &'a SpecArg>,
) -> Result<(Vec<ParamValue>, Reduction)> {
    let params = entry.params();
    let mut values: Vec<ParamValue> = params.iter().map(|p| p.default).collect();
    let mut reduction = Reduction::default();
    for arg in args {
        let key = normalize(&arg.key);
        if key == "reduction" {
            reduction = match &arg.value {
                SpecValue::Word(w) => w.parse()?,
                other => {
                    return Err(LossError::ParameterType {
                        loss: entry.name(),
                        param: "reduction",
                        expected: "`mean`, `sum` or `weighted_mean`",
                        found: other.describe(),
                    });
                }
            };
            continue;
        }
        let Some(i) = params.iter().position(|p| normalize(p.name) == key) else {
            return Err(LossError::UnknownParameter {
                loss: entry.name(),
                param: arg.key.clone(),
                suggestions: suggest_params(params, &key),
            });
        };
        values[i] = match (params[i].default, &arg.value) {
            (ParamValue::Float(_), SpecValue::Float(x)) => ParamValue::Float(*x),
            (ParamValue::Bool(_), SpecValue::Bool(b)) => ParamValue::Bool(*b),
            (default, other) => {
                return Err(LossError::ParameterType {
                    loss: entry.name(),
                    param: params[i].name,
                    expected: match default {
                        ParamValue::Float(_) => "a number",
                        ParamValue::Bool(_) => "`true` or `false`",
                    },
                    found: other.describe(),
                });
            }
        };
    }
    Ok((values, reduction))
}

fn suggest_params(params: &[ParamInfo], key: &str) -> Vec<String> {
    let mut found: Vec<(usize, &str)> = params
        .iter()
        .map(|p| p.name)
        .chain(["reduction"])
        .filter_map(|name| closeness(key, &normalize(name)).map(|d| (d, name)))
        .collect();
    found.sort();
    found
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_owned())
        .collect()
}

/// How far `known` is from `query` (both normalised), if close enough to suggest: the edit
/// distance, when it is at most a third of the query's length (at least 2), or when one
/// contains the other.
fn closeness(query: &str, known: &str) -> Option<usize> {
    let d = levenshtein(query, known);
    let limit = (query.chars().count() / 3).max(2);
    let contains =
        query.len() >= 3 && known.len() >= 3 && (known.contains(query) || query.contains(known));
    (d <= limit || contains).then_some(d)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diag + usize::from(ca != cb));
            diag = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_distances() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("huber", "huber"), 0);
        assert_eq!(levenshtein("hubr", "huber"), 1);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
    }

    #[test]
    fn closeness_rules() {
        assert_eq!(closeness("hubr", "huber"), Some(1));
        assert_eq!(closeness("huberloss", "huber"), Some(4));
        assert_eq!(closeness("mse", "mae"), Some(1));
        assert_eq!(closeness("focal", "kldivergence"), None);
    }
}
