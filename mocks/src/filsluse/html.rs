//! The HTML portal: plain forms that work without JavaScript (IE11 era).
//!
//! Every page with a form runs in a session (cookie [`COOKIE`], `HttpOnly; SameSite=Lax`,
//! `Secure` when the public URL is https); an anonymous session is made for the sign-on and
//! request pages, and replaced by a fresh one at sign-on. Every POST form carries the
//! session's CSRF token in the field [`CSRF_FIELD`]; a POST without the right one is refused
//! with 403. Pages are sent with `Cache-Control: no-store`, `Referrer-Policy: no-referrer`
//! (the password links carry their token in the URL), `X-Frame-Options: DENY` and
//! `X-Content-Type-Options: nosniff`.
//!
//! Times are Europe/Oslo, `dd.mm.yyyy HH:MM:SS`, under the seeds' line "All time and date
//! stamps displayed on this site are GMT +2, except time and date stamps recorded during
//! standard time (GMT +1)." in summer; in winter **\[model\]** the mirror image ("GMT +1,
//! except … during daylight saving time (GMT +2)").

// Early answers (redirects, errors) are axum `Response`s carried in `Err`.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::core::{
    AuthOutcome, FolderKind, LOG, LinkOutcome, Portal, Session, from_ms, oslo_display,
    oslo_offset_hours, parse_id,
};
use super::notify::LinkReason;
use super::password::{self, PasswordRule};
use super::store::{FileRow, UserRow};
use super::types::{FilsluseError, UPLOAD_FOLDER};

type App = Arc<Portal>;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "filsluse_session";
/// The CSRF form field's name.
pub(crate) const CSRF_FIELD: &str = "csrftoken";

/// The HTML routes.
pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/", get(home))
        .route("/signon", get(signon_page).post(signon))
        .route("/signout", post(signout))
        .route("/human.aspx", get(human))
        .route("/password/newuser", get(newuser_page).post(newuser_request))
        .route("/password/request", get(request_page).post(change_request))
        .route("/password/change", get(change_page).post(change_password))
        .route("/folder", get(goto_folder))
        .route("/folder/{id}", get(folder_page))
        .route("/file/{id}", get(file_page))
        .route("/file/{id}/download", get(download))
        .route("/file/{id}/delete", post(delete))
}

/// HTML-escapes text for element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// "24 KB" (the listing's Size/Contents).
fn size_display(n: i64) -> String {
    const KB: i64 = 1024;
    if n < KB * KB {
        let kb = (n + KB / 2) / KB;
        format!("{} KB", kb.max(i64::from(n > 0)))
    } else {
        format!("{:.1} MB", n as f64 / (KB * KB) as f64)
    }
}

/// The request's browser context: the portal and the session (if any).
struct Ctx {
    portal: App,
    session: Option<Session>,
    /// A cookie to set (a new session).
    set_cookie: Option<String>,
    /// The signed-on user of the session, if any.
    user: Option<UserRow>,
}

fn cookie_from(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_string())
}

fn internal(e: &FilsluseError) -> Response {
    tracing::error!(target: LOG, "HTML: {e}");
    plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal error.")
}

fn plain(status: StatusCode, text: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{text}\n"),
    )
        .into_response()
}

impl Ctx {
    fn load(portal: App, headers: &HeaderMap) -> Result<Ctx, Response> {
        let session = match cookie_from(headers) {
            Some(v) => portal.session(&v).map_err(|e| internal(&e))?,
            None => None,
        };
        let user = match session.as_ref().and_then(|s| s.row.username.as_deref()) {
            Some(u) => portal.store.user(u).map_err(|e| internal(&e.into()))?,
            None => None,
        };
        Ok(Ctx {
            portal,
            session,
            set_cookie: None,
            user,
        })
    }

    /// The session, making an anonymous one if there is none.
    fn ensure_session(&mut self) -> Result<&Session, Response> {
        if self.session.is_none() {
            let (value, s) = self
                .portal
                .new_session(None, false, None)
                .map_err(|e| internal(&e))?;
            self.set_cookie = Some(value);
            self.session = Some(s);
        }
        self.session
            .as_ref()
            .ok_or_else(|| plain(StatusCode::INTERNAL_SERVER_ERROR, "no session"))
    }

