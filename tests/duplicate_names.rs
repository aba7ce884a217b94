//! Two losses claiming the same name: looking that name up is an error naming both
//! declarations (this test crate exists to hold the clash; the rest of the registry works).

use losses::LossError;
use losses::prelude::*;

mod first {
    use losses::prelude::*;

    #[loss(name = "twin")]
    pub fn twin_a(y_true: f64, y_pred: f64) -> f64 {
        (y_pred - y_true).powi(2)
    }
}

mod second {
    use losses::prelude::*;

    #[loss(name = "twin")]
    pub fn twin_b(y_true: f64, y_pred: f64) -> f64 {
        (y_pred - y_true).abs()
    }
}

#[test]
fn a_duplicate_name_is_an_error_naming_both() {
    let err = losses::get::<f64>("twin").unwrap_err();
    let LossError::DuplicateLoss { first, second, .. } = &err else {
        panic!("expected DuplicateLoss, got {err}");
    };
    let both = format!("{first} {second}");
    assert!(both.contains("first::TwinA"), "{err}");
    assert!(both.contains("second::TwinB"), "{err}");
    assert!(both.contains("duplicate_names.rs"), "{err}");
    assert!(!losses::registry().conflicts().is_empty());
    // The rest of the registry is unaffected, and each struct still works on its own.
    assert!(losses::get::<f64>("huber").is_ok());
    let v = first::TwinA::default()
        .forward(&[1.0, 2.0], &[2.0, 2.0])
        .unwrap();
    assert_eq!(v, 0.5);
}
