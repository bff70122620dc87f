//! `registro admin` against a real server's data directory: what an operator's command may and
//! may not do to submissions the pipeline already finished or replaced.

use crate::support::*;

use testkit::forms::FormFixture;
use testkit::spawn::Options;

#[tokio::test]
async fn item_02_admin_retry_refuses_a_failed_submission_that_a_later_post_replaced() {
    let env = Env::start(
        Options::default()
            .env("REGISTRO_FAILPOINTS", "mailer_send=error*1000")
            .arg("--worker-max-attempts")
            .arg("1"),
    );
    // Explicit key: the failed one answers `registro_fallido`, the browser rotates its key and
    // posts the same registration again.
    let form = FormFixture::individual(&env.catalog, &key(1));
    let first = env.post(DELEGACIONES, &form).await.folio().unwrap();
    wait_status(&env, &first, "failed").await;
    let replay = env.post(DELEGACIONES, &form).await;
    assert!(
        replay.location.contains("code=registro_fallido"),
        "{replay:?}"
    );
    let rotated = form.clone().set("idempotency_key", &key(2));
    let second = env.post(DELEGACIONES, &rotated).await.folio().unwrap();
    assert_ne!(first, second);

    // No key (payload-hash fallback): the same post reopens the record for a new submission.
    let other = FormFixture::individual(&env.catalog, &key(3))
        .remove("idempotency_key")
        .set("correo_0", "otra.persona@example.com");
    let third = env.post(DELEGACIONES, &other).await.folio().unwrap();
    wait_status(&env, &third, "failed").await;
    let fourth = env.post(DELEGACIONES, &other).await.folio().unwrap();
    assert_ne!(third, fourth);
    assert!(env.logged("failed_submission_fallback_retry_reclaimed"));

    for (old, by) in [(&first, &second), (&third, &fourth)] {
        let out = admin(env.dir.path(), &["retry", old]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{old} must be refused");
        assert!(
            stderr.contains(by.as_str()) && stderr.contains("--force"),
            "names the replacement and the override: {stderr}"
        );
        assert_eq!(
            env.submission_doc(old)["status"],
            "failed",
            "nothing changed"
        );
    }
    let forced = admin(env.dir.path(), &["retry", "--force", &first]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_ne!(env.submission_doc(&first)["status"], "failed");
}

#[tokio::test]
async fn item_14_admin_export_needs_no_format_flag() {
    let env = Env::start(Options::default());
    let form = FormFixture::individual(&env.catalog, &key(9));
    let folio = env.post(DELEGACIONES, &form).await.folio().unwrap();
    for args in [&["export"][..], &["export", "--csv"][..]] {
        let out = admin(env.dir.path(), args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with("submission_id,") && text.contains(&folio));
    }
}