    fn csrf(&self) -> &str {
        self.session.as_ref().map_or("", |s| s.row.csrf.as_str())
    }

    /// Whether the form's CSRF token is the session's.
    fn csrf_ok(&self, form: &HashMap<String, String>) -> bool {
        let (Some(s), Some(given)) = (self.session.as_ref(), form.get(CSRF_FIELD)) else {
            return false;
        };
        given.len() == s.row.csrf.len()
            && openssl::memcmp::eq(given.as_bytes(), s.row.csrf.as_bytes())
    }

    /// Replaces the session by a new one for `user` (sign-on: no fixation).
    fn sign_on(&mut self, user: &UserRow, must_change: bool) -> Result<(), Response> {
        if let Some(old) = self.session.take() {
            self.portal
                .end_session(&old.key)
                .map_err(|e| internal(&e))?;
        }
        let (value, s) = self
            .portal
            .new_session(Some(&user.username), must_change, None)
            .map_err(|e| internal(&e))?;
        self.set_cookie = Some(value);
        self.session = Some(s);
        self.user = Some(user.clone());
        Ok(())
    }

    /// The signed-on user who need not change the password first.
    fn ready_user(&self) -> Option<&UserRow> {
        let s = self.session.as_ref()?;
        if s.row.must_change {
            return None;
        }
        self.user.as_ref().filter(|u| !u.must_change)
    }

    fn must_change(&self) -> bool {
        self.user.is_some()
            && (self.session.as_ref().is_some_and(|s| s.row.must_change)
                || self.user.as_ref().is_some_and(|u| u.must_change))
    }

