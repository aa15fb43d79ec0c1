//! The mails the portal sends, and the [`Notifier`] it hands them to.
//!
//! The portal does not speak SMTP itself: it hands every outgoing mail to a [`Notifier`]
//! (the mail outbox, wired by the harness; [`RecordingNotifier`] in tests). Each mail is a
//! plain struct with the facts, plus `subject()` and `text()` that render the seeds' wording
//! (seeds 000–003: figures 4-2, 4-4/4-8 and 4-10), sender [`FROM`].

use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

/// The sender of every filsluse mail (seeds: FAQ 5.11).
pub const FROM: &str = "Statistisk sentralbyrå <MoveITFilsluse@ssb.no>";
/// The SSB guidance page the mails point to (seeds).
pub const GUIDANCE_URL: &str =
    "http://www.ssb.no/innrapportering/offentlig-sektor/iplos?fane=veiledning";

/// Receives the portal's outgoing mails. Called on the request's task: an implementation
/// must not block for long (queue the mail and return).
pub trait Notifier: Send + Sync {
    /// A user was created: "Ny bruker for IPLOS tilbakemelding" with the link to
    /// "New User Password Request".
    fn new_user(&self, mail: NewUserMail);
    /// A password link was requested (new user or forgotten password): the link that sets
    /// the password, valid for [`PasswordLinkMail::valid_minutes`].
    fn password_link(&self, mail: PasswordLinkMail);
    /// A file was uploaded to the user's folder: "1 New File Available".
    fn new_file(&self, mail: NewFileMail);
}

/// "Ny bruker" — the mail that tells postmottak an account exists (seed 001, figure 4-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUserMail {
    /// Recipient: the user's e-mail address (the postmottak address).
    pub to: String,
    /// The username (the same address unless configured otherwise).
    pub username: String,
    /// The account's full name, e.g. "IPLOS-Tilbakemelding Hamar kommune".
    pub full_name: String,
    /// Link to the "New User Password Request" page.
    pub link: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}

impl NewUserMail {
    /// The subject line.
    pub fn subject(&self) -> String {
        "Ny bruker for IPLOS tilbakemelding fra Statistisk sentralbyrå".to_string()
    }

    /// The body, in the seed's wording.
    pub fn text(&self) -> String {
        format!(
            "Velkommen til Statistisk sentralbyrå!\n\n\
             IPLOS (Individbasert Pleie og Omsorgsstatistikk)\n\n\
             En konto har blitt opprettet for IPLOS-kontakt i din kommune, {full_name}. \
             Kontoen gir tilgang for nedlasting av kryptert feillister og kontrolltabeller på \
             IPLOS-innrapportering. Denne nedlastingen skal erstatte tilbakerapportering per CD. \
             Feillistene og kontrolltabellene er unntatt offentligheten.\n\n\
             Brukernavnet til kontoen er: {username}\n\n\
             For å ta i bruk denne kontoen kan du bruke linken under. Du vil bli bedt om å skrive \
             inn brukernavn, etter det vil du motta ytterligere instruksjoner om hvordan du kan få \
             tilgang til systemet.\n\n\
             {link}\n\n\
             Når det blir lagt ut fil for nedlasting, vil det komme en egen epost om dette. \
             Epost om filnedlasting vil ha emne: New File Notification.\n\n\
             Dersom du trenger hjelp, kan du kontakte din kontaktperson i SSB ved epost til \
             iplos@ssb.no og iplos@helsedirektoratet.no.\n\n\
             Med vennlig hilsen\nIPLOS-gruppa\n\nStatistisk sentralbyrå\n",
            full_name = self.full_name,
            username = self.username,
            link = self.link,
        )
    }
}

/// Why a password link was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkReason {
    /// From "New User Password Request".
    NewUser,
    /// From "Password Change Request" (forgotten password).
    PasswordChange,
    /// Sent by the administrator through the handle.
    Admin,
}

/// The mail with the set-password link (seeds 000/003, figure 4-8: "Nytt passord - NB!
/// Utløper på tid").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordLinkMail {
    /// Recipient.
    pub to: String,
    /// The username the link is for.
    pub username: String,
    /// The single-use sign-on link.
    pub link: String,
    /// Why it was sent.
    pub reason: LinkReason,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// The lifetime in minutes (60 by default), as the text says it.
    pub valid_minutes: i64,
    /// The portal's address as the text names it.
    pub portal_url: String,
}

impl PasswordLinkMail {
    /// The subject line.
    pub fn subject(&self) -> String {
        "IPLOS-tilbakemelding: Nytt passord - NB! Utløper på tid".to_string()
    }

    /// The body, in the seed's wording.
    pub fn text(&self) -> String {
        format!(
            "Til IPLOS-kontakt/innsendingsansvarlig for IPLOS i kommunen\n\n\
             Passord må settes innen {m} minutter!\n\n\
             Du har bedt om nytt passord til brukerkonto for på {portal} hos Statistisk \
             sentralbyrå.\n\
             Hvis dette er riktig, vennligst bruk linken nedenfor innen {m} minutter for å legge \
             inn et nytt passord og logge deg på systemet.\n\n\
             {link}\n\n\
             Kontoen gir tilgang for nedlasting av kryptert feillister og kontrolltabeller på \
             IPLOS-innrapportering. (Individbasert Pleie og Omsorgsstatistikk).\n\
             Nedlastingen erstatter tilbakerapportering på CD. Feillistene og kontrolltabellene \
             er personsensitive og unntatt offentlighet. Veiledning finnes på {guide}\n\n\
             Med vennlig hilsen\nIPLOS-gruppa\n\nStatistisk sentralbyrå\ne-post: iplos@ssb.no\n",
            m = self.valid_minutes,
            portal = self.portal_url,
            link = self.link,
            guide = GUIDANCE_URL,
        )
    }
}

