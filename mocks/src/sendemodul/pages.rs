//! The routes and HTML pages of both portals.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, Form, FromRequest, Multipart, Path, Request, State,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use iplos_model::calendar::OSLO;
use serde::Deserialize;

use super::app::{App, LoginForm, Session, lock, random_hex};
use super::groups::GroupKey;
use super::types::{COOKIE, FORM_OVERHEAD, LoginOutcome, parse_portal, portal_name};
use super::upload::{self, Added, Refusal};
use crate::intake::Channel;
use crate::intake::{Submission, SubmissionFile, SubmissionId, SubmissionInfo};

type AppState = Arc<App>;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(crate) fn routes(app: &Arc<App>) -> Router<AppState> {
    let limit = usize::try_from(app.config.max_part_bytes.saturating_add(FORM_OVERHEAD))
        .unwrap_or(usize::MAX);
    Router::new()
        .route("/{portal}", get(to_start))
        .route("/{portal}/", get(login_page))
        .route("/{portal}/login", post(login_post).get(to_start))
        .route(
            "/{portal}/upload",
            get(upload_page)
                .post(upload_post)
                .layer(DefaultBodyLimit::max(limit)),
        )
        .route("/{portal}/history", get(history))
        .route("/{portal}/receipt/{id}", get(receipt))
        .route("/{portal}/logout", post(logout))
        .fallback(not_found)
}

// ---------------------------------------------------------------------------------------
// HTML helpers
// ---------------------------------------------------------------------------------------

pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn oslo(t: DateTime<Utc>) -> String {
    t.with_timezone(&OSLO)
        .format("%d.%m.%Y kl. %H:%M:%S")
        .to_string()
}

fn page(status: StatusCode, channel: Option<Channel>, title: &str, body: &str) -> Response {
    let portal = match channel {
        Some(Channel::Test) => " (TEST)",
        _ => "",
    };
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"no\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\">\n\
         <title>{title} – IPLOS Sendemodul{portal}</title>\n</head>\n<body>\n\
         <p>IPLOS Sendemodul{portal} – Statistisk sentralbyrå / Norsk helsenett</p>\n\
         <h1>{title}</h1>\n{body}\n</body>\n</html>\n",
        title = esc(title),
    );
    let mut r = (status, Html(html)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

fn base(channel: Channel) -> String {
    format!("/{}", portal_name(channel))
}

async fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        None,
        "Siden finnes ikke (not found)",
        "<p>Sendemodul: <a href=\"/Sendemodul/\">/Sendemodul/</a>, test: <a href=\"/SendemodulTEST/\">/SendemodulTEST/</a>.</p>",
    )
}

fn token_of(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == COOKIE).then(|| v.trim().to_string())
        })
        .collect()
}

fn session_of(app: &App, headers: &HeaderMap, channel: Channel) -> Option<(String, Session)> {
    token_of(headers)
        .into_iter()
        .find_map(|t| app.session(&t, channel).map(|s| (t, s)))
}