    fn finish(&self, mut r: Response) -> Response {
        let h = r.headers_mut();
        if let Some(v) = &self.set_cookie {
            let secure = if self.portal.settings.secure_cookies {
                "; Secure"
            } else {
                ""
            };
            if let Ok(v) = HeaderValue::from_str(&format!(
                "{COOKIE}={v}; Path=/; HttpOnly; SameSite=Lax{secure}"
            )) {
                h.append(header::SET_COOKIE, v);
            }
        }
        for (k, v) in [
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        r
    }

    fn page(&self, status: StatusCode, title: &str, body: &str) -> Response {
        let html = layout(
            &self.portal,
            self.user.as_ref().filter(|_| self.session.is_some()),
            self.csrf(),
            title,
            body,
        );
        self.finish(
            (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
        )
    }

    fn redirect(&self, to: &str) -> Response {
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        self.finish(r)
    }

    /// Where a signed-on user goes: the change-password page when due, else the folder.
    fn landing(&self) -> String {
        if self.must_change() {
            return "/password/change".into();
        }
        match &self.user {
            Some(u) => format!("/folder/{}", u.frassb_folder_id),
            None => "/signon".into(),
        }
    }

    fn not_found(&self) -> Response {
        self.page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<p class=\"error\">The file or folder was not found.</p>",
        )
    }

    fn forbidden_csrf(&self) -> Response {
        self.page(
            StatusCode::FORBIDDEN,
            "Form expired",
            "<p class=\"error\">The form has expired or did not come from this site. \
             Please go back, reload the page and try again.</p>",
        )
    }
}

fn layout(portal: &Portal, user: Option<&UserRow>, csrf: &str, title: &str, body: &str) -> String {
    let now = portal.now();
    let tz = if oslo_offset_hours(now) == 2 {
        "All time and date stamps displayed on this site are GMT +2, except time and date \
         stamps recorded during standard time (GMT +1)."
    } else {
        "All time and date stamps displayed on this site are GMT +1, except time and date \
         stamps recorded during daylight saving time (GMT +2)."
    };
    let mut top = String::new();
    if let Some(u) = user {
        let _ = write!(
            top,
            "<div class=\"signedon\">Signed onto Statistisk sentralbyrå as {} ({}) \
             <form method=\"post\" action=\"/signout\" style=\"display:inline\">\
             <input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">\
             <input type=\"submit\" value=\"Sign Out\"></form></div>\
             <div class=\"nav\"><a href=\"/folder/{}\">Home</a> | \
             <a href=\"/password/change\">Change Password</a></div>",
            esc(&u.full_name),
            esc(&u.username),
            esc(csrf),
            u.home_folder_id
        );
    }
    format!(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n\
         <html lang=\"en\"><head>\
         <meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\
         <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\">\
         <title>{title} - Statistisk sentralbyrå</title>\
         <style type=\"text/css\">body{{font-family:Arial,sans-serif;font-size:13px}}\
         table.list{{border-collapse:collapse}}table.list th,table.list td{{border:1px solid #999;padding:2px 6px}}\
         .error{{color:#b00}}.notice{{color:#060}}</style></head>\n<body>\n{top}\
         <h1>IPLOS</h1><h2>Individbasert Pleie og omsorgsstatistikk</h2>\
         <h3>Nedlasting av kryptert feilliste og kontrolltabeller</h3>\n\
         <div class=\"main\">{body}</div>\n\
         <hr><p class=\"tz\">{tz}</p><p class=\"powered\">Powered by MOVEit \
         (simulated by iplos-harness)</p>\n</body></html>\n",
        title = esc(title),
    )
}

fn hidden_csrf(ctx: &Ctx) -> String {
    format!(
        "<input type=\"hidden\" name=\"{CSRF_FIELD}\" value=\"{}\">",
        esc(ctx.csrf())
    )
}

fn signon_body(ctx: &Ctx, message: Option<&str>, username: &str) -> String {
    let msg = message
        .map(|m| format!("<p class=\"error\">{}</p>", esc(m)))
        .unwrap_or_default();
    format!(
        "{msg}<h4>Sign On</h4>\
         <form method=\"post\" action=\"/signon\">{csrf}\
         <table><tr><td><label for=\"username\">Username:</label></td>\
         <td><input type=\"text\" id=\"username\" name=\"username\" value=\"{user}\" size=\"40\"></td></tr>\
         <tr><td><label for=\"password\">Password:</label></td>\
         <td><input type=\"password\" id=\"password\" name=\"password\" size=\"40\" autocomplete=\"off\"></td></tr>\
         </table><input type=\"submit\" value=\"Sign On\"></form>\
         <p><a href=\"/password/request\">Request a password change</a></p>\
         <p><a href=\"/password/newuser\">New user? Set your password</a></p>",
        csrf = hidden_csrf(ctx),
        user = esc(username),
    )
}

async fn home(State(portal): State<App>, headers: HeaderMap) -> Response {
    let mut ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if ctx.user.is_some() {
        let to = ctx.landing();
        return ctx.redirect(&to);
    }
    if let Err(r) = ctx.ensure_session() {
        return r;
    }
    let body = signon_body(&ctx, None, "");
    ctx.page(StatusCode::OK, "Sign On", &body)
}

async fn signon_page(State(portal): State<App>, headers: HeaderMap) -> Response {
    home(State(portal), headers).await
}

type FormResult = Result<Form<HashMap<String, String>>, FormRejection>;

fn form_fields(form: FormResult) -> HashMap<String, String> {
    form.map(|Form(f)| f).unwrap_or_default()
}

async fn signon(State(portal): State<App>, headers: HeaderMap, form: FormResult) -> Response {
    let mut ctx = match Ctx::load(portal.clone(), &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form = form_fields(form);
    if !ctx.csrf_ok(&form) {
        return ctx.forbidden_csrf();
    }
    let username = form.get("username").cloned().unwrap_or_default();
    let pw = form.get("password").cloned().unwrap_or_default();
    let next = ctx.session.as_ref().and_then(|s| s.row.next.clone());
    let (u, p) = (username.clone(), pw);
    let outcome = match tokio::task::spawn_blocking(move || portal.authenticate(&u, &p)).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => return internal(&e),
        Err(e) => return internal(&FilsluseError::Config(format!("task: {e}"))),
    };
    match outcome {
        AuthOutcome::Ok(user) => {
            if let Err(r) = ctx.sign_on(&user, user.must_change) {
                return r;
            }
            let to = match next.filter(|n| valid_next(n)) {
                Some(n) if !ctx.must_change() => n,
                _ => ctx.landing(),
            };
            ctx.redirect(&to)
        }
        AuthOutcome::BadCredentials => {
            let body = signon_body(&ctx, Some("Invalid username or password."), &username);
            ctx.page(StatusCode::OK, "Sign On", &body)
        }
        AuthOutcome::Locked(until) => {
            let msg = format!(
                "This account is locked because of too many failed sign-on attempts. \
                 Try again after {}.",
                oslo_display(until)
            );
            let body = signon_body(&ctx, Some(&msg), &username);
            ctx.page(StatusCode::OK, "Sign On", &body)
        }
    }
}

/// A post-sign-on target: only our own file pages.
fn valid_next(n: &str) -> bool {
    n.strip_prefix("/file/")
        .is_some_and(|id| parse_id(id).is_some())
}

async fn signout(State(portal): State<App>, headers: HeaderMap, form: FormResult) -> Response {
    let mut ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&form_fields(form)) {
        return ctx.forbidden_csrf();
    }
    if let Some(s) = ctx.session.take() {
        if let Err(e) = ctx.portal.end_session(&s.key) {
            return internal(&e);
        }
        if let Some(u) = &s.row.username {
            tracing::info!(target: LOG, username = %u, "signed out");
        }
    }
    ctx.user = None;
    ctx.redirect("/signon")
}

