//! Reading an upload (multipart, streamed to a temporary file with limits and a read
//! timeout), file-name sanitising, and split-upload groups.

use std::collections::BTreeMap;
use std::io::Write as _;

use axum::extract::Multipart;
use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

use super::app::{App, lock};
use super::groups::{Group, GroupKey, Part};
use super::types::MAX_PENDING_GROUPS;

/// Largest text field.
const MAX_TEXT_FIELD: usize = 4096;
/// Most fields in one form.
const MAX_FIELDS: usize = 32;

/// Why an upload was refused.
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl Refusal {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
        }
    }
    fn bad(message: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, message)
    }
}

/// The fields of an upload form.
#[derive(Debug, Default)]
pub(crate) struct UploadForm {
    pub(crate) file: Option<Part>,
    pub(crate) text: BTreeMap<String, String>,
}

impl UploadForm {
    pub(crate) fn field(&self, name: &str) -> &str {
        self.text.get(name).map_or("", |s| s.trim())
    }
}

/// Reduces a client's file name to a safe base name: the last component after `/` or `\`
/// (Internet Explorer sends the full Windows path). Refused: NUL or other control
/// characters, or nothing usable left.
pub(crate) fn sanitise_file_name(raw: &str) -> Result<String, String> {
    if raw.chars().any(char::is_control) {
        return Err(format!(
            "filnavnet {:?} inneholder kontrolltegn (the file name contains control characters)",
            raw.chars().take(80).collect::<String>()
        ));
    }
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    let base = base.trim_start_matches(['.', ' ']);
    if base.is_empty() {
        return Err(format!(
            "filnavnet {:?} er ikke et filnavn (not a file name)",
            raw.chars().take(80).collect::<String>()
        ));
    }
    let base: String = base.chars().take(crate::intake::MAX_FILE_NAME).collect();
    Ok(base)
}

async fn next<T>(
    app: &App,
    f: impl std::future::Future<Output = Result<T, axum::extract::multipart::MultipartError>>,
) -> Result<T, Refusal> {
    match tokio::time::timeout(app.config.read_timeout, f).await {
        Err(_) => Err(Refusal::bad(format!(
            "opplastingen stoppet: ingen data på {} s (upload stalled; no data for {} s)",
            app.config.read_timeout.as_secs(),
            app.config.read_timeout.as_secs()
        ))),
        Ok(Err(e)) => {
            let status = e.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                Err(too_large(app))
            } else {
                Err(Refusal::new(
                    if status.is_client_error() {
                        status
                    } else {
                        StatusCode::BAD_REQUEST
                    },
                    format!(
                        "ugyldig eller ufullstendig opplasting (malformed or incomplete multipart body): {}",
                        e.body_text()
                    ),
                ))
            }
        }
        Ok(Ok(v)) => Ok(v),
    }
}

pub(crate) fn too_large(app: &App) -> Refusal {
    Refusal::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "filen er for stor: høyst {} byte per opplasting; del filen (file too large: at most {} bytes per upload; split the file)",
            app.config.max_part_bytes, app.config.max_part_bytes
        ),
    )
}

