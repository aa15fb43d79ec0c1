//! Calibration: how many recipients each kommune has, by age band, and the probability of
//! each service by age band.
//!
//! Recipients of a kommune in an age band = the kommune's population in the band × the
//! national share of the age group that receives services (Helsedirektoratet 2022, DOMAIN
//! §7: 0–17 1.7 %, 18–49 3.7 %, 50–66 4.7 %, 67–79 12.6 %, 80–89 44.7 %, 90+ 88.0 %) × a
//! factor per data year that makes the national sum equal the year's official number of
//! recipients ([`official_recipients`]) × the configured scale. The whole count is rounded
//! stochastically from the kommune's own random stream (`"count"`) and shared among the bands
//! by largest remainder, so Utsira gets a handful and Oslo tens of thousands, and the
//! national sum stays within a fraction of a percent of the official figure.
//!
//! **\[model\]** The registry gives the population of 1 January 2023 for every year, so the
//! per-year factor carries all change in the number of recipients between years.

use std::sync::OnceLock;

use iplos_model::municipality::{self, Municipality};
use rand::Rng;

use crate::GenError;
use crate::seed::stream_rng;
use crate::services::{LONG_TERM_STAY, SERVICES, Shape};

/// The age bands of the national shares, inclusive (105 counts everyone 105 or older).
pub const AGE_BANDS: [(u8, u8); 6] = [(0, 17), (18, 49), (50, 66), (67, 79), (80, 89), (90, 105)];

/// Labels of [`AGE_BANDS`].
pub const AGE_BAND_LABELS: [&str; 6] = ["0-17", "18-49", "50-66", "67-79", "80-89", "90+"];

/// Share of each age band receiving services (Helsedirektoratet 2022, DOMAIN §7).
pub const RECIPIENT_SHARE: [f64; 6] = [0.017, 0.037, 0.047, 0.126, 0.447, 0.880];

/// Official national recipients per year (Helsedirektoratet, DOMAIN §7).
pub const OFFICIAL_RECIPIENTS: [(u16, u32); 5] = [
    (2016, 355_635),
    (2017, 361_471),
    (2018, 364_587),
    (2022, 390_369),
    (2024, 399_263),
];

/// How a year's national figure was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FigureSource {
    /// Published for that year.
    Official,
    /// **\[model\]** Linear interpolation between the published years around it.
    Interpolated,
    /// **\[model\]** The last published figure (2024), held for later years.
    HeldFromLastYear,
}

/// The national number of recipients in data `year` (2016–2030) and where it comes from.
pub fn official_recipients(year: u16) -> Result<(f64, FigureSource), GenError> {
    if !municipality::supported_years().contains(&year) {
        return Err(GenError::UnsupportedYear { year });
    }
    if let Some(&(_, v)) = OFFICIAL_RECIPIENTS.iter().find(|(y, _)| *y == year) {
        return Ok((f64::from(v), FigureSource::Official));
    }
    let (last_year, last) = OFFICIAL_RECIPIENTS[OFFICIAL_RECIPIENTS.len() - 1];
    if year > last_year {
        return Ok((f64::from(last), FigureSource::HeldFromLastYear));
    }
    for w in OFFICIAL_RECIPIENTS.windows(2) {
        let ((y0, v0), (y1, v1)) = (w[0], w[1]);
        if y0 < year && year < y1 {
            let t = f64::from(year - y0) / f64::from(y1 - y0);
            let v = f64::from(v0) + t * (f64::from(v1) - f64::from(v0));
            return Ok((v, FigureSource::Interpolated));
        }
    }
    Err(GenError::UnsupportedYear { year })
}

/// National population by age band in data `year` (the sum over that year's kommuner).
pub fn national_band_population(year: u16) -> Result<[f64; 6], GenError> {
    static CACHE: [OnceLock<[f64; 6]>; 15] = [const { OnceLock::new() }; 15];
    let list = municipality::municipalities(year).map_err(GenError::Registry)?;
    let slot = usize::from(year.saturating_sub(municipality::FIRST_YEAR));
    let compute = || {
        let mut out = [0.0; 6];
        for m in list {
            for (o, &(lo, hi)) in out.iter_mut().zip(AGE_BANDS.iter()) {
                *o += m.population().in_band(lo, hi) as f64;
            }
        }
        out
    };
    Ok(match CACHE.get(slot) {
        Some(cell) => *cell.get_or_init(compute),
        None => compute(),
    })
}