fn request_body(ctx: &Ctx, new_user: bool, done: bool) -> (String, String) {
    let minutes = ctx.portal.settings.link_lifetime.num_minutes();
    let (title, action, button) = if new_user {
        (
            "New User Password Request",
            "/password/newuser",
            "Request Password",
        )
    } else {
        (
            "Password Change Request",
            "/password/request",
            "Request Password Change",
        )
    };
    let body = if done {
        format!(
            "<h4>{title}</h4><p class=\"notice\">Your request has been received. If the \
             username is registered, an email message with a link and instructions has been \
             sent to its registered email address. You will have {minutes} minutes to use the \
             link before it expires.</p><p><a href=\"/signon\">Go to the sign on page</a></p>"
        )
    } else if new_user {
        format!(
            "<h4>Set Your Password</h4><h4>{title}</h4>\
             <p>Please enter your username below and then click the \"Request Password\" \
             button. An email message with more information about the new account password \
             setup process will be sent to your registered email address. This message will \
             contain a link and instructions for setting the password for your new account. \
             You will have {minutes} minutes to use the link before it expires. If no link is \
             provided in the message, or if you do not receive a message within 30 minutes, \
             you will need to contact your administrator to set your password.</p>\
             <form method=\"post\" action=\"{action}\">{csrf}\
             <label for=\"username\">Username:</label> \
             <input type=\"text\" id=\"username\" name=\"username\" size=\"40\"> \
             <input type=\"submit\" value=\"{button}\"></form>\
             <p><a href=\"/signon\">Go to the sign on page</a></p>",
            csrf = hidden_csrf(ctx)
        )
    } else {
        format!(
            "<h4>{title}</h4>\
             <p>Please enter your username below and then click the \"Request Password \
             Change\" button. An email message with a link and instructions for setting a new \
             password will be sent to your registered email address. You will have {minutes} \
             minutes to use the link before it expires. If you do not receive a message within \
             15 minutes, contact iplos@ssb.test.</p>\
             <form method=\"post\" action=\"{action}\">{csrf}\
             <label for=\"username\">Username:</label> \
             <input type=\"text\" id=\"username\" name=\"username\" size=\"40\"> \
             <input type=\"submit\" value=\"{button}\"></form>\
             <p><a href=\"/signon\">Go to the sign on page</a></p>",
            csrf = hidden_csrf(ctx)
        )
    };
    (title.to_string(), body)
}

async fn request_form(portal: App, headers: HeaderMap, new_user: bool) -> Response {
    let mut ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(r) = ctx.ensure_session() {
        return r;
    }
    let (title, body) = request_body(&ctx, new_user, false);
    ctx.page(StatusCode::OK, &title, &body)
}

