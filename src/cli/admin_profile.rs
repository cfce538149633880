//! `flowfold admin profile`: list, show, create, change and delete sub-profiles on a master or
//! a standalone node, through its `/profiles` routes (see `profiles_admin.rs`).
//!
//! ```text
//! flowfold admin profile create web --node 127.0.0.1:9464 \
//!     --channel 'https=proto tcp and dst port 443' --sql-channel 'dns=dst_port = 53'
//! flowfold admin profile change web --node ... --drop-channel dns --max-age 30d
//! ```

use std::net::SocketAddr;

use anyhow::{Context, bail};
use engine::profiles::{ChannelFilter, LIVE_PROFILE, Profile, ProfileChannel, ProfileSet, Retention, TimeSpan};

use super::admin::request;
use super::top::parse_time;
use crate::config::units::parse_size;

/// What to do with profiles.
#[derive(Debug, clap::Subcommand)]
pub enum ProfileCommand {
    /// Every profile: parent, sources, channels and filters, retention.
    List(Target),
    /// One profile (JSON).
    Show {
        name: String,
        #[command(flatten)]
        target: Target,
    },
    /// A new sub-profile, usable at once over the flows already stored.
    Create {
        name: String,
        #[command(flatten)]
        target: Target,
        /// Its parent profile.
        #[arg(long, default_value = LIVE_PROFILE)]
        parent: String,
        #[command(flatten)]
        spec: ProfileSpec,
    },
    /// Changes a profile: channels added, replaced or dropped; other settings replaced when given.
    Change {
        name: String,
        #[command(flatten)]
        target: Target,
        /// Channels to remove.
        #[arg(long = "drop-channel", value_name = "NAME")]
        drop_channels: Vec<String>,
        /// Read every channel of the parent again (clears the sources).
        #[arg(long, conflicts_with = "sources")]
        all_sources: bool,
        #[command(flatten)]
        spec: ProfileSpec,
    },
    /// Deletes a profile (its children first).
    Delete {
        name: String,
        #[command(flatten)]
        target: Target,
    },
}

/// The node whose profiles are meant.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// The admin (metrics) address of the master or standalone node (`[metrics] listen`).
    #[arg(long, alias = "master")]
    pub node: SocketAddr,
}

/// Settings of a profile given on the command line.
#[derive(Debug, clap::Args)]
pub struct ProfileSpec {
    /// A channel with an nfdump filter: `NAME=FILTER` (`https=proto tcp and dst port 443`).
    #[arg(long = "channel", value_name = "NAME=FILTER", value_parser = nfdump_channel)]
    channels: Vec<ProfileChannel>,
    /// A channel with a SQL predicate: `NAME=PREDICATE` (`dns=dst_port = 53`).
    #[arg(long = "sql-channel", value_name = "NAME=PREDICATE", value_parser = sql_channel)]
    sql_channels: Vec<ProfileChannel>,
    /// A parent channel read (repeat; none: all of the parent's channels). For the live
    /// profile: `exporter_10_0_0_1` or the exporter's address.
    #[arg(long = "source", value_name = "CHANNEL")]
    sources: Vec<String>,
    /// Free text.
    #[arg(long)]
    description: Option<String>,
    /// Only flows starting at or after this time (RFC 3339 or `YYYY-MM-DD HH:MM:SS` UTC).
    #[arg(long, value_parser = parse_time)]
    since: Option<i64>,
    /// Only flows starting before this time.
    #[arg(long, value_parser = parse_time)]
    until: Option<i64>,
    /// Keep the profile's flows this long (`30d`, `12h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    max_age: Option<std::time::Duration>,
    /// Keep at most this much of the profile's stored data (`500GiB`).
    #[arg(long, value_parser = parse_size)]
    max_bytes: Option<usize>,
}

fn channel(text: &str, filter: fn(String) -> ChannelFilter) -> Result<ProfileChannel, String> {
    let (name, body) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=FILTER"))?;
    Ok(ProfileChannel {
        name: name.trim().to_string(),
        filter: filter(body.trim().to_string()),
    })
}

fn nfdump_channel(text: &str) -> Result<ProfileChannel, String> {
    channel(text, ChannelFilter::Nfdump)
}

fn sql_channel(text: &str) -> Result<ProfileChannel, String> {
    channel(text, ChannelFilter::Sql)
}

impl ProfileSpec {
    /// Applies the given settings to `profile`; channels replace those of the same name.
    fn apply(self, profile: &mut Profile) {
        for channel in self.channels.into_iter().chain(self.sql_channels) {
            match profile.channels.iter_mut().find(|c| c.name == channel.name) {
                Some(old) => *old = channel,
                None => profile.channels.push(channel),
            }
        }
        if !self.sources.is_empty() {
            profile.sources = self.sources;
        }
        if let Some(description) = self.description {
            profile.description = description;
        }
        if self.since.is_some() || self.until.is_some() {
            let span = profile.span.get_or_insert(TimeSpan {
                start_ms: None,
                end_ms: None,
            });
            span.start_ms = self.since.or(span.start_ms);
            span.end_ms = self.until.or(span.end_ms);
        }
        if let Some(age) = self.max_age {
            profile.retention.max_age_secs = Some(age.as_secs());
        }
        if let Some(bytes) = self.max_bytes {
            profile.retention.max_bytes = Some(bytes as u64);
        }
    }
}