/// "1 New File Available" (seed 001, figure 4-10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFileMail {
    /// Recipient.
    pub to: String,
    /// The username whose folder got the file.
    pub username: String,
    /// The folder path, `/Home/Ekstern/iplos/<username>/frassb`.
    pub folder_path: String,
    /// The file name, e.g. `040300_iplos_test.zip`.
    pub file_name: String,
    /// When it was uploaded.
    pub uploaded_at: DateTime<Utc>,
    /// "Date and Time" as shown: Europe/Oslo, `dd.mm.yyyy HH:MM:SS`.
    pub date_and_time: String,
    /// Size in bytes.
    pub size: u64,
    /// Who uploaded it ("frassb").
    pub uploaded_by: String,
    /// The tracking id (the file id).
    pub tracking_id: String,
    /// Link to the file in the portal.
    pub link: String,
    /// Whether the stored bytes were read back and matched the upload's hash.
    pub integrity_verified: bool,
}

impl NewFileMail {
    /// The subject line.
    pub fn subject(&self) -> String {
        "New File Notification".to_string()
    }

    /// The body, in the seed's layout.
    pub fn text(&self) -> String {
        format!(
            "1 New File Available\n\n\
             {folder}\n\n\
             File Name: {name}\n\
             Date and Time: {when}\n\
             Size: {size}\n\
             Uploaded By: {by}\n\
             Tracking ID: {id}\n\
             Link: {link}\n\
             Integrity Verified: {ok}\n\n\
             Regards,\nStatistisk sentralbyrå\n",
            folder = self.folder_path,
            name = self.file_name,
            when = self.date_and_time,
            size = thousands(self.size),
            by = self.uploaded_by,
            id = self.tracking_id,
            link = self.link,
            ok = if self.integrity_verified { "YES" } else { "NO" },
        )
    }
}

/// `24544` → `24,544` (the seed's "Size:" format).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One recorded mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilsluseMail {
    /// See [`Notifier::new_user`].
    NewUser(NewUserMail),
    /// See [`Notifier::password_link`].
    PasswordLink(PasswordLinkMail),
    /// See [`Notifier::new_file`].
    NewFile(NewFileMail),
}

impl FilsluseMail {
    /// The recipient.
    pub fn to(&self) -> &str {
        match self {
            FilsluseMail::NewUser(m) => &m.to,
            FilsluseMail::PasswordLink(m) => &m.to,
            FilsluseMail::NewFile(m) => &m.to,
        }
    }

    /// The subject line.
    pub fn subject(&self) -> String {
        match self {
            FilsluseMail::NewUser(m) => m.subject(),
            FilsluseMail::PasswordLink(m) => m.subject(),
            FilsluseMail::NewFile(m) => m.subject(),
        }
    }

    /// The body.
    pub fn text(&self) -> String {
        match self {
            FilsluseMail::NewUser(m) => m.text(),
            FilsluseMail::PasswordLink(m) => m.text(),
            FilsluseMail::NewFile(m) => m.text(),
        }
    }
}

/// A [`Notifier`] that keeps every mail in memory, for tests.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    mails: Mutex<Vec<FilsluseMail>>,
}

impl RecordingNotifier {
    /// An empty recorder.
    pub fn new() -> RecordingNotifier {
        RecordingNotifier::default()
    }

    /// Every mail so far, oldest first.
    pub fn mails(&self) -> Vec<FilsluseMail> {
        self.mails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The latest password-link mail to `to`, if any.
    pub fn last_password_link(&self, to: &str) -> Option<PasswordLinkMail> {
        self.mails().into_iter().rev().find_map(|m| match m {
            FilsluseMail::PasswordLink(p) if p.to.eq_ignore_ascii_case(to) => Some(p),
            _ => None,
        })
    }

    /// The latest new-user mail to `to`, if any.
    pub fn last_new_user(&self, to: &str) -> Option<NewUserMail> {
        self.mails().into_iter().rev().find_map(|m| match m {
            FilsluseMail::NewUser(p) if p.to.eq_ignore_ascii_case(to) => Some(p),
            _ => None,
        })
    }

    /// Every new-file mail to `to`, oldest first.
    pub fn new_files(&self, to: &str) -> Vec<NewFileMail> {
        self.mails()
            .into_iter()
            .filter_map(|m| match m {
                FilsluseMail::NewFile(p) if p.to.eq_ignore_ascii_case(to) => Some(p),
                _ => None,
            })
            .collect()
    }

    fn push(&self, mail: FilsluseMail) {
        self.mails
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(mail);
    }
}

impl Notifier for RecordingNotifier {
    fn new_user(&self, mail: NewUserMail) {
        self.push(FilsluseMail::NewUser(mail));
    }

    fn password_link(&self, mail: PasswordLinkMail) {
        self.push(FilsluseMail::PasswordLink(mail));
    }

    fn new_file(&self, mail: NewFileMail) {
        self.push(FilsluseMail::NewFile(mail));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separator() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(24_544), "24,544");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