async fn request_post(
    portal: App,
    headers: HeaderMap,
    client: Option<std::net::IpAddr>,
    form: FormResult,
    new_user: bool,
) -> Response {
    let ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let form = form_fields(form);
    if !ctx.csrf_ok(&form) {
        return ctx.forbidden_csrf();
    }
    let username = form.get("username").map(String::as_str).unwrap_or("");
    let reason = if new_user {
        LinkReason::NewUser
    } else {
        LinkReason::PasswordChange
    };
    if let Err(e) = ctx
        .portal
        .request_password_link_from(username, reason, client)
    {
        return internal(&e);
    }
    let (title, body) = request_body(&ctx, new_user, true);
    ctx.page(StatusCode::OK, &title, &body)
}

async fn newuser_page(State(portal): State<App>, headers: HeaderMap) -> Response {
    request_form(portal, headers, true).await
}

async fn newuser_request(
    State(portal): State<App>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    form: FormResult,
) -> Response {
    request_post(portal, headers, client_ip(&extensions), form, true).await
}

/// The client's address, when the server recorded it.
fn client_ip(extensions: &axum::http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
}

async fn request_page(State(portal): State<App>, headers: HeaderMap) -> Response {
    request_form(portal, headers, false).await
}

async fn change_request(
    State(portal): State<App>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    form: FormResult,
) -> Response {
    request_post(portal, headers, client_ip(&extensions), form, false).await
}

/// MOVEit's `human.aspx` links as the mails carry them: `transaction=signon&pxc=…` (the
/// password link), `arg12=passchangerequest` (`arg11=newuser`: the new-user page) and
/// `arg12=fileview&arg06=<folder>&arg07=<file>`. Keys are case-insensitive.
async fn human(
    State(portal): State<App>,
    headers: HeaderMap,
    Query(raw): Query<HashMap<String, String>>,
) -> Response {
    let q: HashMap<String, String> = raw
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect();
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    if get("transaction").eq_ignore_ascii_case("signon") && !get("pxc").is_empty() {
        return redeem(portal, headers, get("pxc")).await;
    }
    let arg12 = get("arg12").to_ascii_lowercase();
    if arg12 == "passchangerequest" {
        let new_user = get("arg11").eq_ignore_ascii_case("newuser");
        return request_form(portal, headers, new_user).await;
    }
    if arg12 == "fileview" {
        return fileview(portal, headers, get("arg06"), get("arg07")).await;
    }
    let ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    ctx.redirect("/")
}

async fn redeem(portal: App, headers: HeaderMap, token: &str) -> Response {
    let mut ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let outcome = if token.len() == 64 {
        ctx.portal.redeem_link(token)
    } else {
        Ok(LinkOutcome::Unknown)
    };
    let (status, msg) = match outcome {
        Ok(LinkOutcome::Ok(user)) => {
            tracing::info!(target: LOG, username = %user.username, "signed on with a password link");
            if let Err(r) = ctx.sign_on(&user, true) {
                return r;
            }
            return ctx.redirect("/password/change");
        }
        Ok(LinkOutcome::Expired) => (
            StatusCode::GONE,
            "This link has expired. Links can only be used for a limited time.",
        ),
        Ok(LinkOutcome::Used) => (
            StatusCode::GONE,
            "This link has already been used. Each link can only be used once.",
        ),
        Ok(LinkOutcome::Unknown) => (StatusCode::NOT_FOUND, "This link is not valid."),
        Err(e) => return internal(&e),
    };
    let body = format!(
        "<p class=\"error\">{}</p><p>To set your password, \
         <a href=\"/password/request\">Request a password change</a>.</p>\
         <p><a href=\"/signon\">Go to the sign on page</a></p>",
        esc(msg)
    );
    ctx.page(status, "Password link", &body)
}

