//! `[control]`: the control plane (TCP 2210). On a node (standalone, slave, proxy): the masters
//! it registers with and the token it presents. On a master: the control service's address and
//! the token nodes must present. See `flight::control` for the protocol.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::units::Span;

/// `[control]` of a standalone node, a slave or a proxy.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlSection {
    /// `host:port` of each master's control service, tried in order. Empty: no control plane.
    pub masters: Vec<String>,
    /// The shared token (sent as `authorization: Bearer <token>`).
    pub token: Option<String>,
    /// A file holding the token (instead of `token`).
    pub token_file: Option<PathBuf>,
    /// The unit's proxy group, reported to the master.
    pub group: Option<String>,
    /// Time between heartbeats.
    pub heartbeat: Span,
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection {
            masters: Vec::new(),
            token: None,
            token_file: None,
            group: None,
            heartbeat: Span(Duration::from_secs(2)),
        }
    }
}

impl ControlSection {
    /// Checks the masters' addresses, the heartbeat and that at most one token source is set;
    /// errors name the key.
    pub fn check(&self) -> anyhow::Result<()> {
        check_masters(&self.masters)?;
        if self.heartbeat.0.is_zero() {
            bail!("control.heartbeat must be longer than 0s");
        }
        check_token_keys(&self.token, &self.token_file)
    }

    /// The token, read from `token_file` if that is set.
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        read_token(&self.token, self.token_file.as_deref())
    }
}

/// Every `host:port` is one (the error names `control.masters`).
fn check_masters(masters: &[String]) -> anyhow::Result<()> {
    for master in masters {
        let port = master.rsplit_once(':').map(|(host, port)| (host, port.parse::<u16>()));
        if !matches!(port, Some((host, Ok(p))) if !host.is_empty() && p != 0) {
            bail!("control.masters: {master:?} is not host:port (e.g. \"10.0.0.1:2210\")");
        }
    }
    Ok(())
}

/// `[control]` of a master.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MasterControlSection {
    /// TCP address of the control service (port 0 picks a free port; the ready file says which).
    pub listen: SocketAddr,
    /// The token every node must present. Unset (and no `token_file`): any node may register.
    /// A backup master presents it to the master it follows.
    pub token: Option<String>,
    /// A file holding the token (instead of `token`).
    pub token_file: Option<PathBuf>,
    /// 1: the top-priority master, which takes configuration changes (the default). Above 1: a
    /// backup master that follows the configuration of `masters` and refuses changes.
    pub priority: u32,
    /// A backup master's higher-priority masters (`host:port` of their control services),
    /// tried in order.
    pub masters: Vec<String>,
    /// A backup master's name among the units of the master it follows (default:
    /// `master@` and its query address).
    pub name: Option<String>,
    /// Time between a backup master's heartbeats.
    pub heartbeat: Span,
}

impl Default for MasterControlSection {
    fn default() -> Self {
        MasterControlSection {
            listen: "0.0.0.0:2210".parse().expect("a valid address"),
            token: None,
            token_file: None,
            priority: 1,
            masters: Vec::new(),
            name: None,
            heartbeat: Span(Duration::from_secs(2)),
        }
    }
}

impl MasterControlSection {
    /// Checks the token keys, and that a backup master (priority above 1) names the masters it
    /// follows and the top-priority master names none.
    pub fn check(&self) -> anyhow::Result<()> {
        check_masters(&self.masters)?;
        match (self.priority, self.masters.is_empty()) {
            (0, _) => bail!("control.priority starts at 1 (the top-priority master)"),
            (1, false) => bail!(
                "control.masters is set on the top-priority master (control.priority = 1): \
                 only a backup master (priority 2 or more) follows other masters"
            ),
            (p, true) if p > 1 => bail!(
                "control.priority = {p} makes this a backup master: control.masters must name the \
                 master(s) it follows"
            ),
            _ => {}
        }
        if self.heartbeat.0.is_zero() {
            bail!("control.heartbeat must be longer than 0s");
        }
        check_token_keys(&self.token, &self.token_file)
    }

    /// A backup master: priority above 1.
    pub fn follows(&self) -> bool {
        self.priority > 1
    }

    /// The token, read from `token_file` if that is set.
    pub fn token(&self) -> anyhow::Result<Option<String>> {
        read_token(&self.token, self.token_file.as_deref())
    }
}

fn check_token_keys(token: &Option<String>, file: &Option<PathBuf>) -> anyhow::Result<()> {
    if token.is_some() && file.is_some() {
        bail!("control.token and control.token_file are both set: keep one");
    }
    if let Some(token) = token {
        check_token(token).context("control.token")?;
    }
    Ok(())
}

