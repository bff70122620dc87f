//! `registro-api`: a Cloud Run service of the Google Cloud deployment. Thin by design: the
//! environment → telemetry → build (`runtime::cloud::services::api_service`) → serve until
//! SIGTERM. Its variables: `deploy/registro-api.env.example` and the README.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    runtime::cloud::services::main_of("registro-api", |env| {
        runtime::cloud::services::api_service(env)
    })
    .await
}