async fn fileview(portal: App, headers: HeaderMap, folder: &str, file: &str) -> Response {
    let mut ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(user) = ctx.ready_user().cloned() else {
        // Remember the file for after sign-on (only a well-formed file page).
        if let (Some(id), None) = (parse_id(file), ctx.user.as_ref()) {
            let next = format!("/file/{id}");
            if let Some(old) = ctx.session.take() {
                let _ = ctx.portal.end_session(&old.key);
            }
            match ctx.portal.new_session(None, false, Some(next)) {
                Ok((value, s)) => {
                    ctx.set_cookie = Some(value);
                    ctx.session = Some(s);
                }
                Err(e) => return internal(&e),
            }
        }
        let to = ctx.landing();
        return ctx.redirect(&to);
    };
    match ctx.portal.own_file(&user, file) {
        Ok(Some(f)) if Some(f.folder_id) == parse_id(folder) => {
            ctx.redirect(&format!("/file/{}", f.id))
        }
        Ok(_) => ctx.not_found(),
        Err(e) => internal(&e),
    }
}

fn change_body(ctx: &Ctx, user: &UserRow, errors: &[PasswordRule]) -> String {
    let mut b = String::new();
    if ctx.must_change() {
        b.push_str("<p class=\"error\">You are required to change your password now.</p>");
    }
    if !errors.is_empty() {
        b.push_str("<div class=\"error\"><p>Your new password was not accepted:</p><ul>");
        for r in errors {
            let _ = write!(b, "<li>{}</li>", esc(r.message()));
        }
        b.push_str("</ul></div>");
    }
    let _ = write!(
        b,
        "<h4>My Account ({})</h4><h4>Change Password...</h4><p>Requirements:</p><ul>",
        esc(&user.full_name)
    );
    for r in password::REQUIREMENTS {
        let _ = write!(b, "<li>{}</li>", esc(r));
    }
    b.push_str("</ul><form method=\"post\" action=\"/password/change\">");
    b.push_str(&hidden_csrf(ctx));
    b.push_str("<table>");
    if !ctx.must_change() {
        b.push_str(
            "<tr><td><label for=\"old\">Enter your <b>Current Password</b>:</label></td>\
             <td><input type=\"password\" id=\"old\" name=\"current_password\" autocomplete=\"off\"></td></tr>",
        );
    }
    b.push_str(
        "<tr><td><label for=\"p1\">Enter your <b>New Password</b>:</label></td>\
         <td><input type=\"password\" id=\"p1\" name=\"new_password\" autocomplete=\"off\"></td></tr>\
         <tr><td><label for=\"p2\">Enter your <b>New Password Again</b>:</label></td>\
         <td><input type=\"password\" id=\"p2\" name=\"new_password2\" autocomplete=\"off\"></td></tr>\
         </table><p>Now press the \"Change Password\" button: \
         <input type=\"submit\" value=\"Change Password\"></p></form>",
    );
    b
}

async fn change_page(State(portal): State<App>, headers: HeaderMap) -> Response {
    let ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(user) = ctx.user.clone() else {
        return ctx.redirect("/signon");
    };
    let body = change_body(&ctx, &user, &[]);
    ctx.page(StatusCode::OK, "Change Password", &body)
}

