//! Run-time choice of the instruction set for the hot loops.
//!
//! A loop marked with [`multiversion!`] is compiled three times on x86-64: for AVX-512
//! (F, BW, DQ, VL), for AVX2 + FMA, and for the baseline of the target, and the best one the
//! CPU supports is called (detected once, then cached). Kernels and the functions of
//! [`crate::vmath`] are `#[inline(always)]`, so each copy gets its own vector code; no
//! `target-cpu` flag is needed. Elsewhere the portable copy runs. The arithmetic is the same
//! in every copy (fused multiply-adds only where written, as `mul_add`, which rounds once on
//! every target), so results are the same bits; the baseline copy computes `mul_add` with a
//! library call on x86-64, which is slower but exact.

/// The instruction sets the hot loops are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    Portable = 1,
    Avx2 = 2,
    Avx512 = 3,
}

/// The best level this CPU supports (detected on first use). `LOSSES_SIMD=portable|avx2`
/// caps it (for testing and benchmarking).
#[inline]
pub(crate) fn level() -> Level {
    use std::sync::atomic::{AtomicU8, Ordering};
    static LEVEL: AtomicU8 = AtomicU8::new(0);
    match LEVEL.load(Ordering::Relaxed) {
        1 => Level::Portable,
        2 => Level::Avx2,
        3 => Level::Avx512,
        _ => {
            let l = detect();
            LEVEL.store(l as u8, Ordering::Relaxed);
            l
        }
    }
}

#[cold]
fn detect() -> Level {
    let cap = match std::env::var("LOSSES_SIMD").as_deref() {
        Ok("portable") => Level::Portable,
        Ok("avx2") => Level::Avx2,
        _ => Level::Avx512,
    };
    #[cfg(target_arch = "x86_64")]
    {
        let l = if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            Level::Avx512
        } else if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            Level::Avx2
        } else {
            Level::Portable
        };
        if (l as u8) < (cap as u8) { l } else { cap }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = cap;
        Level::Portable
    }
}

/// Defines `fn name[generics](args) -> ret { body }` (or without `-> ret`) compiled once per [`Level`] and
/// dispatching at run time. Generics go in square brackets.
macro_rules! multiversion {
    ($(#[$attr:meta])* $vis:vis fn $name:ident [$($gen:tt)*] ($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty $body:block) => {
        $(#[$attr])*
        #[inline]
        $vis fn $name<$($gen)*>($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn portable<$($gen)*>($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2<$($gen)*>($($arg: $ty),*) -> $ret {
                    portable($($arg),*)
                }
                #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")]
                fn avx512<$($gen)*>($($arg: $ty),*) -> $ret {
                    portable($($arg),*)
                }
                match $crate::simd::level() {
                    // SAFETY: the CPU supports these features (checked by `level`).
                    $crate::simd::Level::Avx512 => return unsafe { avx512($($arg),*) },
                    $crate::simd::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::simd::Level::Portable => {}
                }
            }
            portable($($arg),*)
        }
    };
    ($(#[$attr:meta])* $vis:vis fn $name:ident [$($gen:tt)*] ($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $crate::simd::multiversion! {
            $(#[$attr])* $vis fn $name [$($gen)*] ($($arg: $ty),*) -> () $body
        }
    };
}
pub(crate) use multiversion;
