//! Operating the cloud deployment: `registro admin --backend firestore` on the emulator, and a
//! service stopping cleanly on SIGTERM within Cloud Run's 10 s.

use super::*;
use domain::ports::Store;
use domain::{SubmissionStatus, SubmissionType};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn admin(run: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_registro"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .arg("admin")
        .arg("--backend")
        .arg("firestore")
        .args(args);
    for (k, v) in base_env(run) {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "admin failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn registro_admin_lists_shows_retries_and_exports_the_cloud_deployment() {
    if !emulators() {
        return;
    }
    let run = run_id();
    let config = firestore_store::FirestoreConfig::from_lookup(|k| {
        base_env(&run)
            .into_iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v)
    })
    .unwrap();
    let store = Arc::new(
        firestore_store::FirestoreStore::connect(&config, Arc::new(domain::ports::SystemClock))
            .await
            .unwrap(),
    );
    // More than one page of the admin's listing (200), one of them failed.
    let mut ids = Vec::new();
    for n in 1..=205 {
        let ty = if n % 2 == 0 {
            SubmissionType::Faculty
        } else {
            SubmissionType::Delegacion
        };
        ids.push(testkit::contract::accept_sample(store.as_ref(), n, ty).await);
    }
    let failed = ids[7].clone();
    assert!(
        store
            .set_submission_status(&failed, SubmissionStatus::Failed)
            .await
            .unwrap()
    );

    let all: serde_json::Value =
        serde_json::from_str(&stdout(&admin(&run, &["list", "--json"]))).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 205, "every page");
    let only: serde_json::Value = serde_json::from_str(&stdout(&admin(
        &run,
        &["list", "--status", "failed", "--json"],
    )))
    .unwrap();
    assert_eq!(only[0]["submission_id"], failed.to_string());
    assert_eq!(only.as_array().unwrap().len(), 1);

    let shown: serde_json::Value =
        serde_json::from_str(&stdout(&admin(&run, &["show", failed.as_str()]))).unwrap();
    assert_eq!(shown["submission"]["status"], "failed");
    assert_eq!(shown["outbox"]["status"], "pending");

    // The samples share their e-mail address, so a later one counts as the same registration
    // posted again: found by paging from the failed one's cursor on.
    let refused = admin(&run, &["retry", failed.as_str()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("was replaced by submission"));
    let retried = stdout(&admin(&run, &["retry", "--force", failed.as_str()]));
    assert!(retried.contains("failed → pending"), "{retried}");
    assert_eq!(
        store.submission(&failed).await.unwrap().unwrap().status,
        SubmissionStatus::Pending
    );
    let again = admin(&run, &["retry", "--force", failed.as_str()]);
    assert!(
        !again.status.success(),
        "only a failed submission is retried"
    );

    let csv = stdout(&admin(&run, &["export"]));
    assert_eq!(csv.lines().count(), 206, "a header and a line each");
    let rotate = admin(&run, &["rotate-link-key"]);
    assert_eq!(rotate.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&rotate.stderr).contains("Secret Manager"));
}

#[tokio::test]
async fn a_service_stops_within_cloud_runs_ten_seconds_of_sigterm() {
    if !emulators() {
        return;
    }
    let run = run_id();
    let outbox = Registro::spawn_service(
        &bin("registro-outbox"),
        &with(
            base_env(&run),
            &[("PUB_SUB_TOPIC_NAME", "work"), ("OIDC_DISABLED", "true")],
        ),
    );
    let mut outbox = outbox;
    let pid = outbox.pid();
    let started = Instant::now();
    let killed = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let status = outbox
        .wait_exit(Duration::from_secs(10))
        .expect("exited within 10 s of SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        outbox
            .wait_for_log(Duration::from_secs(1), |l| l["message"] == "stopped")
            .is_some()
    );
}