/// Reads the form, streaming the file field to a temporary file.
pub(crate) async fn read_form(app: &App, mut mp: Multipart) -> Result<UploadForm, Refusal> {
    let mut form = UploadForm::default();
    let mut fields = 0usize;
    while let Some(mut field) = next(app, mp.next_field()).await? {
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(Refusal::bad(format!(
                "for mange felt (more than {MAX_FIELDS} form fields)"
            )));
        }
        let name = field.name().unwrap_or("").to_string();
        if name == "fil" {
            if form.file.is_some() {
                return Err(Refusal::bad("mer enn én fil (more than one file field)"));
            }
            let raw_name = field.file_name().unwrap_or("").to_string();
            let file_name = sanitise_file_name(&raw_name).map_err(Refusal::bad)?;
            let tmp = tempfile::Builder::new()
                .prefix("upload-")
                .tempfile_in(&app.parts_dir)
                .map_err(|e| {
                    Refusal::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("temporary file: {e}"),
                    )
                })?;
            let (std_file, path) = tmp.into_parts();
            let mut file = tokio::fs::File::from_std(std_file);
            let mut hasher = Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = next(app, field.chunk()).await? {
                size += chunk.len() as u64;
                if size > app.config.max_part_bytes {
                    tracing::warn!(target: "iplos_mocks::sendemodul", size, limit = app.config.max_part_bytes, "upload refused while streaming: too large");
                    return Err(too_large(app));
                }
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(|e| {
                    Refusal::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("writing the upload: {e}"),
                    )
                })?;
            }
            file.flush().await.map_err(|e| {
                Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("writing the upload: {e}"),
                )
            })?;
            form.file = Some(Part {
                path,
                size,
                sha256: hasher
                    .finalize()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect(),
                file_name,
            });
        } else {
            let mut value = Vec::new();
            while let Some(chunk) = next(app, field.chunk()).await? {
                if value.len() + chunk.len() > MAX_TEXT_FIELD {
                    return Err(Refusal::bad(format!(
                        "feltet {name:?} er for langt (field longer than {MAX_TEXT_FIELD} bytes)"
                    )));
                }
                value.extend_from_slice(&chunk);
            }
            let value = String::from_utf8(value).map_err(|_| {
                Refusal::bad(format!(
                    "feltet {name:?} er ikke UTF-8 (field is not UTF-8)"
                ))
            })?;
            form.text.insert(name, value);
        }
    }
    Ok(form)
}

/// What adding a part led to.
pub(crate) enum Added {
    /// Parts are missing.
    Pending {
        received: Vec<u32>,
        missing: Vec<u32>,
        count: u32,
    },
    /// All parts are here, in order, with the group's file name.
    Complete(Vec<Part>, String),
}

/// The name of the file a split upload carries, from its parts' names: the stem they share
/// once each part's split suffix is stripped (`.001` of 7-Zip/HJSplit, `.aa`/`.00` of
/// `split`), else the first part's name.
fn group_file_name(names: &[&str]) -> String {
    let first = names.first().copied().unwrap_or_default();
    let strip = |name: &str| -> Option<String> {
        let (stem, suffix) = name.rsplit_once('.')?;
        let split_suffix = suffix.len() >= 2
            && (suffix.bytes().all(|b| b.is_ascii_digit())
                || suffix.bytes().all(|b| b.is_ascii_lowercase()));
        (!stem.is_empty() && split_suffix).then(|| stem.to_string())
    };
    let all_same = names.iter().all(|n| *n == first);
    let stems: Vec<Option<String>> = names.iter().map(|n| strip(n)).collect();
    match stems.first() {
        // Three-digit suffixes name a part on their own; other suffixes only when the
        // parts' names differ by them.
        Some(Some(stem))
            if stems.iter().all(|s| s.as_ref() == Some(stem))
                && (!all_same
                    || first.rsplit_once('.').is_some_and(|(_, s)| {
                        s.len() >= 3 && s.bytes().all(|b| b.is_ascii_digit())
                    })) =>
        {
            stem.clone()
        }
        _ => first.to_string(),
    }
}