/// Runs one profile command; `json` prints the node's answer as it is.
pub fn run(command: ProfileCommand, json: bool) -> anyhow::Result<()> {
    let answer = match command {
        ProfileCommand::List(target) => {
            let body = request(target.node, "GET", "/profiles", None)?;
            if !json {
                let set: ProfileSet = serde_json::from_str(&body).context("reading the profile list")?;
                print_profiles(&set);
                return Ok(());
            }
            body
        }
        ProfileCommand::Show { name, target } => request(target.node, "GET", &format!("/profiles/{name}"), None)?,
        ProfileCommand::Create {
            name,
            target,
            parent,
            spec,
        } => {
            let mut profile = Profile {
                name,
                parent,
                description: String::new(),
                sources: Vec::new(),
                channels: Vec::new(),
                span: None,
                retention: Retention::default(),
                version: 0,
            };
            spec.apply(&mut profile);
            let body = serde_json::to_string(&profile)?;
            request(target.node, "POST", "/profiles", Some(&body))?
        }
        ProfileCommand::Change {
            name,
            target,
            drop_channels,
            all_sources,
            spec,
        } => {
            let path = format!("/profiles/{name}");
            let current = request(target.node, "GET", &path, None)?;
            let mut profile: Profile = serde_json::from_str(&current).context("reading the profile")?;
            for drop in &drop_channels {
                if profile.channel(drop).is_none() {
                    bail!("profile '{name}' has no channel '{drop}'");
                }
                profile.channels.retain(|c| &c.name != drop);
            }
            if all_sources {
                profile.sources.clear();
            }
            spec.apply(&mut profile);
            request(target.node, "PUT", &path, Some(&serde_json::to_string(&profile)?))?
        }
        ProfileCommand::Delete { name, target } => request(target.node, "DELETE", &format!("/profiles/{name}"), None)?,
    };
    println!("{answer}");
    Ok(())
}

/// One line per channel: profile, parent, sources, channel, filter.
fn print_profiles(set: &ProfileSet) {
    print!("{}", render_profiles(set));
}

/// The `list` table: the catalog version, then one line per channel with its profile's
/// parent, sources and limits (time span, retention wishes) and the channel's filter.
fn render_profiles(set: &ProfileSet) -> String {
    let mut out = format!("catalog version {}\n", set.version);
    out.push_str(&format!(
        "{:<16} {:<16} {:<24} {:<28} {:<16} filter\n",
        "profile", "parent", "sources", "limits", "channel"
    ));
    for profile in set.profiles.values() {
        let sources = match profile.sources.is_empty() {
            true => "(all)".to_string(),
            false => profile.sources.join(","),
        };
        let limits = limits(profile);
        for channel in &profile.channels {
            let filter = match &channel.filter {
                ChannelFilter::Nfdump(text) => format!("nfdump: {text}"),
                ChannelFilter::Sql(text) => format!("sql: {text}"),
            };
            out.push_str(&format!(
                "{:<16} {:<16} {:<24} {:<28} {:<16} {filter}\n",
                profile.name, profile.parent, sources, limits, channel.name
            ));
        }
    }
    out
}

/// A profile's time span and retention wishes, short (`-` when it has none).
fn limits(profile: &engine::profiles::Profile) -> String {
    let time = |ms: i64| crate::output::utc_seconds(ms).unwrap_or_else(|| ms.to_string());
    let mut parts = Vec::new();
    if let Some(span) = profile.span {
        if let Some(start) = span.start_ms {
            parts.push(format!("from {}", time(start)));
        }
        if let Some(end) = span.end_ms {
            parts.push(format!("until {}", time(end)));
        }
    }
    if let Some(age) = profile.retention.max_age_secs {
        parts.push(format!(
            "max-age {}",
            humantime::format_duration(std::time::Duration::from_secs(age))
        ));
    }
    if let Some(bytes) = profile.retention.max_bytes {
        parts.push(format!("max-bytes {bytes}"));
    }
    match parts.is_empty() {
        true => "-".to_string(),
        false => parts.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use engine::profiles::{LIVE_PROFILE, Profile, ProfileChannel, Retention, TimeSpan};

    use super::*;

    #[test]
    fn the_list_shows_each_channel_with_its_profiles_limits() {
        let mut set = ProfileSet::default();
        let profile = Profile {
            name: "web".into(),
            parent: LIVE_PROFILE.into(),
            description: String::new(),
            sources: vec!["exporter_10_0_0_1".into()],
            channels: vec![
                ProfileChannel {
                    name: "https".into(),
                    filter: ChannelFilter::Nfdump("proto tcp and dst port 443".into()),
                },
                ProfileChannel {
                    name: "dns".into(),
                    filter: ChannelFilter::Sql("dst_port = 53".into()),
                },
            ],
            span: Some(TimeSpan {
                start_ms: Some(1_767_225_600_000),
                end_ms: None,
            }),
            retention: Retention {
                max_age_secs: Some(30 * 86_400),
                max_bytes: Some(1 << 30),
            },
            version: 3,
        };
        set.profiles.insert("web".into(), profile);
        let table = render_profiles(&set);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[1].contains("limits"), "{table}");
        for line in &lines[2..] {
            for part in [
                "web",
                "exporter_10_0_0_1",
                "from 2026-01-01T00:00:00Z",
                "max-age 30days",
                "max-bytes 1073741824",
            ] {
                assert!(line.contains(part), "{part} in {line}");
            }
        }
        assert!(lines[2].contains("https") && lines[2].contains("nfdump: proto tcp and dst port 443"));
        assert!(lines[3].contains("dns") && lines[3].contains("sql: dst_port = 53"));
    }
}
