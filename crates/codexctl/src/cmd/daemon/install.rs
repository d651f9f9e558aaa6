//! `codexctl daemon install|uninstall`: codexd as a service of the current user.
//!
//! The files are generated from the templates committed in the repository (`systemd/` and
//! `launchd/`, compiled in with `include_str!`), with only the program path (and, for
//! launchd, the home directory) substituted, so the committed and the installed files cannot
//! drift. Linux: `codexd.service` + `codexd.socket` in `$XDG_CONFIG_HOME/systemd/user`
//! (default `~/.config/systemd/user`), enabled through `systemctl --user`. macOS:
//! `~/Library/LaunchAgents/dev.codexd.plist`, loaded with `launchctl bootstrap`. The
//! generation is the same on every platform (`--manager` picks the files); only loading
//! them needs the platform's own manager. Nothing here touches the state directory or runs.

use crate::{CmdResult, Ctx, Failure, out};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The committed systemd service unit (the template).
const SERVICE_TEMPLATE: &str = include_str!("../../../../../systemd/codexd.service");
/// The committed systemd socket unit (used as it is).
const SOCKET_TEMPLATE: &str = include_str!("../../../../../systemd/codexd.socket");
/// The committed launchd agent (the template).
const PLIST_TEMPLATE: &str = include_str!("../../../../../launchd/dev.codexd.plist");

/// The line of the socket template replaced when the socket is not the default one.
const SOCKET_LISTEN_LINE: &str = "ListenStream=%t/codexd/codexd.sock";
/// The line of the service template replaced by the real program.
const SERVICE_EXEC_LINE: &str = "ExecStart=%h/.cargo/bin/codexd";
/// The program string of the plist template replaced by the real program.
const PLIST_PROGRAM: &str = "<string>@HOME@/.cargo/bin/codexd</string>";
/// The home-directory placeholder of the plist template.
const PLIST_HOME: &str = "@HOME@";
/// The end of the plist's leading comment; placeholders are replaced after it only.
const PLIST_COMMENT_END: &str = "-->";
/// The launchd label (and file name) of the agent.
const LAUNCHD_LABEL: &str = "dev.codexd";
/// The systemd units, in the order they are written.
const SYSTEMD_UNITS: [&str; 2] = ["codexd.service", "codexd.socket"];

/// A service manager to write files for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Manager {
    /// systemd user units (Linux).
    Systemd,
    /// A launchd user agent (macOS).
    Launchd,
}

impl Manager {
    /// This platform's manager.
    fn native() -> Manager {
        if cfg!(target_os = "macos") {
            Manager::Launchd
        } else {
            Manager::Systemd
        }
    }

    /// Whether this manager runs on this platform (so its files can be loaded here).
    fn is_native(self) -> bool {
        self == Manager::native()
    }

    /// The manager's name as the flag spells it.
    fn name(self) -> &'static str {
        match self {
            Manager::Systemd => "systemd",
            Manager::Launchd => "launchd",
        }
    }
}

/// `codexctl daemon install`.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// Print the files and the commands instead of writing and running them.
    #[arg(long)]
    dry_run: bool,
    /// Only write the files; do not enable, load or start anything.
    #[arg(long)]
    no_start: bool,
    /// The codexd the service runs [default: the codexd beside this codexctl].
    #[arg(long, value_name = "PATH")]
    codexd: Option<PathBuf>,
    /// Whose files to write [default: systemd on Linux, launchd on macOS]. The other
    /// platform's files can be written with --no-start (or shown with --dry-run).
    #[arg(long, value_enum)]
    manager: Option<Manager>,
}

/// `codexctl daemon uninstall`.
#[derive(Debug, clap::Args)]
pub struct UninstallArgs {
    /// Print what would be stopped and removed, and do nothing.
    #[arg(long)]
    dry_run: bool,
    /// Only remove the files; do not stop or disable anything.
    #[arg(long)]
    no_stop: bool,
    /// Whose files to remove [default: systemd on Linux, launchd on macOS].
    #[arg(long, value_enum)]
    manager: Option<Manager>,
}

/// A file to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFile {
    /// Where it goes.
    pub path: PathBuf,
    /// What it holds.
    pub contents: String,
}