/// The factor that turns `population × share` into the year's official total.
pub fn year_factor(year: u16) -> Result<f64, GenError> {
    let (official, _) = official_recipients(year)?;
    let pop = national_band_population(year)?;
    let raw: f64 = pop.iter().zip(RECIPIENT_SHARE).map(|(p, s)| p * s).sum();
    Ok(if raw > 0.0 { official / raw } else { 0.0 })
}

/// Expected recipients of a kommune by age band (before rounding), at `scale`.
pub fn expected_recipients(
    year: u16,
    kommune: &Municipality,
    scale: f64,
) -> Result<[f64; 6], GenError> {
    let f = year_factor(year)? * scale;
    let mut out = [0.0; 6];
    for (i, &(lo, hi)) in AGE_BANDS.iter().enumerate() {
        out[i] = kommune.population().in_band(lo, hi) as f64 * RECIPIENT_SHARE[i] * f;
    }
    Ok(out)
}

/// The number of recipients a kommune gets, by age band: the expected total rounded
/// stochastically with the kommune's `"count"` stream, shared among the bands by largest
/// remainder. [`generate_kommune`](crate::generate_kommune) makes exactly this many persons.
pub fn recipient_counts(
    year: u16,
    kommune: &Municipality,
    scale: f64,
    seed: u64,
) -> Result<[u32; 6], GenError> {
    let expected = expected_recipients(year, kommune, scale)?;
    let total: f64 = expected.iter().sum();
    let mut counts = [0u32; 6];
    if total.is_nan() || total <= 0.0 || !total.is_finite() {
        return Ok(counts);
    }
    let mut rng = stream_rng(seed, year, kommune.number(), "count");
    let u: f64 = rng.r#gen();
    let n = total.floor() + if u < total.fract() { 1.0 } else { 0.0 };
    let mut rem = [(0.0f64, 0usize); 6];
    let mut assigned = 0.0;
    for (i, e) in expected.iter().enumerate() {
        let share = e * n / total;
        let whole = share.floor();
        counts[i] = whole as u32;
        assigned += whole;
        rem[i] = (share - whole, i);
    }
    // Largest remainder first; ties by band.
    rem.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut left = (n - assigned).round() as usize;
    for &(r, i) in rem.iter() {
        if left == 0 {
            break;
        }
        if r > 0.0 {
            counts[i] += 1;
            left -= 1;
        }
    }
    Ok(counts)
}

/// Highest probability any service gets in a band.
const MAX_PROBABILITY: f64 = 0.95;

/// Calibrated probabilities of each service of [`SERVICES`] (same order) by age band,
/// and the national recipients each is expected to reach (2022 level).
#[derive(Debug, Clone)]
pub struct ServiceProbabilities {
    /// `p[s][b]`: the chance that a recipient in band `b` is drawn service `s` (before the
    /// long-term-stay rule and the at-least-one-service fallback).
    pub p: Vec<[f64; 6]>,
    /// Expected national recipients per service at the 2022 level after both rules.
    pub expected_2022: Vec<f64>,
}

/// The share of long-term stays that began before the data year (the rule "an ongoing
/// long-term stay replaces everything else" uses it).
pub(crate) fn long_term_ongoing_share() -> f64 {
    match SERVICES[0].shape {
        Shape::Lasting { ongoing, .. } if SERVICES[0].code == LONG_TERM_STAY => ongoing,
        _ => 0.0,
    }
}

