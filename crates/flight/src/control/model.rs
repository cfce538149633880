//! What the master pushes ([`ControlConfig`]) and the role a unit registers with ([`UnitRole`]).

use engine::profiles::ProfileSet;
use planner::Topology;
use serde::{Deserialize, Serialize};

use super::error::ControlError;
use super::proto;

/// One configuration version: what every node of the cluster should run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ControlConfig {
    /// Set by the master's [`super::ConfigPublisher`]; 0 is "none yet".
    pub version: u64,
    /// The master's profiles (a later change applies their retention on the slaves).
    pub profiles: ProfileSet,
    /// The master's cluster topology (source groups, proxy groups, slaves).
    pub topology: Topology,
}

impl ControlConfig {
    /// The protobuf message carrying this configuration.
    pub fn to_message(&self) -> Result<proto::Config, ControlError> {
        let payload = serde_json::to_vec(self).map_err(|e| ControlError::Encode(e.to_string()))?;
        Ok(proto::Config {
            version: self.version,
            payload,
        })
    }

    /// The configuration a `Config` message carries; its version must match the payload's.
    pub fn from_message(message: &proto::Config) -> Result<ControlConfig, ControlError> {
        let config: ControlConfig = serde_json::from_slice(&message.payload).map_err(|e| ControlError::BadConfig {
            version: message.version,
            reason: e.to_string(),
        })?;
        if config.version != message.version {
            return Err(ControlError::BadConfig {
                version: message.version,
                reason: format!("the payload says version {}", config.version),
            });
        }
        Ok(config)
    }
}

/// The role a unit registers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitRole {
    /// `flowfold slave`.
    Slave,
    /// `flowfold proxy`.
    Proxy,
    /// `flowfold standalone`.
    Standalone,
    /// `flowfold master` with `[control] priority` above 1: a backup master following this one.
    Master,
}

impl UnitRole {
    /// The role's name in views and logs.
    pub fn name(self) -> &'static str {
        match self {
            UnitRole::Slave => "slave",
            UnitRole::Proxy => "proxy",
            UnitRole::Standalone => "standalone",
            UnitRole::Master => "master",
        }
    }

    /// The protobuf value.
    pub fn to_proto(self) -> proto::Role {
        match self {
            UnitRole::Slave => proto::Role::Slave,
            UnitRole::Proxy => proto::Role::Proxy,
            UnitRole::Standalone => proto::Role::Standalone,
            UnitRole::Master => proto::Role::Master,
        }
    }

    /// The role of a `Hello`'s raw value; unspecified or unknown values are refused.
    pub fn from_proto(value: i32) -> Result<UnitRole, ControlError> {
        match proto::Role::try_from(value) {
            Ok(proto::Role::Slave) => Ok(UnitRole::Slave),
            Ok(proto::Role::Proxy) => Ok(UnitRole::Proxy),
            Ok(proto::Role::Standalone) => Ok(UnitRole::Standalone),
            Ok(proto::Role::Master) => Ok(UnitRole::Master),
            Ok(proto::Role::Unspecified) | Err(_) => Err(ControlError::BadHello(format!(
                "unknown role {value} (expected slave, proxy, standalone or master)"
            ))),
        }
    }
}
