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
    /// 0 for the name, 1 for the struct name, 2.. for the aliases: the preferred spelling
    /// of a loss in suggestions is its lowest rank.
    rank: usize,
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
/// ```
/// # use loss_core as losses;
/// let mse: Box<dyn losses::DynLoss<f64>> = losses::get("MSE")?;
/// assert_eq!(mse.name(), "mean_squared_error");
/// assert_eq!(mse.spec(), "mean_squared_error(reduction=mean)");
/// # Ok::<(), losses::LossError>(())
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
            for (rank, (spelling, presets)) in names.into_iter().enumerate() {
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
                    rank,
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
        // Per entry: (distance, rank of the spelling, spelling).
        let mut best: Vec<(usize, usize, &str, RegistryEntry)> = Vec::new();
        for (k, claims) in &self.keys {
            let Some(d) = closeness(key, k) else { continue };
            for c in claims {
                let cand = (d, c.rank, c.spelling.as_str(), c.entry);
                match best.iter_mut().find(|b| b.3 == c.entry) {
                    Some(b) if (cand.0, cand.1) < (b.0, b.1) => *b = cand,
                    Some(_) => {}
                    None => best.push(cand),
                }
            }
        }
        best.sort_by(|a, b| (a.0, a.2).cmp(&(b.0, b.2)));
        best.into_iter().take(3).map(|b| b.2.to_owned()).collect()
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

#[cfg(test)]
mod registry_tests {
    use super::*;
    use crate::testing::{TestHuber, TestMse};
    use crate::{Loss, ParamInfo};
    use ndarray::{ArrayD, IxDyn};

    fn unwrap_err<T>(r: Result<T>) -> LossError {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn lists_registered_entries() {
        let names: Vec<&str> = registry().entries().iter().map(|e| e.name()).collect();
        for n in [
            "test_huber",
            "test_mse",
            "test_softmax_ce",
            "test_sparse_ce",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        let huber = registry().find("test_huber").unwrap();
        assert_eq!(huber.struct_name(), "TestHuber");
        assert_eq!(huber.kind(), Kind::Elementwise);
        assert_eq!(huber.params()[0].name, "delta");
        assert_eq!(huber.params()[0].default, ParamValue::Float(1.0));
        assert!(huber.location().contains("testing.rs"));
        assert!(huber.doc().contains("Huber"));
        assert_eq!(
            huber.default_spec(),
            "test_huber(delta=1.0, double=false, reduction=mean)"
        );
        assert_eq!(registry().find("tsce").unwrap().kind(), Kind::Row);
        assert_eq!(
            registry().find("test_sparse_ce").unwrap().kind(),
            Kind::Sparse
        );
    }

    #[test]
    fn the_global_registry_has_no_conflicts() {
        let c = registry().conflicts();
        assert!(
            c.is_empty(),
            "{:?}",
            c.iter().map(Conflict::to_error).collect::<Vec<_>>()
        );
    }

    #[test]
    fn names_ignore_case_and_separators() {
        for name in [
            "test_mse",
            "TEST-MSE",
            "TestMse",
            "testmse",
            " tmse ",
            "T_MSE",
            "test_mean_squared",
            "TestMeanSquared()",
        ] {
            let l = get::<f64>(name).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(l.name(), "test_mse", "{name}");
        }
    }

    #[test]
    fn spec_round_trips() {
        let losses = [
            TestHuber {
                delta: 0.1 + 0.2,
                double: true,
                reduction: Reduction::WeightedMean,
            },
            TestHuber {
                delta: 1e-7,
                double: false,
                reduction: Reduction::Sum,
            },
            TestHuber::default(),
        ];
        for loss in losses {
            let spec = loss.spec();
            let back = from_spec::<f64>(&spec).unwrap();
            assert_eq!(back.spec(), spec);
            let back32 = from_spec::<f32>(&spec).unwrap();
            assert_eq!(back32.spec(), spec);
            // Same numbers.
            let t = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0.0, 1.0, 2.0, 3.0]).unwrap();
            let p = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![0.5, 0.0, 2.0, 5.0]).unwrap();
            assert_eq!(back.forward(t.view(), p.view()), loss.forward(&t, &p));
        }
        let mse = TestMse {
            reduction: Reduction::Sum,
        };
        assert_eq!(from_spec::<f64>(&mse.spec()).unwrap().spec(), mse.spec());
    }

    #[test]
    fn parameters_and_presets() {
        let l = get::<f64>("test_huber").unwrap();
        assert_eq!(
            l.spec(),
            "test_huber(delta=1.0, double=false, reduction=mean)"
        );
        let l = from_spec::<f64>("TestHuber( Delta = 2, DOUBLE=true, reduction=\"sum\" )").unwrap();
        assert_eq!(
            l.spec(),
            "test_huber(delta=2.0, double=true, reduction=sum)"
        );
        let l = from_spec::<f64>("test_huber(reduction=sum_over_batch_size)").unwrap();
        assert_eq!(l.reduction(), Reduction::Mean);
        // An alias with presets; the user's values override them.
        let l = get::<f64>("smooth_test").unwrap();
        assert_eq!(
            l.spec(),
            "test_huber(delta=0.25, double=false, reduction=mean)"
        );
        let l = from_spec::<f32>("Smooth-Test(delta=0.5, double=true)").unwrap();
        assert_eq!(
            l.spec(),
            "test_huber(delta=0.5, double=true, reduction=mean)"
        );
        let e = registry().find("smooth_test").unwrap();
        assert_eq!(e.name(), "test_huber");
    }

    #[test]
    fn unknown_names_suggest_close_ones() {
        let e = unwrap_err(get::<f64>("test_hubr"));
        let LossError::UnknownLoss { name, suggestions } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(name, "test_hubr");
        assert_eq!(suggestions[0], "test_huber");
        assert!(suggestions.len() <= 3);
        assert!(e.to_string().contains("did you mean `test_huber`"), "{e}");
        let e = unwrap_err(get::<f64>("TestMs"));
        let LossError::UnknownLoss { suggestions, .. } = &e else {
            panic!("{e:?}")
        };
        // One suggestion per loss, its canonical name when that is as close as the others.
        assert_eq!(suggestions[0], "test_mse");
        assert_eq!(
            suggestions
                .iter()
                .filter(|s| normalize(s) == "testmse")
                .count(),
            1
        );
        let e = unwrap_err(get::<f64>("zzzzzzzzzzzzzzzzzzzzzzz"));
        assert_eq!(
            e,
            LossError::UnknownLoss {
                name: "zzzzzzzzzzzzzzzzzzzzzzz".into(),
                suggestions: vec![]
            }
        );
    }

    #[test]
    fn parameter_errors() {
        let e = unwrap_err(from_spec::<f64>("test_huber(detla=1)"));
        assert_eq!(
            e,
            LossError::UnknownParameter {
                loss: "test_huber",
                param: "detla".into(),
                suggestions: vec!["delta".into()]
            }
        );
        assert!(e.to_string().contains("did you mean `delta`"));
        let e = unwrap_err(from_spec::<f64>("test_mse(delta=1)"));
        assert!(matches!(
            e,
            LossError::UnknownParameter {
                loss: "test_mse",
                ..
            }
        ));
        let e = unwrap_err(from_spec::<f64>("test_huber(delta=true)"));
        assert_eq!(
            e,
            LossError::ParameterType {
                loss: "test_huber",
                param: "delta",
                expected: "a number",
                found: "true".into()
            }
        );
        let e = unwrap_err(from_spec::<f64>("test_huber(double=1)"));
        assert!(
            matches!(
                e,
                LossError::ParameterType {
                    param: "double",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = unwrap_err(from_spec::<f64>("test_huber(delta=big)"));
        assert!(
            matches!(e, LossError::ParameterType { param: "delta", .. }),
            "{e:?}"
        );
        let e = unwrap_err(from_spec::<f64>("test_huber(reduction=2)"));
        assert!(
            matches!(
                e,
                LossError::ParameterType {
                    param: "reduction",
                    ..
                }
            ),
            "{e:?}"
        );
        let e = unwrap_err(from_spec::<f64>("test_huber(reduction=none)"));
        assert!(matches!(e, LossError::UnknownReduction { .. }), "{e:?}");
        // The loss's own validation.
        let e = unwrap_err(from_spec::<f64>("test_huber(delta=-1)"));
        assert_eq!(
            e,
            LossError::InvalidParameter {
                loss: "test_huber",
                param: "delta",
                value: -1.0,
                rule: "delta > 0.0"
            }
        );
    }

    #[test]
    fn malformed_specs_report_positions() {
        let e = unwrap_err(from_spec::<f64>("test_huber(delta=0.5"));
        assert!(
            matches!(e, LossError::MalformedSpec { position: 20, .. }),
            "{e:?}"
        );
        let e = unwrap_err(from_spec::<f64>("test_huber(delta=0.5, delta=1)"));
        assert!(
            matches!(e, LossError::MalformedSpec { position: 22, .. }),
            "{e:?}"
        );
        let e = unwrap_err(get::<f64>(""));
        assert!(
            matches!(e, LossError::MalformedSpec { position: 0, .. }),
            "{e:?}"
        );
    }

    // Entries for a private registry (not submitted to inventory: the global registry must
    // stay free of conflicts).
    fn make_f32(_: &[ParamValue], r: Reduction) -> Result<Box<dyn DynLoss<f32>>> {
        Ok(TestMse { reduction: r }.boxed())
    }
    fn make_f64(_: &[ParamValue], r: Reduction) -> Result<Box<dyn DynLoss<f64>>> {
        Ok(TestMse { reduction: r }.boxed())
    }
    const NO_PARAMS: &[ParamInfo] = &[];
    static DUP_A: Entry = Entry {
        name: "dup",
        struct_name: "DupA",
        aliases: &["shared_alias", "only_a"],
        kind: Kind::Elementwise,
        params: NO_PARAMS,
        doc: "",
        formula: "",
        location: "crate_a::dup at a.rs:1",
        make_f32,
        make_f64,
    };
    static DUP_B: Entry = Entry {
        name: "dup",
        struct_name: "DupB",
        aliases: &["Shared-Alias", "bad_alias(x=)"],
        kind: Kind::Elementwise,
        params: NO_PARAMS,
        doc: "",
        formula: "",
        location: "crate_b::dup at b.rs:2",
        make_f32,
        make_f64,
    };

    #[test]
    fn duplicates_name_both_locations() {
        let reg = Registry::from_entries([&DUP_B, &DUP_A]);
        assert_eq!(reg.entries().len(), 2);
        let conflicts: Vec<String> = reg.conflicts().iter().map(|c| c.name.clone()).collect();
        assert_eq!(
            conflicts,
            vec!["dup".to_string(), "shared_alias".to_string()]
        );
        let e = unwrap_err(reg.build::<f64>("dup"));
        assert_eq!(
            e,
            LossError::DuplicateLoss {
                name: "dup".into(),
                first: "crate_a::dup at a.rs:1".into(),
                second: "crate_b::dup at b.rs:2".into()
            }
        );
        assert!(e.to_string().contains("a.rs:1") && e.to_string().contains("b.rs:2"));
        assert!(matches!(
            reg.find("SHARED_ALIAS"),
            Err(LossError::DuplicateLoss { .. })
        ));
        // Names claimed once still work.
        assert_eq!(reg.find("DupB").unwrap().struct_name(), "DupB");
        assert_eq!(reg.build::<f32>("only_a()").unwrap().name(), "test_mse");
        // A malformed alias fails when used, with the parse error.
        assert!(matches!(
            reg.build::<f64>("bad_alias"),
            Err(LossError::MalformedSpec { .. })
        ));
    }
}