/// Probabilities calibrated once (they do not depend on the data year: the national age
/// structure is the same every year and the targets scale with the national total).
///
/// A recipient draws each service independently with `p[s][b]`; one whose long-term stay
/// (21) began before the year keeps only that; one who drew nothing gets one service drawn
/// in proportion to `p[·][b]`. The levels are found by fixed-point iteration on the exact
/// expected counts under these rules, so the national counts meet the 2022 figures.
pub fn service_probabilities() -> &'static ServiceProbabilities {
    static CELL: OnceLock<ServiceProbabilities> = OnceLock::new();
    CELL.get_or_init(|| {
        // National recipients per band at the 2022 level.
        let pop = national_band_population(2022).unwrap_or([0.0; 6]);
        let f = year_factor(2022).unwrap_or(0.0);
        let n_b: Vec<f64> = (0..6).map(|b| pop[b] * RECIPIENT_SHARE[b] * f).collect();
        let q21 = long_term_ongoing_share();
        let mut c: Vec<f64> = SERVICES
            .iter()
            .map(|s| {
                let d: f64 = (0..6).map(|b| n_b[b] * s.age_profile[b]).sum();
                if d > 0.0 { s.recipients_2022 / d } else { 0.0 }
            })
            .collect();
        let probs = |c: &[f64]| -> Vec<[f64; 6]> {
            SERVICES
                .iter()
                .zip(c)
                .map(|(s, &c)| std::array::from_fn(|b| (c * s.age_profile[b]).min(MAX_PROBABILITY)))
                .collect()
        };
        let expected = |p: &[[f64; 6]]| -> Vec<f64> {
            let mut e = vec![0.0; SERVICES.len()];
            for b in 0..6 {
                let none: f64 = p.iter().map(|ps| 1.0 - ps[b]).product();
                let sum: f64 = p.iter().map(|ps| ps[b]).sum();
                let p21 = p[0][b];
                for (s, spec) in SERVICES.iter().enumerate() {
                    let keep = if spec.replaced_by_long_term_stay {
                        1.0 - p21 * q21
                    } else {
                        1.0
                    };
                    let fallback = if sum > 0.0 { none * p[s][b] / sum } else { 0.0 };
                    e[s] += n_b[b] * (p[s][b] * keep + fallback);
                }
            }
            e
        };
        for _ in 0..60 {
            let e = expected(&probs(&c));
            for (s, spec) in SERVICES.iter().enumerate() {
                if e[s] > 0.0 {
                    c[s] *= spec.recipients_2022 / e[s];
                }
            }
        }
        let p = probs(&c);
        let expected_2022 = expected(&p);
        ServiceProbabilities { p, expected_2022 }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_figures_and_interpolation() {
        assert_eq!(
            official_recipients(2017).unwrap(),
            (361_471.0, FigureSource::Official)
        );
        let (v, src) = official_recipients(2020).unwrap();
        assert_eq!(src, FigureSource::Interpolated);
        assert!((v - (364_587.0 + (390_369.0 - 364_587.0) * 0.5)).abs() < 1e-6);
        let (v, src) = official_recipients(2023).unwrap();
        assert_eq!(src, FigureSource::Interpolated);
        assert!((v - 394_816.0).abs() < 1e-6);
        assert_eq!(
            official_recipients(2030).unwrap(),
            (399_263.0, FigureSource::HeldFromLastYear)
        );
        assert!(official_recipients(2015).is_err());
        assert!(official_recipients(2031).is_err());
    }

    #[test]
    fn expected_national_sum_equals_the_official_figure() {
        for year in [2016, 2017, 2020, 2024, 2030] {
            let (official, _) = official_recipients(year).unwrap();
            let sum: f64 = municipality::municipalities(year)
                .unwrap()
                .iter()
                .map(|m| {
                    expected_recipients(year, m, 1.0)
                        .unwrap()
                        .iter()
                        .sum::<f64>()
                })
                .sum();
            assert!(
                (sum - official).abs() < 1e-6 * official,
                "{year}: {sum} vs {official}"
            );
        }
    }

    #[test]
    fn rounding_keeps_the_total_and_is_deterministic() {
        let m = municipality::lookup(2024, "1151").unwrap();
        let e: f64 = expected_recipients(2024, m, 1.0).unwrap().iter().sum();
        for seed in 0..50 {
            let c = recipient_counts(2024, m, 1.0, seed).unwrap();
            let n: u32 = c.iter().sum();
            assert!(
                f64::from(n) == e.floor() || f64::from(n) == e.ceil(),
                "{n} vs {e}"
            );
            assert_eq!(c, recipient_counts(2024, m, 1.0, seed).unwrap());
        }
        assert_eq!(recipient_counts(2024, m, 0.0, 1).unwrap(), [0; 6]);
    }

    #[test]
    fn calibrated_service_counts_meet_the_targets() {
        let sp = service_probabilities();
        for (s, spec) in SERVICES.iter().enumerate() {
            let e = sp.expected_2022[s];
            let rel = (e - spec.recipients_2022).abs() / spec.recipients_2022;
            assert!(
                rel < 0.01,
                "{}: expected {e:.0} vs target {}",
                spec.code,
                spec.recipients_2022
            );
            for b in 0..6 {
                assert!((0.0..=MAX_PROBABILITY).contains(&sp.p[s][b]));
            }
        }
    }
}
