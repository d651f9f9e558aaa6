//! Which directory a task runs in, decided explicitly and reported back.
//!
//! The daemon needs an absolute, existing directory. A tool's `cwd` argument may be absolute,
//! relative, or missing; relative and missing ones resolve against a base: the MCP client's
//! roots when it declares them (Claude Code's root is the project directory), else this
//! server's own working directory (Claude Code starts stdio servers in the project
//! directory). Every reply says which directory was used and why.

use crate::error::ToolError;
use rmcp::RoleServer;
use rmcp::service::Peer;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long to wait for the client to answer `roots/list`.
const ROOTS_TIMEOUT: Duration = Duration::from_secs(3);

/// A base directory for relative paths, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The directory.
    pub dir: PathBuf,
    /// Where it came from: `client root` or `server working directory`.
    pub source: &'static str,
}

/// A resolved working directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// The absolute, canonical directory.
    pub dir: PathBuf,
    /// How it was chosen, in words (e.g. `"relative to the client root /src/app"`).
    pub how: String,
}

/// The client's roots that are local directories, in the client's order. Empty when the
/// client declares no roots capability, does not answer in time, or lists none.
///
/// Roots are deprecated by MCP 2026-07-28 (SEP-2577), but they are what Claude Code and
/// other clients on the initialize handshake speak.
#[allow(deprecated)]
pub async fn client_roots(peer: &Peer<RoleServer>) -> Vec<PathBuf> {
    let declares_roots = peer
        .peer_info()
        .is_some_and(|info| info.capabilities.roots.is_some());
    if !declares_roots {
        return Vec::new();
    }
    let answer = tokio::time::timeout(ROOTS_TIMEOUT, peer.list_roots()).await;
    match answer {
        Ok(Ok(result)) => result
            .roots
            .iter()
            .filter_map(|root| file_uri_path(&root.uri))
            .filter(|path| path.is_dir())
            .collect(),
        Ok(Err(err)) => {
            tracing::debug!("roots/list failed: {err}");
            Vec::new()
        }
        Err(_) => {
            tracing::debug!("roots/list got no answer within {ROOTS_TIMEOUT:?}");
            Vec::new()
        }
    }
}

/// The bases to try, in order: the client's roots, else this process's working directory.
pub async fn bases(peer: &Peer<RoleServer>) -> Result<Vec<Base>, ToolError> {
    let roots = client_roots(peer).await;
    if !roots.is_empty() {
        return Ok(roots
            .into_iter()
            .map(|dir| Base {
                dir,
                source: "client root",
            })
            .collect());
    }
    let dir = std::env::current_dir().map_err(|e| {
        ToolError::Invalid(format!(
            "cannot tell this server's working directory ({e}); pass an absolute cwd"
        ))
    })?;
    Ok(vec![Base {
        dir,
        source: "server working directory",
    }])
}

/// Resolves the `cwd` argument of a tool against `bases` (tried in order; the first in which
/// a relative path exists wins). Fails with a clear sentence when the directory is missing.
/// Resolves a tool's `cwd` argument for a call from `peer`: an absolute path as it is,
/// else against the client's roots (asked for only then: a round trip to the client).
pub async fn resolve_for(
    arg: Option<&str>,
    peer: &Peer<RoleServer>,
) -> Result<Resolved, ToolError> {
    let absolute = arg.is_some_and(|c| Path::new(c.trim()).is_absolute());
    let bases = if absolute {
        Vec::new()
    } else {
        bases(peer).await?
    };
    resolve(arg, &bases)
}

pub fn resolve(arg: Option<&str>, bases: &[Base]) -> Result<Resolved, ToolError> {
    let arg = arg.map(str::trim).filter(|a| !a.is_empty());
    let canonical = |path: &Path| -> Result<PathBuf, String> {
        let dir = std::fs::canonicalize(path).map_err(|e| e.to_string())?;
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err("not a directory".into())
        }
    };
    match arg {
        Some(text) if Path::new(text).is_absolute() => {
            let dir = canonical(Path::new(text)).map_err(|e| {
                ToolError::Invalid(format!("cwd {text} is not a usable directory: {e}"))
            })?;
            Ok(Resolved {
                dir,
                how: "as given".into(),
            })
        }
        Some(text) => {
            let mut last_error = String::from("no base directory");
            for base in bases {
                match canonical(&base.dir.join(text)) {
                    Ok(dir) => {
                        return Ok(Resolved {
                            dir,
                            how: format!(
                                "{text} relative to the {} {}",
                                base.source,
                                base.dir.display()
                            ),
                        });
                    }
                    Err(e) => last_error = e,
                }
            }
            let tried: Vec<String> = bases.iter().map(|b| b.dir.display().to_string()).collect();
            Err(ToolError::Invalid(format!(
                "cwd {text} is not a usable directory relative to {} ({last_error}); pass an \
                 absolute path",
                tried.join(" or ")
            )))
        }
        None => {
            let base = bases.first().ok_or_else(|| {
                ToolError::Invalid("no cwd given and no default directory; pass cwd".into())
            })?;
            let dir = canonical(&base.dir).map_err(|e| {
                ToolError::Invalid(format!(
                    "the {} {} is not usable ({e}); pass cwd",
                    base.source,
                    base.dir.display()
                ))
            })?;
            Ok(Resolved {
                dir,
                how: format!("the {} (no cwd given)", base.source),
            })
        }
    }
}

/// The local path of a `file://` URI (percent-decoded); `None` for other schemes or remote
/// hosts.
pub fn file_uri_path(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file:///p` (empty host) or `file://localhost/p`.
    let path = if rest.starts_with('/') {
        rest
    } else {
        rest.strip_prefix("localhost")?
    };
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let bytes = percent_decode(path)?;
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_become_paths() {
        assert_eq!(
            file_uri_path("file:///home/me/my%20project"),
            Some(PathBuf::from("/home/me/my project"))
        );
        assert_eq!(
            file_uri_path("file://localhost/srv/app"),
            Some(PathBuf::from("/srv/app"))
        );
        assert_eq!(file_uri_path("https://example.invalid/x"), None);
        assert_eq!(file_uri_path("file://otherhost/x"), None);
        assert_eq!(file_uri_path("file:///bad%zz"), None);
    }

    fn base(dir: &Path, source: &'static str) -> Base {
        Base {
            dir: dir.to_path_buf(),
            source,
        }
    }

    #[test]
    fn relative_and_missing_dirs_resolve_against_the_bases_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        std::fs::create_dir_all(b.join("sub")).unwrap();
        std::fs::create_dir_all(&a).unwrap();
        let a = a.canonicalize().unwrap();
        let b = b.canonicalize().unwrap();
        let bases = [base(&a, "client root"), base(&b, "client root")];

        let missing = resolve(None, &bases).unwrap();
        assert_eq!(missing.dir, a);
        assert_eq!(missing.how, "the client root (no cwd given)");

        let rel = resolve(Some("sub"), &bases).unwrap();
        assert_eq!(rel.dir, b.join("sub"));
        assert!(
            rel.how.contains("relative to the client root"),
            "{}",
            rel.how
        );

        let abs = resolve(Some(b.to_str().unwrap()), &bases).unwrap();
        assert_eq!(abs.dir, b);
        assert_eq!(abs.how, "as given");

        let err = resolve(Some("nope"), &bases).unwrap_err().to_string();
        assert!(err.contains("cwd nope is not a usable directory"), "{err}");
        let err = resolve(Some("/definitely/not/here"), &bases)
            .unwrap_err()
            .to_string();
        assert!(err.contains("/definitely/not/here"), "{err}");
    }
}