/// Writes the service files and (unless `--no-start`) enables and starts the service.
pub async fn install(ctx: &Ctx, args: InstallArgs) -> CmdResult {
    let manager = args.manager.unwrap_or_else(Manager::native);
    let start = !args.no_start;
    if start && !args.dry_run && !manager.is_native() {
        return Err(Failure::Usage(format!(
            "{} files cannot be loaded on this system: add --no-start to only write them",
            manager.name()
        )));
    }
    let codexd = find_codexd(args.codexd)?;
    // `--socket`/`CODEXD_SOCKET`: the service serves that socket instead of the default.
    let socket = service_socket(&ctx.connect.socket)?;
    let files = match manager {
        Manager::Systemd => systemd_files(&unit_dir()?, &codexd, socket.as_deref()),
        Manager::Launchd => launchd_files(&agents_dir()?, &home()?, &codexd, socket.as_deref()),
    }
    .map_err(Failure::Usage)?;
    let commands = start_commands(manager, &files);
    if args.dry_run {
        for file in &files {
            out::line(format!("# would write {}:", file.path.display()))?;
            out::text(&file.contents)?;
            out::line("")?;
        }
        if start {
            out::line("# then stop a codexd already answering, if any, and run:")?;
            for command in &commands {
                out::line(shell_words(command))?;
            }
        }
        return Ok(());
    }
    for file in &files {
        write_file(file)?;
        out::line(format!("wrote {}", file.path.display()))?;
    }
    if !start {
        out::line("not started (--no-start); to start it:")?;
        for command in manual_commands(manager, &commands) {
            out::line(format!("  {command}"))?;
        }
        return Ok(());
    }
    // A daemon started outside the manager would keep the socket (and the state directory)
    // and make the service fail; it exits cleanly and the service adopts its running tasks.
    stop_unmanaged_daemon(ctx).await?;
    for (i, command) in commands.iter().enumerate() {
        // launchd refuses to load a label that is loaded: unload it first, whatever it says.
        let may_fail = manager == Manager::Launchd && i == 0;
        match run_tool(command) {
            Ok(()) => {}
            Err(_) if may_fail => {}
            Err(why) => {
                let manual = manual_commands(manager, &commands);
                return Err(Failure::Refused(format!(
                    "{why}\nThe files are written, but the service is not started.{hint}\n\
                     To start it yourself: {}",
                    manual.join(" && "),
                    hint = if manager == Manager::Systemd {
                        " Is a systemd user manager running for you? (Over ssh or on a \
                         headless machine: `loginctl enable-linger $USER`, then log in again.)"
                    } else {
                        ""
                    }
                )));
            }
        }
    }
    match manager {
        Manager::Systemd => out::line(format!(
            "codexd.socket is enabled: systemd listens on {} and starts codexd on the first \
             connection.\nOver ssh or on a headless machine, run `loginctl enable-linger \
             $USER` so that it outlives your sessions.",
            match &socket {
                Some(path) => path.display().to_string(),
                None => "$XDG_RUNTIME_DIR/codexd/codexd.sock".to_string(),
            }
        ))?,
        Manager::Launchd => out::line(format!("{LAUNCHD_LABEL} is loaded and codexd is running."))?,
    }
    Ok(())
}

/// Every service file `install` may write for this user (systemd units and the launchd
/// agent), whether or not it exists.
pub fn service_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match unit_dir() {
        Ok(dir) => SYSTEMD_UNITS.iter().map(|u| dir.join(u)).collect(),
        Err(_) => Vec::new(),
    };
    if let Ok(dir) = agents_dir() {
        files.push(dir.join(format!("{LAUNCHD_LABEL}.plist")));
    }
    files
}

