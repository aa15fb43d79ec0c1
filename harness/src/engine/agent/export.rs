//! The file a kommune's EPJ exports: generated from the seed, with the vendor's header
//! and the export faults' defects.

use anyhow::{Context, Result};
use iplos_generators::{GenConfig, generate_kommune};
use iplos_model::message::{Melding, OutputEncoding, write_message};
use iplos_model::municipality;

use crate::engine::plan::Plan;
use crate::engine::queue::Kind;
use crate::engine::world::{Agent, EngineConfig};
use crate::scenario::Fault;

/// The file a kommune sends now (and the EPJ product that wrote it).
pub(crate) fn file_for(cfg: &EngineConfig, a: &mut Agent, kind: Kind) -> Result<Vec<u8>> {
    let (bytes, vendor) = make_file(cfg, &a.plan, kind, a.needs_resend, a.export_fixed)?;
    a.vendor = vendor;
    Ok(bytes)
}

/// The file of `kind` a kommune with `plan` sends: `resend` — the fixed file after a
/// rejection (Sendemodul), `fixed` — the vendor has fixed the export. A function of its
/// arguments and the seed.
pub(crate) fn make_file(
    cfg: &EngineConfig,
    plan: &Plan,
    kind: Kind,
    resend: bool,
    fixed: bool,
) -> Result<(Vec<u8>, String)> {
    let sc = &cfg.scenario;
    let kommune = municipality::lookup(u16::try_from(sc.season.data_year)?, &plan.knr)?;
    let year = match kind {
        Kind::Test => sc.season.test_data_year.unwrap_or(sc.season.data_year),
        _ => sc.season.data_year,
    };
    // [model] The generators start at data year 2016: the 2016 season's test (2015 data in
    // reality) sends generated 2016 data.
    let y = u16::try_from(year)?.max(*iplos_model::municipality::supported_years().start());
    // The test uses the previous year's data; a kommune new this year reports its test
    // data under its current number ([model]).
    let gen_cfg = GenConfig::with_scale(cfg.scale);
    let data = generate_kommune(y, kommune, &gen_cfg, cfg.seed)
        .with_context(|| format!("generating {} for {year}", plan.knr))?;
    let mut m: Melding = match kind {
        Kind::Correction if !resend => data.korreksjoner,
        _ => data.melding,
    };
    if let Some(v) = &plan.vendor
        && let Some(vendor) = iplos_generators::profile::VENDORS
            .iter()
            .find(|x| x.navn_epj == v)
    {
        m.header.leverandor = vendor.leverandor.to_string();
        m.header.navn_epj = vendor.navn_epj.to_string();
    }
    let vendor = m.header.navn_epj.clone();
    // The export faults are the generators' named defects (the same the `generate
    // --defect` option injects): `unknown-element` (XSD02) and `old-kommunenummer` (IPL22).
    let mut defects = Vec::new();
    if kind == Kind::Ordinary && !fixed && plan.has(Fault::DefectiveExport) {
        defects.push(iplos_generators::defects::find("unknown-element")?);
    }
    // The kommunenummer trap: the kommune's own other number (next year's, or the one from
    // before its merger) in place of this year's (IPL22).
    let trap = (kind == Kind::Ordinary && !fixed && plan.has(Fault::OldKommunenummer))
        .then(|| {
            crate::engine::plan::trap_number(u16::try_from(sc.season.data_year).ok()?, &plan.knr)
        })
        .flatten();
    if let Some(other) = trap {
        for k in m.kommuner.iter_mut().filter(|k| **k == plan.knr) {
            *k = other.clone();
        }
    }
    if defects.is_empty() {
        let mut out = Vec::new();
        write_message(&m, &mut out, OutputEncoding::Utf8)?;
        return Ok((out, vendor));
    }
    let mut rng = iplos_generators::seed::stream_rng(cfg.seed, y, &plan.knr, "export-defects");
    let ctx = iplos_generators::defects::DefectContext::new(sc.season.data_year, &plan.knr);
    let (out, _) = iplos_generators::defects::render(&m, &defects, &mut rng, &ctx)
        .with_context(|| format!("the defective export of {}", plan.knr))?;
    Ok((out, vendor))
}
