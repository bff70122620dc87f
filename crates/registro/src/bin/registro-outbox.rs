//! `registro-outbox`: a Cloud Run service of the Google Cloud deployment. Thin by design: the
//! environment → telemetry → build (`runtime::cloud::services::outbox_service`) → serve until
//! SIGTERM. Its variables: `deploy/registro-outbox.env.example` and the README.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runtime::cloud::services::main_of("registro-outbox", |env| {
        runtime::cloud::services::outbox_service(env)
    })
    .await
}