fn cookie(channel: Channel, value: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/{}/; Max-Age={max_age}; HttpOnly; SameSite=Lax",
        portal_name(channel)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

// ---------------------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------------------

async fn to_start(Path(portal): Path<String>) -> Response {
    match parse_portal(&portal) {
        Some(c) => redirect(&format!("{}/", base(c))),
        None => not_found().await,
    }
}

fn login_html(channel: Channel, notice: &str) -> String {
    let b = base(channel);
    let test = if channel == Channel::Test {
        "<p><strong>Testinnsending</strong>: send fjorårets data (test submission: send last year's data).</p>\n"
    } else {
        ""
    };
    format!(
        "{test}{notice}<p>Logg inn med kommunenummer, bydel, kommunens organisasjonsnummer og PIN-kode \
         (samme PIN som for KOSTRA). Har kommunen ikke bydeler, skriv 00. \
         (Log in with municipality number, district, the municipality's organisation number and PIN — the KOSTRA PIN. \
         Without districts, enter 00.)</p>\n\
         <form method=\"post\" action=\"{b}/login\" accept-charset=\"UTF-8\">\n\
         <p><label for=\"kommunenr\">Kommunenummer (municipality number)</label><br>\
         <input type=\"text\" id=\"kommunenr\" name=\"kommunenr\" size=\"4\" maxlength=\"4\"></p>\n\
         <p><label for=\"bydel\">Bydel (district)</label><br>\
         <input type=\"text\" id=\"bydel\" name=\"bydel\" size=\"2\" maxlength=\"2\" value=\"00\"></p>\n\
         <p><label for=\"orgnr\">Organisasjonsnummer (organisation number)</label><br>\
         <input type=\"text\" id=\"orgnr\" name=\"orgnr\" size=\"11\" maxlength=\"11\"></p>\n\
         <p><label for=\"pin\">PIN-kode (PIN)</label><br>\
         <input type=\"password\" id=\"pin\" name=\"pin\" size=\"8\" autocomplete=\"off\"></p>\n\
         <p><input type=\"submit\" value=\"Logg inn (log in)\"></p>\n</form>\n"
    )
}

async fn login_page(
    State(app): State<AppState>,
    Path(portal): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(channel) = parse_portal(&portal) else {
        return not_found().await;
    };
    if session_of(&app, &headers, channel).is_some() {
        return redirect(&format!("{}/upload", base(channel)));
    }
    page(
        StatusCode::OK,
        Some(channel),
        "Innlogging (log in)",
        &login_html(channel, ""),
    )
}

async fn login_post(
    State(app): State<AppState>,
    Path(portal): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Some(channel) = parse_portal(&portal) else {
        return not_found().await;
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    match app.login(channel, &form, peer.ip()) {
        Ok((token, _)) => {
            let mut r = redirect(&format!("{}/upload", base(channel)));
            r.headers_mut().insert(
                header::SET_COOKIE,
                cookie(channel, &token, app.config.session_lifetime.num_seconds()),
            );
            r
        }
        Err((LoginOutcome::Locked, until)) => {
            let until = until.map(oslo).unwrap_or_default();
            page(
                StatusCode::TOO_MANY_REQUESTS,
                Some(channel),
                "For mange forsøk (too many attempts)",
                &format!(
                    "<p id=\"sperret\">For mange mislykkede innloggingsforsøk. Innlogging er sperret til {until} (Europe/Oslo). \
                     (Too many failed login attempts; login is blocked until {until}, Oslo time.)</p>\n\
                     <p>Kontakt SSB hvis du trenger hjelp (contact SSB for help).</p>\n"
                ),
            )
        }
        Err(_) => page(
            StatusCode::UNAUTHORIZED,
            Some(channel),
            "Innlogging (log in)",
            &login_html(
                channel,
                "<p id=\"feil\"><strong>Innlogging feilet: kombinasjonen av kommunenummer, bydel, \
                 organisasjonsnummer og PIN-kode er ikke gjenkjent. (Login failed: the combination of \
                 municipality number, district, organisation number and PIN is not recognised.)</strong></p>\n",
            ),
        ),
    }
}

async fn logout(
    State(app): State<AppState>,
    Path(portal): Path<String>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let Some(channel) = parse_portal(&portal) else {
        return not_found().await;
    };
    let form = form.map(|Form(f)| f).unwrap_or_default();
    if let Some((token, s)) = session_of(&app, &headers, channel) {
        if s.csrf != form.csrf {
            return page(
                StatusCode::FORBIDDEN,
                Some(channel),
                "Ugyldig skjema (invalid form)",
                "<p>Skjemaet er utløpt; last siden på nytt (the form expired; reload the page).</p>",
            );
        }
        app.end_session(&token);
        tracing::info!(target: "iplos_mocks::sendemodul", kommunenr = %s.kommunenr, %channel, "logout");
    }
    let mut r = redirect(&format!("{}/", base(channel)));
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie(channel, "", 0));
    r
}

// ---------------------------------------------------------------------------------------
// Upload
// ---------------------------------------------------------------------------------------

fn nav(channel: Channel, s: &Session) -> String {
    let b = base(channel);
    format!(
        "<p>Innlogget som (logged in as) kommune {knr} {name}, bydel {bydel}. \
         <a href=\"{b}/upload\">Last opp (upload)</a> | <a href=\"{b}/history\">Innsendte filer (uploads)</a></p>\n\
         <form method=\"post\" action=\"{b}/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"submit\" value=\"Logg ut (log out)\"></form>\n",
        knr = esc(&s.kommunenr),
        name = esc(&s.kommune_name),
        bydel = esc(&s.bydel),
        csrf = esc(&s.csrf),
    )
}

fn upload_form(channel: Channel, s: &Session, part: u32, count: u32, group: &str) -> String {
    let b = base(channel);
    format!(
        "<form method=\"post\" action=\"{b}/upload\" enctype=\"multipart/form-data\" accept-charset=\"UTF-8\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <p><label for=\"epost\">E-post til IPLOS-kontakt (contact e-mail; the receipt goes here)</label><br>\
         <input type=\"text\" id=\"epost\" name=\"epost\" size=\"40\"></p>\n\
         <p><label for=\"telefon\">Mobiltelefon (mobile phone, optional)</label><br>\
         <input type=\"text\" id=\"telefon\" name=\"telefon\" size=\"16\"></p>\n\
         <p><label for=\"tilbakemeldingspassord\">Passord for tilbakemeldingsfil, minst 6 tegn \
         (password for the feedback file, at least 6 characters)</label><br>\
         <input type=\"password\" id=\"tilbakemeldingspassord\" name=\"tilbakemeldingspassord\" size=\"20\" autocomplete=\"off\"></p>\n\
         <fieldset><legend>Delt fil (split file; leave 1 of 1 for a whole file)</legend>\n\
         <label for=\"del\">Del nr. (part)</label> <input type=\"text\" id=\"del\" name=\"del\" size=\"3\" value=\"{part}\">\n\
         <label for=\"antall_deler\">av (of)</label> <input type=\"text\" id=\"antall_deler\" name=\"antall_deler\" size=\"3\" value=\"{count}\">\n\
         <label for=\"gruppe\">Opplastingsgruppe (upload group id; the same for every part)</label> \
         <input type=\"text\" id=\"gruppe\" name=\"gruppe\" size=\"34\" value=\"{group}\">\n</fieldset>\n\
         <p><label for=\"fil\">Fil (file)</label><br><input type=\"file\" id=\"fil\" name=\"fil\"></p>\n\
         <p><input type=\"submit\" value=\"Send (upload)\"></p>\n</form>\n",
        csrf = esc(&s.csrf),
        group = esc(group),
    )
}

async fn upload_page(
    State(app): State<AppState>,
    Path(portal): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(channel) = parse_portal(&portal) else {
        return not_found().await;
    };
    let Some((_, s)) = session_of(&app, &headers, channel) else {
        return redirect(&format!("{}/", base(channel)));
    };
    let body = format!(
        "{}<p>Data for {} (data year). Maks {} byte per fil; større filer deles (at most {} bytes per upload; split larger files).</p>\n{}",
        nav(channel, &s),
        channel.checked_year(app.config.data_year),
        app.config.max_part_bytes,
        app.config.max_part_bytes,
        upload_form(channel, &s, 1, 1, &random_hex(16))
    );
    page(
        StatusCode::OK,
        Some(channel),
        "Last opp IPLOS-fil (upload)",
        &body,
    )
}

fn refused(channel: Channel, s: Option<&Session>, r: &Refusal) -> Response {
    let nav = s.map(|s| nav(channel, s)).unwrap_or_default();
    page(
        r.status,
        Some(channel),
        "Filen ble ikke mottatt (upload refused)",
        &format!("{nav}<p id=\"feil\">{}</p>\n", esc(&r.message)),
    )
}

fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && e.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
        && !local.contains('@')
}