async fn change_password(
    State(portal): State<App>,
    headers: HeaderMap,
    form: FormResult,
) -> Response {
    let mut ctx = match Ctx::load(portal.clone(), &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(user) = ctx.user.clone() else {
        return ctx.redirect("/signon");
    };
    let form = form_fields(form);
    if !ctx.csrf_ok(&form) {
        return ctx.forbidden_csrf();
    }
    let new = form.get("new_password").cloned().unwrap_or_default();
    let again = form.get("new_password2").cloned().unwrap_or_default();
    let forced = ctx.must_change();
    let current = form.get("current_password").cloned().unwrap_or_default();
    let key = ctx.session.as_ref().map(|s| s.key.clone());
    let name = user.username.clone();
    let result = tokio::task::spawn_blocking(move || {
        if !forced {
            let ok = portal
                .store
                .user(&name)?
                .and_then(|u| u.password_hash)
                .is_some_and(|h| password::verify_password(&current, &h));
            if !ok {
                return Ok(None);
            }
        }
        portal
            .change_password(&name, &new, Some(&again), key.as_deref())
            .map(Some)
    })
    .await;
    match result {
        Ok(Ok(Some(Ok(())))) => {
            if let Some(s) = &ctx.session {
                if let Err(e) = ctx.portal.clear_must_change(&s.key) {
                    return internal(&e);
                }
                if let Some(s) = ctx.session.as_mut() {
                    s.row.must_change = false;
                }
            }
            if let Ok(Some(u)) = ctx.portal.store.user(&user.username) {
                ctx.user = Some(u);
            }
            let body = format!(
                "<p class=\"notice\">Your password has been changed.</p>\
                 <p><a href=\"/folder/{}\">Continue to your files</a></p>",
                user.frassb_folder_id
            );
            ctx.page(StatusCode::OK, "Password changed", &body)
        }
        Ok(Ok(Some(Err(rules)))) => {
            let body = change_body(&ctx, &user, &rules);
            ctx.page(StatusCode::OK, "Change Password", &body)
        }
        Ok(Ok(None)) => {
            let mut body =
                String::from("<p class=\"error\">The current password is not correct.</p>");
            body.push_str(&change_body(&ctx, &user, &[]));
            ctx.page(StatusCode::OK, "Change Password", &body)
        }
        Ok(Err(e)) => internal(&e),
        Err(e) => internal(&FilsluseError::Config(format!("task: {e}"))),
    }
}

/// The signed-on user ready for files, or the answer to send instead.
fn require_user(ctx: &Ctx) -> Result<UserRow, Response> {
    if let Some(u) = ctx.ready_user() {
        return Ok(u.clone());
    }
    let to = ctx.landing();
    Err(ctx.redirect(&to))
}

fn breadcrumb(path: &str) -> String {
    let mut out = String::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let _ = write!(out, "/ {}", esc(seg));
    }
    out.push('/');
    out
}

fn listing(ctx: &Ctx, user: &UserRow, kind: FolderKind) -> Result<String, FilsluseError> {
    let path = Portal::folder_path(user, kind);
    let mut b = String::from(
        "<p>Velkommen til Statistisk sentralbyrå! Vennligst se dette området for viktige meldinger.</p>\
         <h4>Folders</h4>",
    );
    let _ = write!(
        b,
        "<p class=\"path\">{}</p>\
         <form method=\"get\" action=\"/folder\"><label for=\"goto\">Go To Folder...</label> \
         <input type=\"text\" id=\"goto\" name=\"path\" size=\"60\" value=\"{}\"> \
         <input type=\"submit\" value=\"Go\"></form>",
        breadcrumb(&path),
        esc(&path)
    );
    b.push_str(
        "<table class=\"list\"><tr><th>Name</th><th>Created</th><th>Size/Contents</th>\
         <th>Creator</th><th>Download</th><th>Delete</th></tr>",
    );
    let files = ctx.portal.files_in(user, kind)?;
    match kind {
        FolderKind::Home => {
            let inner = ctx.portal.files_in(user, FolderKind::Upload)?;
            let _ = write!(
                b,
                "<tr><td><a href=\"/folder/{}\">{}</a></td><td>{}</td><td>{} files</td>\
                 <td></td><td></td><td></td></tr>",
                user.frassb_folder_id,
                UPLOAD_FOLDER,
                oslo_display(from_ms(user.created_at)),
                inner.len()
            );
        }
        FolderKind::Upload => {
            let _ = write!(
                b,
                "<tr><td><a href=\"/folder/{}\">Parent Folder</a></td><td></td><td></td>\
                 <td></td><td></td><td></td></tr>",
                user.home_folder_id
            );
        }
    }
    for f in &files {
        b.push_str(&file_row(ctx, f));
    }
    b.push_str("</table>");
    if files.is_empty() && kind == FolderKind::Upload {
        b.push_str("<p>No files.</p>");
    }
    Ok(b)
}

fn file_row(ctx: &Ctx, f: &FileRow) -> String {
    format!(
        "<tr><td><a href=\"/file/{id}\">{name}</a>{new}</td><td>{created}</td><td>{size}</td>\
         <td>{by}</td><td><a href=\"/file/{id}/download\">Download</a></td>\
         <td><form method=\"post\" action=\"/file/{id}/delete\">{csrf}\
         <input type=\"submit\" value=\"Delete\"></form></td></tr>",
        id = f.id,
        name = esc(&f.name),
        new = if f.is_new { " <b>(new)</b>" } else { "" },
        created = oslo_display(from_ms(f.uploaded_at)),
        size = size_display(f.size),
        by = esc(&f.uploaded_by),
        csrf = hidden_csrf(ctx),
    )
}

