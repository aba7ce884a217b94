//! Nanoseconds per element of the `Float` transcendental functions in a plain loop over
//! 2^20 f32 values (one thread), compiled for AVX2+FMA and for the baseline.
//!
//! `cargo run --release -p losses-benches --bin math_costs`

use losses::Float;
use losses_benches::time_ms;

macro_rules! costs {
    ($($name:literal => |$x:ident| $e:expr;)*) => {
        fn main() {
            let n = 1 << 20;
            let xs: Vec<f32> = (0..n).map(|i| 0.01 + (i as f32 / n as f32) * 0.98).collect();
            let mut ys = vec![0.0f32; n];
            println!("{:<16} {:>12} {:>12}", "function", "portable ns", "avx2 ns");
            $(
                {
                    fn portable(xs: &[f32], ys: &mut [f32]) {
                        for (y, &$x) in ys.iter_mut().zip(xs) {
                            *y = $e;
                        }
                    }
                    #[cfg(target_arch = "x86_64")]
                    #[target_feature(enable = "avx2,fma")]
                    fn avx2(xs: &[f32], ys: &mut [f32]) {
                        for (y, &$x) in ys.iter_mut().zip(xs) {
                            *y = $e;
                        }
                    }
                    let base = time_ms(10, || portable(&xs, &mut ys)).0;
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: only run where AVX2 and FMA are detected.
                    let avx = if std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                    {
                        time_ms(10, || unsafe { avx2(&xs, &mut ys) }).0
                    } else {
                        f64::NAN
                    };
                    #[cfg(not(target_arch = "x86_64"))]
                    let avx = f64::NAN;
                    let k = 1e6 / n as f64;
                    println!("{:<16} {:>12.3} {:>12.3}", $name, base * k, avx * k);
                }
            )*
        }
    };
}

costs! {
    "ln" => |x| Float::ln(x);
    "exp" => |x| Float::exp(x);
    "ln_1p" => |x| Float::ln_1p(x);
    "exp_m1" => |x| Float::exp_m1(x);
    "tanh" => |x| Float::tanh(x);
    "sigmoid" => |x| Float::sigmoid(x);
    "softplus" => |x| Float::softplus(x);
    "powf(x, 2)" => |x| Float::powf(x, 2.0);
    "std ln (libm)" => |x| f32::ln(x);
    "std exp (libm)" => |x| f32::exp(x);
}