struct Checked {
    email: String,
    phone: Option<String>,
    key: String,
    part: u32,
    count: u32,
    group: String,
}

fn check_fields(app: &App, f: &upload::UploadForm) -> Result<Checked, Vec<String>> {
    let mut errs = Vec::new();
    let email = f.field("epost").to_string();
    if !valid_email(&email) {
        errs.push("E-post (contact e-mail): påkrevd, på formen navn@domene.no (required, like name@domain.no)".to_string());
    }
    let phone = f.field("telefon").to_string();
    let phone = if phone.is_empty() {
        None
    } else {
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if !phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-".contains(c))
            || !(8..=15).contains(&digits)
        {
            errs.push(
                "Mobiltelefon (phone): 8–15 sifre, ev. med +, mellomrom og - (8-15 digits)"
                    .to_string(),
            );
        }
        Some(phone)
    };
    let key = f
        .text
        .get("tilbakemeldingspassord")
        .cloned()
        .unwrap_or_default();
    let n = key.chars().count();
    if !(6..=128).contains(&n) || key.chars().any(char::is_control) {
        errs.push(
            "Passord for tilbakemeldingsfil (feedback key): minst 6 tegn (at least 6 characters)"
                .to_string(),
        );
    }
    let num = |name: &str| -> Option<u32> {
        let v = f.field(name);
        if v.is_empty() {
            Some(1)
        } else {
            v.parse().ok()
        }
    };
    let (part, count) = match (num("del"), num("antall_deler")) {
        (Some(p), Some(c)) if p >= 1 && c >= 1 && p <= c && c <= app.config.max_parts => (p, c),
        _ => {
            errs.push(format!(
                "Del nr. / av (part n of m): 1 ≤ n ≤ m ≤ {} (whole numbers)",
                app.config.max_parts
            ));
            (1, 1)
        }
    };
    let group = f.field("gruppe").to_string();
    if count > 1
        && (group.is_empty()
            || group.len() > 64
            || !group
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    {
        errs.push("Opplastingsgruppe (upload group id): påkrevd for delt fil; bokstaver, sifre, - og _, høyst 64 (required for split files)".to_string());
    }
    match &f.file {
        None => errs.push("Fil (file): velg en fil (choose a file)".to_string()),
        Some(p) if p.size == 0 => {
            errs.push(format!("Fil (file): {} er tom (is empty)", p.file_name))
        }
        _ => {}
    }
    if errs.is_empty() {
        Ok(Checked {
            email,
            phone,
            key,
            part,
            count,
            group,
        })
    } else {
        Err(errs)
    }
}

async fn upload_post(
    State(app): State<AppState>,
    Path(portal): Path<String>,
    req: Request,
) -> Response {
    let Some(channel) = parse_portal(&portal) else {
        return not_found().await;
    };
    let Some((_, s)) = session_of(&app, req.headers(), channel) else {
        return page(
            StatusCode::UNAUTHORIZED,
            Some(channel),
            "Ikke innlogget (not logged in)",
            &format!(
                "<p>Du må logge inn først (log in first): <a href=\"{}/\">innlogging</a>.</p>",
                base(channel)
            ),
        );
    };
    // A declared length over the limit: refuse before reading anything.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(len) = declared
        && len > app.config.max_part_bytes.saturating_add(FORM_OVERHEAD)
    {
        tracing::warn!(target: "iplos_mocks::sendemodul", kommunenr = %s.kommunenr, len, "upload refused: declared length over the limit");
        return refused(channel, Some(&s), &upload::too_large(&app));
    }
    let mp = match Multipart::from_request(req, &()).await {
        Ok(m) => m,
        Err(e) => {
            return refused(
                channel,
                Some(&s),
                &Refusal::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "forventet multipart/form-data (expected a multipart/form-data upload): {}",
                        e.body_text()
                    ),
                ),
            );
        }
    };
    let form = match upload::read_form(&app, mp).await {
        Ok(f) => f,
        Err(r) => {
            tracing::warn!(target: "iplos_mocks::sendemodul", kommunenr = %s.kommunenr, status = %r.status, message = %r.message, "upload refused");
            return refused(channel, Some(&s), &r);
        }
    };
    if form.field("csrf") != s.csrf {
        return refused(
            channel,
            Some(&s),
            &Refusal::new(
                StatusCode::FORBIDDEN,
                "skjemaet er utløpt; last opplastingssiden på nytt (the form expired; reload the upload page)",
            ),
        );
    }
    let c = match check_fields(&app, &form) {
        Ok(c) => c,
        Err(errs) => {
            let list: String = errs
                .iter()
                .map(|e| format!("<li>{}</li>", esc(e)))
                .collect();
            return page(
                StatusCode::BAD_REQUEST,
                Some(channel),
                "Filen ble ikke mottatt (upload refused)",
                &format!(
                    "{}<p id=\"feil\">Rett opp (please correct):</p><ul>{list}</ul>\n",
                    nav(channel, &s)
                ),
            );
        }
    };
    let Some(part) = form.file else {
        return refused(
            channel,
            Some(&s),
            &Refusal::new(StatusCode::BAD_REQUEST, "no file"),
        );
    };
    let (file_name, parts) = if c.count == 1 {
        let name = part.file_name.clone();
        (name, vec![part])
    } else {
        let key = GroupKey {
            channel,
            kommunenr: s.kommunenr.clone(),
            bydel: s.bydel.clone(),
            group: c.group.clone(),
        };
        match upload::add_part(&app, key, c.part, c.count, part) {
            Err(r) => return refused(channel, Some(&s), &r),
            Ok(Added::Pending {
                received,
                missing,
                count,
            }) => {
                let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
                let next = missing.first().copied().unwrap_or(1);
                let body = format!(
                    "{}<p id=\"delvis\">Del {} av {count} er mottatt i opplastingsgruppe {}. Mottatt (received): {}. \
                     <strong>Mangler del (missing parts): <span id=\"mangler\">{}</span></strong>. \
                     Filen sendes til kontroll først når alle delene er kommet (the file is only submitted when all parts have arrived).</p>\n{}",
                    nav(channel, &s),
                    c.part,
                    esc(&c.group),
                    list(&received),
                    list(&missing),
                    upload_form(channel, &s, next, count, &c.group),
                );
                return page(
                    StatusCode::ACCEPTED,
                    Some(channel),
                    "Del mottatt (part received)",
                    &body,
                );
            }
            Ok(Added::Complete(parts, name)) => (name, parts),
        }
    };
    // Reassemble (split) or use the single part, then submit — on a blocking thread.
    let app2 = app.clone();
    let session = s.clone();
    let result = tokio::task::spawn_blocking(move || {
        let assembled;
        let file_path = if parts.len() == 1 {
            parts[0].path.to_path_buf()
        } else {
            assembled = upload::reassemble(&app2, &parts)
                .map_err(|e| format!("reassembling the parts: {e}"))?;
            assembled.to_path_buf()
        };
        let r = app2
            .intake
            .submit(Submission {
                channel,
                kommunenr: session.kommunenr.clone(),
                bydel: session.bydel.clone(),
                data_year: app2.config.data_year,
                file_name,
                file: SubmissionFile::Path(file_path),
                contact_email: c.email,
                contact_phone: c.phone,
                feedback_key: c.key,
                arrived: None,
            })
            .map_err(|e| e.to_string());
        drop(parts);
        r
    })
    .await;
    let accepted = match result {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            tracing::error!(target: "iplos_mocks::sendemodul", error = %e, "intake refused an upload");
            return refused(
                channel,
                Some(&s),
                &Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("filen kunne ikke lagres (could not be stored): {e}"),
                ),
            );
        }
        Err(e) => {
            return refused(
                channel,
                Some(&s),
                &Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("internal error: {e}"),
                ),
            );
        }
    };
    match app.intake.submission(accepted.id) {
        Ok(Some(info)) => receipt_page(channel, &s, &info, StatusCode::OK),
        Ok(None) | Err(_) => refused(
            channel,
            Some(&s),
            &Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the stored file could not be read back",
            ),
        ),
    }
}