/// Adds part `no` of `count` to group `key`.
pub(crate) fn add_part(
    app: &App,
    key: GroupKey,
    no: u32,
    count: u32,
    part: Part,
) -> Result<Added, Refusal> {
    let now = app.now();
    let mut groups = lock(&app.groups);
    if !groups.contains_key(&key) {
        let pending = groups
            .keys()
            .filter(|k| k.channel == key.channel && k.kommunenr == key.kommunenr)
            .count();
        if pending >= MAX_PENDING_GROUPS {
            return Err(Refusal::new(
                StatusCode::CONFLICT,
                format!(
                    "for mange uferdige delte opplastinger ({MAX_PENDING_GROUPS}); fullfør dem først (too many incomplete split uploads)"
                ),
            ));
        }
    }
    let group = groups.entry(key.clone()).or_insert_with(|| Group {
        count,
        parts: BTreeMap::new(),
        created: now,
    });
    if group.count != count {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            format!(
                "antall deler {count} stemmer ikke med {} fra tidligere deler i gruppe {} (part count {count} differs from {} given before)",
                group.count, key.group, group.count
            ),
        ));
    }
    if group.parts.contains_key(&no) {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            format!(
                "del {no} av {count} i gruppe {} er allerede mottatt (part {no} was already received)",
                key.group
            ),
        ));
    }
    tracing::info!(target: "iplos_mocks::sendemodul", kommunenr = %key.kommunenr, group = %key.group, part = no, count, size = part.size, sha256 = %part.sha256, "split part received");
    group.parts.insert(no, part);
    let received: Vec<u32> = group.parts.keys().copied().collect();
    let missing: Vec<u32> = (1..=count)
        .filter(|n| !group.parts.contains_key(n))
        .collect();
    if !missing.is_empty() {
        tracing::info!(target: "iplos_mocks::sendemodul", kommunenr = %key.kommunenr, group = %key.group, ?received, ?missing, "split upload pending");
        return Ok(Added::Pending {
            received,
            missing,
            count,
        });
    }
    let Some(group) = groups.remove(&key) else {
        return Err(Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "group vanished",
        ));
    };
    drop(groups);
    let parts: Vec<Part> = group.parts.into_values().collect();
    // Any part sizes: `split -n` makes the last part the larger one, other tools the
    // smaller; the parts are joined in order.
    let names: Vec<&str> = parts.iter().map(|p| p.file_name.as_str()).collect();
    let name = group_file_name(&names);
    Ok(Added::Complete(parts, name))
}

/// Concatenates the parts in order into a new temporary file.
pub(crate) fn reassemble(app: &App, parts: &[Part]) -> std::io::Result<TempPath> {
    let tmp = tempfile::Builder::new()
        .prefix("assembled-")
        .tempfile_in(&app.parts_dir)?;
    let (file, path) = tmp.into_parts();
    let mut out = std::io::BufWriter::new(file);
    for p in parts {
        let mut f = std::fs::File::open(&p.path)?;
        std::io::copy(&mut f, &mut out)?;
    }
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_upload_is_named_after_its_file() {
        assert_eq!(group_file_name(&["a.xml.001", "a.xml.002"]), "a.xml");
        assert_eq!(
            group_file_name(&["a.xml.aa", "a.xml.ab", "a.xml.ac"]),
            "a.xml"
        );
        assert_eq!(group_file_name(&["a.xml.00", "a.xml.01"]), "a.xml");
        // The parts all carry the file's own name: it stays.
        assert_eq!(group_file_name(&["iplos.xml", "iplos.xml"]), "iplos.xml");
        // Names that do not share a stem: the first part's.
        assert_eq!(group_file_name(&["x.xml", "y.xml"]), "x.xml");
    }

    #[test]
    fn file_names() {
        assert_eq!(sanitise_file_name("../../x").unwrap(), "x");
        assert_eq!(sanitise_file_name("/etc/passwd").unwrap(), "passwd");
        assert_eq!(
            sanitise_file_name("C:\\Users\\iplos\\0403_2017.xml").unwrap(),
            "0403_2017.xml"
        );
        assert_eq!(
            sanitise_file_name("..\\..\\..\\boot.ini").unwrap(),
            "boot.ini"
        );
        assert!(sanitise_file_name("a\0b").is_err());
        assert!(sanitise_file_name("a\nb").is_err());
        assert!(sanitise_file_name("..").is_err());
        assert!(sanitise_file_name("dir/").is_err());
        assert!(sanitise_file_name("").is_err());
        assert_eq!(sanitise_file_name(".hidden").unwrap(), "hidden");
    }

    #[test]
    fn group_names() {
        assert_eq!(group_file_name(&["iplos.xml.001"]), "iplos.xml");
        assert_eq!(group_file_name(&["iplos.xml"]), "iplos.xml");
        assert_eq!(group_file_name(&[".001"]), ".001");
    }
}
