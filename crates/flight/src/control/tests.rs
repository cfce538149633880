//! A master's control service and nodes' clients in one process, over loopback TCP: registration,
//! the push of new versions, the stored copy, and every refusal with its code and message.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use engine::profiles::ProfileSet;
use planner::Topology;

use super::proto::{self, node_message};
use super::*;

const TOKEN: &str = "s3cret";

struct Master {
    addr: std::net::SocketAddr,
    registry: Arc<UnitRegistry>,
    publisher: Arc<ConfigPublisher>,
    metrics: Arc<ControlServerMetrics>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn master(token: Option<&str>) -> Master {
    let metrics = ControlServerMetrics::new();
    let registry = Arc::new(UnitRegistry::new());
    let publisher = Arc::new(ConfigPublisher::new(
        ProfileSet::default(),
        Topology::default(),
        Arc::clone(&metrics),
    ));
    let service = ControlService::new(
        token.map(str::to_string),
        Arc::clone(&registry),
        Arc::clone(&publisher),
        Arc::clone(&metrics),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_control(listener, service, async {
        let _ = stopped.await;
    }));
    Master {
        addr,
        registry,
        publisher,
        metrics,
        _stop: stop,
    }
}

fn settings(master: &Master, name: &str, token: Option<&str>, dir: &std::path::Path) -> ControlClientSettings {
    ControlClientSettings {
        masters: vec![master.addr.to_string()],
        token: token.map(str::to_string),
        name: name.to_string(),
        role: UnitRole::Slave,
        group: Some("a1".into()),
        query: "127.0.0.9:4210".into(),
        flows: vec!["127.0.0.9:2055".into()],
        metrics: "127.0.0.9:9464".into(),
        heartbeat: Duration::from_millis(100),
        stored: StoredConfig::in_dir(dir),
    }
}

fn stats() -> StatsSource {
    Arc::new(|| NodeStats {
        flows_stored: 7,
        exporters: BTreeSet::from(["10.0.0.1".to_string()]),
    })
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

fn profiles(version: u64) -> ProfileSet {
    ProfileSet {
        version,
        ..ProfileSet::default()
    }
}

#[tokio::test]
async fn a_node_registers_reports_and_runs_every_pushed_version() {
    let master = master(Some(TOKEN)).await;
    let dir = tempfile::tempdir().unwrap();
    let metrics = ControlClientMetrics::new();
    let client = ControlClient::start(
        settings(&master, "s1", Some(TOKEN), dir.path()),
        stats(),
        Arc::clone(&metrics),
    )
    .await;
    let mut configs = client.subscribe();
    eventually("the first configuration", || {
        client.current().map(|c| c.version) == Some(1)
    })
    .await;
    // The first heartbeat may leave before the first configuration is applied: wait for one
    // that acknowledges it.
    eventually("a heartbeat acknowledging version 1, and the exporters", || {
        let units = master.registry.snapshot();
        units.len() == 1 && units[0].flows_stored == 7 && units[0].exporters.len() == 1 && units[0].config_version == 1
    })
    .await;
    let unit = &master.registry.snapshot()[0];
    assert_eq!(
        (unit.name.as_str(), unit.role, unit.group.as_deref()),
        ("s1", UnitRole::Slave, Some("a1"))
    );
    assert_eq!(unit.config_version, 1);
    assert_eq!(unit.query, "127.0.0.9:4210");
    assert!(unit.connected);
    assert_eq!(metrics.connected.get(), 1);

    configs.borrow_and_update();
    assert_eq!(master.publisher.publish_profiles(profiles(5)), 5);
    configs.changed().await.unwrap();
    assert_eq!(configs.borrow().as_ref().map(|c| c.profiles.version), Some(5));
    eventually("the acknowledged version", || {
        master.registry.snapshot()[0].config_version == 5
    })
    .await;
    assert_eq!(metrics.config_version.get(), 5);
    assert_eq!(
        StoredConfig::in_dir(dir.path()).load().unwrap().map(|c| c.version),
        Some(5)
    );

    client.stop();
    eventually("the unit to be disconnected", || {
        !master.registry.snapshot()[0].connected
    })
    .await;
    assert_eq!(master.metrics.connected.get(), 0);
}

#[tokio::test]
async fn a_restarted_node_runs_its_stored_version_before_the_master_answers() {
    let dir = tempfile::tempdir().unwrap();
    let stored = StoredConfig::in_dir(dir.path());
    stored
        .save(&ControlConfig {
            version: 4,
            profiles: profiles(4),
            topology: Topology::default(),
        })
        .unwrap();
    let nobody = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut unreachable = settings(&master(None).await, "s1", None, dir.path());
    unreachable.masters = vec![nobody.local_addr().unwrap().to_string()];
    drop(nobody);
    let metrics = ControlClientMetrics::new();
    let client = ControlClient::start(unreachable, stats(), Arc::clone(&metrics)).await;
    assert_eq!(client.current().map(|c| c.version), Some(4));
    assert_eq!(metrics.config_version.get(), 4);
    eventually("a failed attempt", || {
        metrics
            .sessions_failed
            .get_or_create(&metrics::ReasonLabel {
                reason: "unreachable".into(),
            })
            .get()
            > 0
    })
    .await;
    assert_eq!(metrics.connected.get(), 0);
    client.stop();
}

#[tokio::test]
async fn a_corrupt_stored_file_is_ignored_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(CONTROL_DIR)).unwrap();
    std::fs::write(dir.path().join(CONTROL_DIR).join(CONFIG_FILE), "not json").unwrap();
    let master = master(None).await;
    let client = ControlClient::start(
        settings(&master, "s1", None, dir.path()),
        stats(),
        ControlClientMetrics::new(),
    )
    .await;
    assert_eq!(client.current(), None);
    eventually("the master's configuration", || {
        client.current().map(|c| c.version) == Some(1)
    })
    .await;
    assert_eq!(
        StoredConfig::in_dir(dir.path()).load().unwrap().map(|c| c.version),
        Some(1),
        "repaired"
    );
    client.stop();
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_unauthenticated_and_counted() {
    let master = master(Some(TOKEN)).await;
    for (token, cause) in [(Some("guess"), "wrong token"), (None, "no authorization token")] {
        let status = raw_session(&master, token, vec![hello("s1", proto::Role::Slave)])
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status}");
        assert!(status.message().contains(cause), "{status}");
    }
    assert_eq!(rejected(&master, "unauthenticated"), 2);
    assert!(master.registry.snapshot().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let metrics = ControlClientMetrics::new();
    let client = ControlClient::start(
        settings(&master, "s1", Some("guess"), dir.path()),
        stats(),
        Arc::clone(&metrics),
    )
    .await;
    eventually("the client's refusal", || {
        metrics
            .sessions_failed
            .get_or_create(&metrics::ReasonLabel {
                reason: "unauthenticated".into(),
            })
            .get()
            > 0
    })
    .await;
    client.stop();
}

#[tokio::test]
async fn malformed_sessions_are_invalid_arguments_naming_the_cause() {
    let master = master(None).await;
    let heartbeat = proto::NodeMessage {
        kind: Some(node_message::Kind::Heartbeat(proto::Heartbeat::default())),
    };
    let mut unknown_role = hello("s1", proto::Role::Slave);
    if let Some(node_message::Kind::Hello(h)) = &mut unknown_role.kind {
        h.role = 42;
    }
    let cases = [
        (vec![heartbeat], "must be Hello, got Heartbeat"),
        (vec![hello("  ", proto::Role::Slave)], "unit name is empty"),
        (vec![hello("s1", proto::Role::Unspecified)], "unknown role 0"),
        (vec![unknown_role], "unknown role 42"),
        (vec![], "must be Hello"),
    ];
    for (messages, cause) in cases {
        let status = raw_session(&master, None, messages).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status}");
        assert!(status.message().contains(cause), "{cause}: {status}");
    }
    let second = raw_session(
        &master,
        None,
        vec![hello("s1", proto::Role::Slave), hello("s1", proto::Role::Slave)],
    )
    .await;
    let status = second.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status}");
    assert!(status.message().contains("second Hello"), "{status}");
    assert_eq!(rejected(&master, "invalid_argument"), 6);
    eventually("the refused unit to be disconnected", || {
        master.registry.snapshot().iter().all(|u| !u.connected)
    })
    .await;
}

fn hello(name: &str, role: proto::Role) -> proto::NodeMessage {
    proto::NodeMessage {
        kind: Some(node_message::Kind::Hello(proto::Hello {
            name: name.to_string(),
            role: role as i32,
            ..proto::Hello::default()
        })),
    }
}

fn rejected(master: &Master, reason: &str) -> u64 {
    master
        .metrics
        .rejected
        .get_or_create(&metrics::ReasonLabel { reason: reason.into() })
        .get()
}

/// Sends `messages` then ends the stream; reads the answer to its end: the configurations, or
/// the status that ended it.
async fn raw_session(
    master: &Master,
    token: Option<&str>,
    messages: Vec<proto::NodeMessage>,
) -> Result<Vec<proto::MasterMessage>, tonic::Status> {
    let mut client = proto::control_client::ControlClient::connect(format!("http://{}", master.addr))
        .await
        .unwrap();
    let mut request = tonic::Request::new(futures::stream::iter(messages));
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let mut inbound = client.session(request).await?.into_inner();
    let mut received = Vec::new();
    while let Some(message) = inbound.message().await? {
        received.push(message);
    }
    Ok(received)
}