fn receipt_page(
    channel: Channel,
    s: &Session,
    info: &SubmissionInfo,
    status: StatusCode,
) -> Response {
    let check = match &info.summary {
        Some(sum) => format!(
            "<span id=\"feil-antall\">{}</span> feil (errors), <span id=\"advarsler-antall\">{}</span> advarsler (warnings); \
             {} notifikasjoner, {} personer. Feilliste og kontrolltabeller kommer som tilbakemelding på filsluse \
             (the error list comes as feedback on the filsluse).",
            sum.errors, sum.warnings, sum.notifications, sum.persons
        ),
        None => "ikke kontrollert ennå (not checked yet)".to_string(),
    };
    let body = format!(
        "{nav}<p>Filen er mottatt og lagret (the file was received and stored).</p>\n\
         <table border=\"1\" cellpadding=\"4\">\n\
         <tr><th scope=\"row\">Kvitteringsnummer (receipt no.)</th><td id=\"id\">{id}</td></tr>\n\
         <tr><th scope=\"row\">Kommune (municipality)</th><td id=\"kommune\">{knr} {name}</td></tr>\n\
         <tr><th scope=\"row\">Bydel (district)</th><td id=\"bydel\">{bydel}</td></tr>\n\
         <tr><th scope=\"row\">Innsending (channel)</th><td>{chan}, data for {year}</td></tr>\n\
         <tr><th scope=\"row\">Filnavn (file name)</th><td id=\"filnavn\">{file}</td></tr>\n\
         <tr><th scope=\"row\">Størrelse (size)</th><td id=\"storrelse\">{size} byte</td></tr>\n\
         <tr><th scope=\"row\">SHA-256</th><td id=\"sha256\">{sha}</td></tr>\n\
         <tr><th scope=\"row\">Ankommet (arrived)</th><td id=\"ankommet\">{arrived} (Europe/Oslo)</td></tr>\n\
         <tr><th scope=\"row\">Kvittering (receipt)</th><td id=\"kvittering\">Kvittering sendes på e-post ca. kl. 08:00 første virkedag etter \
         ankomst: {due} (Europe/Oslo), til {email}. (The e-mail receipt is sent at about 08:00 on the first working day after arrival.)</td></tr>\n\
         <tr><th scope=\"row\">Kontroll (check)</th><td id=\"kontroll\">{check}</td></tr>\n</table>\n",
        nav = nav(channel, s),
        id = info.id,
        knr = esc(&info.kommunenr),
        name = esc(&s.kommune_name),
        bydel = esc(&info.bydel),
        chan = match info.channel {
            Channel::Test => "test",
            Channel::Ordinary => "ordinær (ordinary)",
        },
        year = info.checked_year,
        file = esc(&info.file_name),
        size = info.size,
        sha = esc(&info.sha256),
        arrived = oslo(info.arrived),
        due = oslo(info.receipt_due),
        email = esc(&info.contact_email),
    );
    page(
        status,
        Some(channel),
        "Kvittering for mottatt fil (receipt)",
        &body,
    )
}