async fn folder_page(
    State(portal): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let user = match require_user(&ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(kind) = Portal::own_folder(&user, &id) else {
        return ctx.not_found();
    };
    match listing(&ctx, &user, kind) {
        Ok(body) => ctx.page(StatusCode::OK, "Folders", &body),
        Err(e) => internal(&e),
    }
}

/// "Go To Folder...": `?path=/Home/Ekstern/iplos/<username>[/frassb]`, one's own only.
async fn goto_folder(
    State(portal): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let user = match require_user(&ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let path = q.get("path").map(String::as_str).unwrap_or("");
    match Portal::own_folder_by_path(&user, path) {
        Some(FolderKind::Home) => ctx.redirect(&format!("/folder/{}", user.home_folder_id)),
        Some(FolderKind::Upload) => ctx.redirect(&format!("/folder/{}", user.frassb_folder_id)),
        None => {
            tracing::info!(target: LOG, username = %user.username, path, "go to folder refused");
            ctx.not_found()
        }
    }
}

async fn file_page(
    State(portal): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let user = match require_user(&ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let f = match ctx.portal.own_file(&user, &id) {
        Ok(Some(f)) => f,
        Ok(None) => return ctx.not_found(),
        Err(e) => return internal(&e),
    };
    let body = format!(
        "<p class=\"path\">{path}</p><h4>{name}</h4><table>\
         <tr><td>Created:</td><td>{created}</td></tr>\
         <tr><td>Size:</td><td>{size} ({bytes} bytes)</td></tr>\
         <tr><td>Creator:</td><td>{by}</td></tr>\
         <tr><td>Tracking ID:</td><td>{id}</td></tr>\
         <tr><td>SHA-1:</td><td>{sha1}</td></tr></table>\
         <p><a href=\"/file/{id}/download\">Download</a></p>\
         <form method=\"post\" action=\"/file/{id}/delete\">{csrf}\
         <input type=\"submit\" value=\"Delete\"></form>\
         <p><a href=\"/folder/{folder}\">Back to the folder</a></p>",
        path = breadcrumb(&Portal::upload_path(&user.username)),
        name = esc(&f.name),
        created = oslo_display(from_ms(f.uploaded_at)),
        size = size_display(f.size),
        bytes = super::notify::thousands(u64::try_from(f.size).unwrap_or(0)),
        by = esc(&f.uploaded_by),
        id = f.id,
        sha1 = esc(&f.sha1),
        csrf = hidden_csrf(&ctx),
        folder = f.folder_id,
    );
    ctx.page(StatusCode::OK, "File", &body)
}

async fn download(
    State(portal): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let user = match require_user(&ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match ctx.portal.download(&user, &id) {
        Ok(Some((f, bytes))) => ctx.finish(super::rest::file_response(&f, bytes)),
        Ok(None) => ctx.not_found(),
        Err(e) => internal(&e),
    }
}

async fn delete(
    State(portal): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: FormResult,
) -> Response {
    let ctx = match Ctx::load(portal, &headers) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let user = match require_user(&ctx) {
        Ok(u) => u,
        Err(r) => return r,
    };
    if !ctx.csrf_ok(&form_fields(form)) {
        return ctx.forbidden_csrf();
    }
    match ctx.portal.delete(&user, &id) {
        Ok(true) => ctx.redirect(&format!("/folder/{}", user.frassb_folder_id)),
        Ok(false) => ctx.not_found(),
        Err(e) => internal(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size_display(24_544), "24 KB");
        assert_eq!(size_display(0), "0 KB");
        assert_eq!(size_display(10), "1 KB");
        assert_eq!(size_display(3 * 1024 * 1024 + 512 * 1024), "3.5 MB");
    }

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }

    #[test]
    fn breadcrumbs() {
        assert_eq!(
            breadcrumb("/Home/Ekstern/iplos/postmottak@hamar.kommune.test"),
            "/ Home/ Ekstern/ iplos/ postmottak@hamar.kommune.test/"
        );
    }
}
