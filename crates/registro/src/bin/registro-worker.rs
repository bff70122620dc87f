//! `registro-worker`: a Cloud Run service of the Google Cloud deployment. Thin by design: the
//! environment → telemetry → build (`runtime::cloud::services::worker_service`) → serve until
//! SIGTERM. Its variables: `deploy/registro-worker.env.example` and the README.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runtime::cloud::services::main_of("registro-worker", |env| {
        runtime::cloud::services::worker_service(env)
    })
    .await
}