async fn receipt(
    State(app): State<AppState>,
    Path((portal, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(channel) = parse_portal(&portal) else {
        return not_found().await;
    };
    let Some((_, s)) = session_of(&app, &headers, channel) else {
        return redirect(&format!("{}/", base(channel)));
    };
    let info = id
        .parse::<i64>()
        .ok()
        .and_then(|id| app.intake.submission(SubmissionId(id)).ok().flatten())
        .filter(|i| i.channel == channel && i.kommunenr == s.kommunenr && i.bydel == s.bydel);
    match info {
        Some(info) => receipt_page(channel, &s, &info, StatusCode::OK),
        None => page(
            StatusCode::NOT_FOUND,
            Some(channel),
            "Finnes ikke (not found)",
            &format!(
                "{}<p>Ingen slik innsending (no such upload).</p>",
                nav(channel, &s)
            ),
        ),
    }
}

async fn history(
    State(app): State<AppState>,
    Path(portal): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(channel) = parse_portal(&portal) else {
        return not_found().await;
    };
    let Some((_, s)) = session_of(&app, &headers, channel) else {
        return redirect(&format!("{}/", base(channel)));
    };
    let subs = match app.intake.submissions_of(&s.kommunenr, channel) {
        Ok(v) => v,
        Err(e) => {
            return refused(
                channel,
                Some(&s),
                &Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            );
        }
    };
    let b = base(channel);
    let rows: String = subs
        .iter()
        .filter(|i| i.bydel == s.bydel)
        .map(|i| {
            let (e, w) = i.summary.map_or((String::from("-"), String::from("-")), |x| {
                (x.errors.to_string(), x.warnings.to_string())
            });
            format!(
                "<tr><td><a href=\"{b}/receipt/{id}\">{id}</a></td><td>{file}</td><td>{size}</td><td>{arr}</td><td>{due}</td><td>{sent}</td><td>{e}</td><td>{w}</td></tr>\n",
                id = i.id,
                file = esc(&i.file_name),
                size = i.size,
                arr = oslo(i.arrived),
                due = oslo(i.receipt_due),
                sent = i.receipt_sent.map_or_else(|| "ikke ennå (not yet)".to_string(), oslo),
            )
        })
        .collect();
    let pending: String = lock(&app.groups)
        .iter()
        .filter(|(k, _)| k.channel == channel && k.kommunenr == s.kommunenr && k.bydel == s.bydel)
        .map(|(k, g)| {
            let missing: Vec<String> = (1..=g.count)
                .filter(|n| !g.parts.contains_key(n))
                .map(|n| n.to_string())
                .collect();
            format!(
                "<li>Gruppe {} (startet {}): {} av {} deler mottatt, mangler del {} (missing)</li>\n",
                esc(&k.group),
                oslo(g.created),
                g.parts.len(),
                g.count,
                missing.join(", ")
            )
        })
        .collect();
    let pending = if pending.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Uferdige delte opplastinger (incomplete split uploads)</h2>\n<ul>\n{pending}</ul>\n"
        )
    };
    let body = format!(
        "{}<table border=\"1\" cellpadding=\"4\">\n<tr><th>Nr.</th><th>Filnavn (file)</th><th>Størrelse (bytes)</th>\
         <th>Ankommet (arrived)</th><th>Kvittering planlagt (receipt due)</th><th>Kvittering sendt (sent)</th>\
         <th>Feil (errors)</th><th>Advarsler (warnings)</th></tr>\n{rows}</table>\n{pending}",
        nav(channel, &s)
    );
    page(
        StatusCode::OK,
        Some(channel),
        "Innsendte filer (uploads)",
        &body,
    )
}