/// Stops and disables the service (unless `--no-stop`) and removes its files.
pub fn uninstall(args: UninstallArgs) -> CmdResult {
    let manager = args.manager.unwrap_or_else(Manager::native);
    let paths: Vec<PathBuf> = match manager {
        Manager::Systemd => {
            let dir = unit_dir()?;
            SYSTEMD_UNITS.iter().map(|u| dir.join(u)).collect()
        }
        Manager::Launchd => vec![agents_dir()?.join(format!("{LAUNCHD_LABEL}.plist"))],
    };
    let stop = !args.no_stop && manager.is_native();
    let stop_command: Vec<String> = match manager {
        Manager::Systemd => ["systemctl", "--user", "disable", "--now"]
            .into_iter()
            .chain(SYSTEMD_UNITS)
            .map(String::from)
            .collect(),
        Manager::Launchd => vec![
            "launchctl".into(),
            "bootout".into(),
            format!(
                "gui/{}/{LAUNCHD_LABEL}",
                codexd_client::api::paths::current_uid()
            ),
        ],
    };
    if args.dry_run {
        if stop {
            out::line(format!("would run: {}", shell_words(&stop_command)))?;
        }
        for path in &paths {
            if path.exists() {
                out::line(format!("would remove {}", path.display()))?;
            }
        }
        return Ok(());
    }
    let mut stop_failure = None;
    if stop {
        match run_tool(&stop_command) {
            Ok(()) => out::line("stopped and disabled the service (running tasks go on)")?,
            Err(ToolError::Missing(program)) => out::line(format!(
                "{program} not found: no service manager to stop the service in"
            ))?,
            // launchctl fails when the agent is not loaded; nothing to stop then.
            Err(why) if manager == Manager::Launchd => out::line(why)?,
            Err(why) => stop_failure = Some(why),
        }
    }
    let mut removed = 0;
    for path in &paths {
        match std::fs::remove_file(path) {
            Ok(()) => {
                removed += 1;
                out::line(format!("removed {}", path.display()))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Failure::Refused(format!(
                    "cannot remove {}: {e}",
                    path.display()
                )));
            }
        }
    }
    if removed == 0 {
        out::line(format!("no {} files were installed", manager.name()))?;
    }
    if stop && stop_failure.is_none() && manager == Manager::Systemd {
        let reload = ["systemctl", "--user", "daemon-reload"].map(String::from);
        if let Err(why) = run_tool(&reload) {
            out::warn(why);
        }
    }
    if let Some(why) = stop_failure {
        return Err(Failure::Refused(format!(
            "{why}\nThe files are removed, but the service could not be stopped; stop it \
             with: systemctl --user stop codexd.socket codexd.service"
        )));
    }
    out::line("the state directory and the tasks were left alone")?;
    Ok(())
}

/// The commands that load and start the service from `files`.
fn start_commands(manager: Manager, files: &[ServiceFile]) -> Vec<Vec<String>> {
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match manager {
        Manager::Systemd => vec![
            words(&["systemctl", "--user", "daemon-reload"]),
            words(&["systemctl", "--user", "enable", "--now", "codexd.socket"]),
        ],
        Manager::Launchd => {
            let domain = format!("gui/{}", codexd_client::api::paths::current_uid());
            let plist = files
                .first()
                .map(|f| f.path.display().to_string())
                .unwrap_or_default();
            vec![
                words(&["launchctl", "bootout", &format!("{domain}/{LAUNCHD_LABEL}")]),
                words(&["launchctl", "bootstrap", &domain, &plist]),
            ]
        }
    }
}

/// The start commands as shell lines for people: launchd's preliminary `bootout` (which
/// fails when nothing is loaded) is left out.
fn manual_commands(manager: Manager, commands: &[Vec<String>]) -> Vec<String> {
    let skip = usize::from(manager == Manager::Launchd);
    commands.iter().skip(skip).map(|c| shell_words(c)).collect()
}

/// Stops a daemon that answers on the socket (started by hand or by autostart), leaving its
/// tasks running for the service's daemon to adopt.
async fn stop_unmanaged_daemon(ctx: &Ctx) -> CmdResult {
    let Ok(client) = codexd_client::Client::connect(&ctx.connect.socket).await else {
        return Ok(());
    };
    // A socket nothing serves (e.g. a failed service) does not count.
    if tokio::time::timeout(std::time::Duration::from_secs(5), client.version())
        .await
        .is_err()
    {
        return Ok(());
    }
    let pid = super::stop(client, false).await?;
    out::line(format!(
        "stopped the codexd already running (pid {pid}); the service adopts its tasks"
    ))?;
    Ok(())
}

/// Why a tool did not do its job.
#[derive(Debug)]
enum ToolError {
    /// The program is not installed.
    Missing(String),
    /// It ran and failed.
    Failed(String),
}

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolError::Missing(program) => write!(f, "{program} not found on PATH"),
            ToolError::Failed(why) => f.write_str(why),
        }
    }
}

