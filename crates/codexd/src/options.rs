//! The run options of issue 13 as the API takes them: reasoning effort, config profile,
//! images, extra writable directories, an output schema and a review target. Checked before
//! any task exists; images and the schema become files of the task directory.

use codexd_api::{ApiError, EFFORTS, ErrorKind, ReviewTarget};
use std::path::{Path, PathBuf};

/// Name of the output schema in a task directory.
pub const SCHEMA_FILE: &str = "output-schema.json";
/// Largest image accepted.
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;
/// Most images one request attaches.
pub const MAX_IMAGES: usize = 16;
/// Most extra directories one request adds.
pub const MAX_ADD_DIRS: usize = 16;
/// Largest output schema (serialised).
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;

/// The checked options: what the task records, and the files for its directory.
#[derive(Debug, Default)]
pub struct RunExtras {
    /// Reasoning effort.
    pub effort: Option<String>,
    /// Config profile.
    pub profile: Option<String>,
    /// The images' paths in the task directory.
    pub images: Vec<PathBuf>,
    /// Extra writable directories (canonical).
    pub add_dirs: Vec<PathBuf>,
    /// True when a schema was given.
    pub output_schema: bool,
    /// Files for the task directory: (name, contents).
    pub files: Vec<(String, Vec<u8>)>,
}

/// The options of one request, borrowed.
pub struct ExtraOptions<'a> {
    /// `effort`.
    pub effort: Option<&'a str>,
    /// `profile`.
    pub profile: Option<&'a str>,
    /// `images`.
    pub images: &'a [PathBuf],
    /// `add_dirs`.
    pub add_dirs: &'a [PathBuf],
    /// `output_schema`.
    pub output_schema: Option<&'a serde_json::Value>,
}

/// An `invalid_params` error.
fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::InvalidParams, message)
}

/// Checks `options` and reads the files they name; `task_dir` is where the task's
/// directory will be (the images' paths are recorded there).
pub fn check(options: ExtraOptions<'_>, task_dir: &Path) -> Result<RunExtras, ApiError> {
    let mut extras = RunExtras::default();
    if let Some(effort) = options.effort {
        if !EFFORTS.contains(&effort) {
            return Err(invalid(format!(
                "effort: unknown reasoning effort {effort:?} (expected one of: {})",
                EFFORTS.join(", ")
            )));
        }
        extras.effort = Some(effort.to_string());
    }
    if let Some(profile) = options.profile {
        let valid = (1..=64).contains(&profile.len())
            && profile
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !profile.starts_with('.');
        if !valid {
            return Err(invalid(format!(
                "profile: invalid profile name {profile:?} (1-64 characters: letters, digits, '-', '_', '.')"
            )));
        }
        extras.profile = Some(profile.to_string());
    }
    if options.images.len() > MAX_IMAGES {
        return Err(invalid(format!(
            "images: {} images; at most {MAX_IMAGES} are allowed",
            options.images.len()
        )));
    }
    for (n, image) in options.images.iter().enumerate() {
        let (name, bytes) = read_image(n, image)?;
        extras.images.push(task_dir.join(&name));
        extras.files.push((name, bytes));
    }
    if options.add_dirs.len() > MAX_ADD_DIRS {
        return Err(invalid(format!(
            "add_dirs: {} directories; at most {MAX_ADD_DIRS} are allowed",
            options.add_dirs.len()
        )));
    }
    for dir in options.add_dirs {
        if !dir.is_absolute() {
            return Err(invalid(format!(
                "add_dirs: {} is not an absolute path",
                dir.display()
            )));
        }
        let canonical = std::fs::canonicalize(dir)
            .ok()
            .filter(|p| p.is_dir())
            .ok_or_else(|| {
                invalid(format!(
                    "add_dirs: {} does not exist or is not a directory",
                    dir.display()
                ))
            })?;
        extras.add_dirs.push(canonical);
    }
    if let Some(schema) = options.output_schema {
        crate::results::schema::check_schema(schema)
            .map_err(|e| invalid(format!("output_schema: {e}")))?;
        let bytes = serde_json::to_vec_pretty(schema)
            .map_err(|e| invalid(format!("output_schema: {e}")))?;
        if bytes.len() > MAX_SCHEMA_BYTES {
            return Err(invalid(format!(
                "output_schema: {} bytes; the limit is {MAX_SCHEMA_BYTES}",
                bytes.len()
            )));
        }
        extras.output_schema = true;
        extras.files.push((SCHEMA_FILE.to_string(), bytes));
    }
    Ok(extras)
}

/// Reads image number `n`: a readable regular file of at most [`MAX_IMAGE_BYTES`]. Its copy
/// is named `image-N.EXT` (the extension kept: codex tells the type by it).
fn read_image(n: usize, image: &Path) -> Result<(String, Vec<u8>), ApiError> {
    if !image.is_absolute() {
        return Err(invalid(format!(
            "images: {} is not an absolute path",
            image.display()
        )));
    }
    let meta = std::fs::metadata(image)
        .map_err(|e| invalid(format!("images: cannot read {}: {e}", image.display())))?;
    if !meta.is_file() {
        return Err(invalid(format!(
            "images: {} is not a regular file",
            image.display()
        )));
    }
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(invalid(format!(
            "images: {} is {} bytes; the limit is {MAX_IMAGE_BYTES}",
            image.display(),
            meta.len()
        )));
    }
    let bytes = std::fs::read(image)
        .map_err(|e| invalid(format!("images: cannot read {}: {e}", image.display())))?;
    let ext = image
        .extension()
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 8 && e.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|e| format!(".{}", e.to_ascii_lowercase()))
        .unwrap_or_default();
    Ok((format!("image-{}{ext}", n + 1), bytes))
}