fn check_token(token: &str) -> anyhow::Result<()> {
    if token.is_empty() {
        bail!("the token is empty");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("the token must be printable ASCII without spaces");
    }
    Ok(())
}

fn read_token(token: &Option<String>, file: Option<&Path>) -> anyhow::Result<Option<String>> {
    match file {
        None => Ok(token.clone()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("control.token_file: reading {}", path.display()))?;
            let token = text.trim().to_string();
            check_token(&token).with_context(|| format!("control.token_file {}", path.display()))?;
            Ok(Some(token))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Node {
        control: ControlSection,
    }

    fn node(text: &str) -> anyhow::Result<ControlSection> {
        let node: Node = toml::from_str(text)?;
        node.control.check()?;
        Ok(node.control)
    }

    #[test]
    fn a_node_section_parses_with_its_defaults() {
        let c = node("[control]\nmasters = [\"10.0.0.1:2210\", \"master-b:2210\"]\ntoken = \"abc\"\ngroup = \"a1\"\n")
            .unwrap();
        assert_eq!(c.masters, ["10.0.0.1:2210", "master-b:2210"]);
        assert_eq!(c.token().unwrap().as_deref(), Some("abc"));
        assert_eq!(c.group.as_deref(), Some("a1"));
        assert_eq!(c.heartbeat, Span(Duration::from_secs(2)));
    }

    #[test]
    fn the_shipped_examples_configure_the_control_plane() {
        let slave = crate::config::NodeConfig::parse(include_str!("../../config/slave.toml")).unwrap();
        assert_eq!(slave.control.masters, ["10.0.0.1:2210"]);
        assert_eq!(slave.control.group.as_deref(), Some("site-a-primary"));
        let standalone = crate::config::NodeConfig::parse(include_str!("../../config/standalone.toml")).unwrap();
        assert_eq!(
            standalone.control,
            ControlSection::default(),
            "no control plane by default"
        );
        let master = crate::config::master::MasterConfig::parse(include_str!("../../config/master.toml")).unwrap();
        assert_eq!(master.control, MasterControlSection::default());
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("masters = [\"10.0.0.1\"]", "control.masters"),
            ("masters = [\":2210\"]", "control.masters"),
            ("heartbeat = \"0s\"", "control.heartbeat"),
            ("heartbeat = \"often\"", "heartbeat"),
            ("token = \"a b\"", "control.token"),
            ("token = \"a\"\ntoken_file = \"/t\"", "token_file"),
            ("master = []", "master"),
        ] {
            let err = format!("{:#}", node(&format!("[control]\n{text}\n")).unwrap_err());
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn a_backup_master_names_the_masters_it_follows() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Master {
            control: MasterControlSection,
        }
        let master = |text: &str| -> anyhow::Result<MasterControlSection> {
            let m: Master = toml::from_str(&format!("[control]\n{text}\n"))?;
            m.control.check()?;
            Ok(m.control)
        };
        let backup = master("priority = 2\nmasters = [\"10.0.0.1:2210\"]\nname = \"m2\"").unwrap();
        assert!(backup.follows());
        assert_eq!(backup.masters, ["10.0.0.1:2210"]);
        assert!(!master("").unwrap().follows(), "priority 1 by default");
        for (text, cause) in [
            ("priority = 2", "control.masters must name"),
            ("masters = [\"10.0.0.1:2210\"]", "top-priority master"),
            ("priority = 0", "starts at 1"),
            ("priority = 2\nmasters = [\"nowhere\"]", "control.masters"),
        ] {
            let err = format!("{:#}", master(text).unwrap_err());
            assert!(err.contains(cause), "{text}: {err}");
        }
    }

    #[test]
    fn the_token_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let master = MasterControlSection {
            token_file: Some(path.clone()),
            ..MasterControlSection::default()
        };
        master.check().unwrap();
        assert_eq!(master.token().unwrap().as_deref(), Some("s3cret"));
        std::fs::write(&path, "\n").unwrap();
        let err = format!("{:#}", master.token().unwrap_err());
        assert!(err.contains("token_file") && err.contains("empty"), "{err}");
        let missing = MasterControlSection {
            token_file: Some(dir.path().join("nope")),
            ..MasterControlSection::default()
        };
        assert!(format!("{:#}", missing.token().unwrap_err()).contains("control.token_file"));
        assert_eq!(MasterControlSection::default().listen.port(), 2210);
        assert_eq!(MasterControlSection::default().token().unwrap(), None);
    }
}