/// Runs `command` (program and arguments) to completion.
fn run_tool(command: &[String]) -> Result<(), ToolError> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| ToolError::Failed("empty command".into()))?;
    let output = Command::new(program).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ToolError::Missing(program.clone())
        } else {
            ToolError::Failed(format!("cannot run {program}: {e}"))
        }
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(ToolError::Failed(format!(
        "`{}` failed ({}): {}",
        shell_words(command),
        output.status,
        stderr.trim()
    )))
}

/// A command as a shell line, quoting the words that need it.
fn shell_words(command: &[String]) -> String {
    command
        .iter()
        .map(|w| {
            if !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `file` (creating its directory), replacing any earlier version atomically.
fn write_file(file: &ServiceFile) -> CmdResult {
    let fail = |what: &str, e: std::io::Error| {
        Failure::Refused(format!("cannot {what} {}: {e}", file.path.display()))
    };
    let dir = file
        .path
        .parent()
        .ok_or_else(|| Failure::Usage(format!("{} has no directory", file.path.display())))?;
    std::fs::create_dir_all(dir).map_err(|e| fail("create the directory of", e))?;
    let mut temp = file.path.as_os_str().to_owned();
    temp.push(".tmp");
    std::fs::write(&temp, &file.contents).map_err(|e| fail("write", e))?;
    std::fs::rename(&temp, &file.path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        fail("write", e)
    })
}

/// The codexd to run: `explicit` (made absolute), else the one beside this executable.
fn find_codexd(explicit: Option<PathBuf>) -> Result<PathBuf, Failure> {
    let path = match explicit {
        Some(path) if path.is_absolute() => path,
        Some(path) => std::env::current_dir()?.join(path),
        None => std::env::current_exe()
            .map_err(|e| Failure::Usage(format!("cannot find this executable: {e}")))?
            .with_file_name("codexd"),
    };
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => Ok(path),
        _ => Err(Failure::Usage(format!(
            "no executable codexd at {}: pass --codexd PATH",
            path.display()
        ))),
    }
}

/// A directory from an environment variable, if it is set to an absolute path.
fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// `$HOME`.
fn home() -> Result<PathBuf, Failure> {
    env_dir("HOME").ok_or_else(|| Failure::Usage("HOME is not set to an absolute path".into()))
}

/// The systemd user unit directory: `$XDG_CONFIG_HOME/systemd/user`, else
/// `~/.config/systemd/user`.
fn unit_dir() -> Result<PathBuf, Failure> {
    let config = match env_dir("XDG_CONFIG_HOME") {
        Some(dir) => dir,
        None => home()?.join(".config"),
    };
    Ok(config.join("systemd").join("user"))
}

/// The launchd user agent directory: `~/Library/LaunchAgents`.
fn agents_dir() -> Result<PathBuf, Failure> {
    Ok(home()?.join("Library").join("LaunchAgents"))
}

/// The socket the service must serve when it is not codexd's default (`None`: the
/// templates' own, `$XDG_RUNTIME_DIR/codexd/codexd.sock`), made absolute.
fn service_socket(socket: &Path) -> Result<Option<PathBuf>, Failure> {
    if socket == codexd_client::api::paths::default_socket() {
        return Ok(None);
    }
    Ok(Some(if socket.is_absolute() {
        socket.to_path_buf()
    } else {
        std::env::current_dir()?.join(socket)
    }))
}

/// The systemd units for `codexd`, in `unit_dir`; `socket` replaces the default socket in
/// both (the socket unit listens on it, the daemon is told it with `--socket`).
pub fn systemd_files(
    unit_dir: &Path,
    codexd: &Path,
    socket: Option<&Path>,
) -> Result<Vec<ServiceFile>, String> {
    let mut exec = systemd_quote(codexd)?;
    let mut socket_unit = SOCKET_TEMPLATE.to_string();
    if let Some(socket) = socket {
        let quoted = systemd_quote(socket)?;
        if quoted.starts_with('"') {
            return Err(format!(
                "{} cannot be a systemd socket path (no spaces, quotes, backslashes or `;`)",
                socket.display()
            ));
        }
        exec = format!("{exec} --socket {quoted}");
        // ListenStream= expands specifiers (%) but not variables ($), unlike ExecStart=.
        let listen = format!(
            "ListenStream={}",
            socket.display().to_string().replace('%', "%%")
        );
        if socket_unit
            .lines()
            .filter(|l| *l == SOCKET_LISTEN_LINE)
            .count()
            != 1
        {
            return Err(format!(
                "the socket template has no single `{SOCKET_LISTEN_LINE}` line"
            ));
        }
        socket_unit = socket_unit
            .lines()
            .map(|line| {
                if line == SOCKET_LISTEN_LINE {
                    format!("{listen}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
    }
    let mut lines = 0;
    let service: String = SERVICE_TEMPLATE
        .lines()
        .map(|line| {
            if line == SERVICE_EXEC_LINE {
                lines += 1;
                format!("ExecStart={exec}\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    if lines != 1 {
        return Err(format!(
            "the service template has no single `{SERVICE_EXEC_LINE}` line"
        ));
    }
    Ok(vec![
        ServiceFile {
            path: unit_dir.join(SYSTEMD_UNITS[0]),
            contents: format!("{}{service}", systemd_header(SYSTEMD_UNITS[0])),
        },
        ServiceFile {
            path: unit_dir.join(SYSTEMD_UNITS[1]),
            contents: format!("{}{socket_unit}", systemd_header(SYSTEMD_UNITS[1])),
        },
    ])
}

/// The comment opening an installed unit.
fn systemd_header(unit: &str) -> String {
    format!(
        "# Written by `codexctl daemon install` (codexctl {}) from codexd's systemd/{unit};\n\
         # `codexctl daemon uninstall` removes it.\n#\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// `path` as the program of an `ExecStart=` line: specifiers and variables escaped, quoted
/// if it has spaces, quotes or backslashes.
fn systemd_quote(path: &Path) -> Result<String, String> {
    let text = path
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()))?;
    if !path.is_absolute() || text.chars().any(char::is_control) {
        return Err(format!(
            "{text:?} cannot be a systemd program path (absolute, no control characters)"
        ));
    }
    let escaped = text
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    let quote = text.contains([' ', '\t', '"', '\'', '\\', ';']);
    Ok(if quote {
        format!("\"{escaped}\"")
    } else {
        escaped
    })
}

/// The launchd agent for `codexd`, in `agents_dir`, with `home` for the log and PATH;
/// with `socket`, the daemon is run with `--socket SOCKET`.
pub fn launchd_files(
    agents_dir: &Path,
    home: &Path,
    codexd: &Path,
    socket: Option<&Path>,
) -> Result<Vec<ServiceFile>, String> {
    let text = |p: &Path| {
        p.to_str()
            .map(xml_escape)
            .ok_or_else(|| format!("{} is not UTF-8", p.display()))
    };
    let (codexd, home) = (text(codexd)?, text(home)?);
    let socket_args = match socket {
        Some(socket) => format!(
            "\n    <string>--socket</string>\n    <string>{}</string>",
            text(socket)?
        ),
        None => String::new(),
    };
    let split = PLIST_TEMPLATE
        .find(PLIST_COMMENT_END)
        .map(|i| i + PLIST_COMMENT_END.len())
        .ok_or("the plist template has no leading comment")?;
    let (head, body) = PLIST_TEMPLATE.split_at(split);
    if body.matches(PLIST_PROGRAM).count() != 1 {
        return Err(format!("the plist template has no single {PLIST_PROGRAM}"));
    }
    let body = body
        .replace(
            PLIST_PROGRAM,
            &format!("<string>{codexd}</string>{socket_args}"),
        )
        .replace(PLIST_HOME, &home);
    let (declaration, rest) = head
        .split_once('\n')
        .ok_or("the plist template has no XML declaration line")?;
    // No "--" may appear inside an XML comment.
    let note = format!(
        "<!-- Written by codexctl daemon install (codexctl {}) from codexd's \
         launchd/{LAUNCHD_LABEL}.plist; codexctl daemon uninstall removes it. -->",
        env!("CARGO_PKG_VERSION")
    );
    Ok(vec![ServiceFile {
        path: agents_dir.join(format!("{LAUNCHD_LABEL}.plist")),
        contents: format!("{declaration}\n{note}\n{rest}{body}"),
    }])
}

/// `text` with the XML special characters escaped.
fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_runs_the_given_codexd_and_keeps_the_template() {
        let files = systemd_files(Path::new("/u"), Path::new("/opt/x/bin/codexd"), None).unwrap();
        assert_eq!(files[0].path, Path::new("/u/codexd.service"));
        assert_eq!(files[1].path, Path::new("/u/codexd.socket"));
        let service = &files[0].contents;
        assert!(
            service.contains("\nExecStart=/opt/x/bin/codexd\n"),
            "{service}"
        );
        assert!(!service.contains(SERVICE_EXEC_LINE));
        for kept in [
            "Type=notify",
            "KillMode=process",
            "Delegate=yes",
            "Restart=on-failure",
        ] {
            assert!(service.contains(kept), "{kept}");
        }
        // Everything but the header and the program line is the template's.
        let body: Vec<&str> = service.lines().skip(3).collect();
        let template: Vec<&str> = SERVICE_TEMPLATE.lines().collect();
        assert_eq!(body.len(), template.len());
        let differing: Vec<_> = body.iter().zip(&template).filter(|(a, b)| a != b).collect();
        assert_eq!(differing.len(), 1, "{differing:?}");
        assert!(files[1].contents.ends_with(SOCKET_TEMPLATE));
    }

    #[test]
    fn systemd_program_paths_are_escaped() {
        let quote = |p: &str| systemd_quote(Path::new(p));
        assert_eq!(quote("/a/b").unwrap(), "/a/b");
        assert_eq!(quote("/a/100%/$x").unwrap(), "/a/100%%/$$x");
        assert_eq!(quote("/my dir/co\"d").unwrap(), "\"/my dir/co\\\"d\"");
        assert!(quote("relative").is_err());
        assert!(quote("/a\nb").is_err());
    }

    #[test]
    fn the_plist_runs_the_given_codexd_with_home_substituted() {
        let files = launchd_files(
            Path::new("/h/Library/LaunchAgents"),
            Path::new("/h"),
            Path::new("/o&p/codexd"),
            None,
        )
        .unwrap();
        let plist = &files[0].contents;
        assert_eq!(
            files[0].path,
            Path::new("/h/Library/LaunchAgents/dev.codexd.plist")
        );
        assert!(
            plist.contains("<string>/o&amp;p/codexd</string>"),
            "{plist}"
        );
        assert!(plist.contains("<string>/h/Library/Logs/codexd.log</string>"));
        assert!(plist.starts_with("<?xml"));
        let body = &plist[plist.rfind(PLIST_COMMENT_END).unwrap()..];
        assert!(!body.contains('@'), "no placeholder left: {body}");
    }

    #[test]
    fn a_socket_other_than_the_default_is_served_by_the_service() {
        let socket = Path::new("/srv/100%/codexd.sock");
        let files = systemd_files(Path::new("/u"), Path::new("/opt/codexd"), Some(socket)).unwrap();
        assert!(
            files[0]
                .contents
                .contains("\nExecStart=/opt/codexd --socket /srv/100%%/codexd.sock\n"),
            "{}",
            files[0].contents
        );
        let unit = &files[1].contents;
        assert!(
            unit.contains("\nListenStream=/srv/100%%/codexd.sock\n"),
            "{unit}"
        );
        assert!(!unit.contains(SOCKET_LISTEN_LINE), "{unit}");
        assert!(
            systemd_files(Path::new("/u"), Path::new("/c"), Some(Path::new("/a b/s"))).is_err()
        );
        let plist = &launchd_files(
            Path::new("/h/L"),
            Path::new("/h"),
            Path::new("/c"),
            Some(socket),
        )
        .unwrap()[0]
            .contents;
        assert!(
            plist.contains(
                "<string>/c</string>\n    <string>--socket</string>\n    <string>/srv/100%/codexd.sock</string>"
            ),
            "{plist}"
        );
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        let words = ["a", "b c", "it's", "gui/501/dev.codexd"].map(String::from);
        assert_eq!(shell_words(&words), r"a 'b c' 'it'\''s' gui/501/dev.codexd");
    }
}