/// The instructions a review with an output schema runs with: the user's, then the schema
/// the answer must follow. `codex exec review` takes `--output-schema` but does not pass it
/// to the model (0.169.0), so the model is told in words; codexd checks the answer against
/// the schema all the same (`final_json` or `schema_error`).
pub fn review_instructions(prompt: &str, schema: &str) -> String {
    format!(
        "{}\n\nAnswer with one JSON object and nothing else (no prose, no code fence), \
         conforming to this JSON Schema:\n{}",
        prompt.trim_end(),
        schema.trim()
    )
}

/// Checks a review target and the prompt that goes with it: at most one of
/// `uncommitted`, `base`, `commit`; with none of them the prompt (custom instructions) is
/// required, and with one of them neither a prompt nor an output schema is taken. Values
/// must not look like flags.
pub fn check_review(target: &ReviewTarget, prompt: &str, has_schema: bool) -> Result<(), ApiError> {
    let targets = usize::from(target.uncommitted)
        + usize::from(target.base.is_some())
        + usize::from(target.commit.is_some());
    if targets > 1 {
        return Err(invalid(
            "review: give at most one of uncommitted, base and commit",
        ));
    }
    if targets == 0 && prompt.trim().is_empty() {
        return Err(invalid(
            "review: give a target (uncommitted, base or commit) or review instructions",
        ));
    }
    // `codex exec review` (0.169.0) refuses a prompt beside --uncommitted/--base/--commit
    // (clap: "cannot be used with '[PROMPT]'"): refused here, before a task exists, instead
    // of a task that fails at once with codex's usage error.
    if targets == 1 && !prompt.trim().is_empty() {
        return Err(invalid(
            "review: give custom instructions or a target (uncommitted, base or commit), not \
             both (codex exec review takes one or the other); to focus the review of a target, \
             name it in the instructions, e.g. \"review the changes against main; look for \
             races only\"",
        ));
    }
    // Review mode does not send `--output-schema` to the model (0.169.0: the request has
    // no `text.format`), and with a target the final message is codex's rendered review,
    // which no schema would match: only instructions can ask for the schema's JSON.
    if targets == 1 && has_schema {
        return Err(invalid(
            "review: output_schema needs custom instructions instead of a target (codex's \
             review of a target answers in its own format); name the changes to review in \
             the instructions",
        ));
    }
    for (field, value) in [
        ("base", &target.base),
        ("commit", &target.commit),
        ("title", &target.title),
    ] {
        if let Some(value) = value
            && (value.trim().is_empty()
                || value.starts_with('-')
                || value.contains('\0')
                || value.len() > 1024)
        {
            return Err(invalid(format!("review.{field}: invalid value {value:?}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none<'a>() -> ExtraOptions<'a> {
        ExtraOptions {
            effort: None,
            profile: None,
            images: &[],
            add_dirs: &[],
            output_schema: None,
        }
    }

    #[test]
    fn bad_values_are_refused_naming_the_field() {
        let dir = Path::new("/nonexistent-task-dir");
        let bad_effort = ExtraOptions {
            effort: Some("extreme"),
            ..none()
        };
        let e = check(bad_effort, dir).unwrap_err();
        assert!(e.message.contains("effort"), "{}", e.message);
        let images = [PathBuf::from("/no/such/image.png")];
        let e = check(
            ExtraOptions {
                images: &images,
                ..none()
            },
            dir,
        )
        .unwrap_err();
        assert!(e.message.contains("images"), "{}", e.message);
        let dirs = [PathBuf::from("/no/such/dir")];
        let e = check(
            ExtraOptions {
                add_dirs: &dirs,
                ..none()
            },
            dir,
        )
        .unwrap_err();
        assert!(e.message.contains("add_dirs"), "{}", e.message);
        let schema = serde_json::json!("not a schema");
        let e = check(
            ExtraOptions {
                output_schema: Some(&schema),
                ..none()
            },
            dir,
        )
        .unwrap_err();
        assert!(e.message.contains("output_schema"), "{}", e.message);
    }

    #[test]
    fn a_review_needs_one_target_or_instructions() {
        let both = ReviewTarget {
            uncommitted: true,
            base: Some("main".into()),
            ..Default::default()
        };
        assert!(check_review(&both, "", false).is_err());
        assert!(check_review(&ReviewTarget::default(), " ", false).is_err());
        assert!(check_review(&ReviewTarget::default(), "look for races", true).is_ok());
        let base = ReviewTarget {
            base: Some("main".into()),
            ..Default::default()
        };
        assert!(check_review(&base, "", false).is_ok());
        assert!(
            check_review(&base, "", true).is_err(),
            "a schema needs instructions"
        );
        let err = check_review(&base, "look for races", false).expect_err("codex refuses both");
        assert!(err.message.contains("not both"), "{}", err.message);
        let flag = ReviewTarget {
            base: Some("--evil".into()),
            ..Default::default()
        };
        assert!(check_review(&flag, "", false).is_err());
    }
}
