//! Runs the real `registro serve` binary on 127.0.0.1:0 and captures its JSON log lines, so
//! tests exercise the HTTP contract, startup and crash recovery exactly as a user would.
//! The child is killed when the handle drops: tests stop what they start.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub struct Registro {
    child: Child,
    pub addr: SocketAddr,
    pub base_url: String,
    logs: Arc<Mutex<Vec<Value>>>,
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub catalog: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    /// The server's current directory; by default its data directory, so the default front
    /// lookup (`front/build` under the current directory) never finds a real build: a test
    /// that wants a front names it (`--front-dir`) or gives a directory holding one.
    pub cwd: Option<PathBuf>,
}

impl Options {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.into());
        self
    }
    pub fn catalog(mut self, p: impl Into<PathBuf>) -> Self {
        self.catalog = Some(p.into());
        self
    }
    pub fn cwd(mut self, p: impl Into<PathBuf>) -> Self {
        self.cwd = Some(p.into());
        self
    }
}

/// Outcome of a spawn that may legitimately fail (config validation tests).
pub enum Spawned {
    Running(Registro),
    Exited { code: Option<i32>, stderr: String },
}

impl Registro {
    /// Starts `bin serve` on a free port with `data_dir`, and waits for its `listening` line.
    pub fn spawn(bin: &Path, data_dir: &Path, opts: &Options) -> Registro {
        match Self::try_spawn(bin, data_dir, opts) {
            Spawned::Running(r) => r,
            Spawned::Exited { code, stderr } => panic!("registro exited ({code:?}): {stderr}"),
        }
    }

    pub fn try_spawn(bin: &Path, data_dir: &Path, opts: &Options) -> Spawned {
        // Paths of ours stay valid in the child's own current directory.
        let absolute = |p: &Path| std::path::absolute(p).expect("absolute path");
        let data_dir_arg = absolute(data_dir);
        let cwd = match &opts.cwd {
            Some(dir) => absolute(dir),
            None => {
                std::fs::create_dir_all(&data_dir_arg).expect("create the data directory");
                data_dir_arg.clone()
            }
        };
        let mut cmd = Command::new(bin);
        cmd.current_dir(&cwd)
            .arg("serve")
            .arg("--addr")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data_dir_arg)
            .env_remove("REGISTRO_ADDR")
            .env_remove("REGISTRO_DATA_DIR")
            .env_remove("REGISTRO_FRONT_DIR")
            // A developer's shell may hold real service settings: tests opt in explicitly.
            .env_remove("RESEND_API_KEY")
            .env_remove("RESEND_API_URL")
            .env_remove("RESEND_REQUESTS_PER_SECOND")
            .env("LOG_LEVEL", "info");
        for var in sheets::VARIABLES {
            cmd.env_remove(var);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(c) = &opts.catalog {
            cmd.arg("--catalog").arg(absolute(c));
        }
        cmd.args(&opts.args);
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        Self::start(cmd, data_dir)
    }

    /// Starts a Cloud Run service binary (`registro-api`, `registro-outbox`, `registro-worker`)
    /// on 127.0.0.1 and a free port, with only the variables given (plus `PATH` and `HOME`,
    /// so a developer's shell settings never leak in), and waits for its `listening` line.
    pub fn try_spawn_service(bin: &Path, env: &[(String, String)]) -> Spawned {
        let mut cmd = Command::new(bin);
        cmd.env_clear();
        for keep in ["PATH", "HOME"] {
            if let Some(v) = std::env::var_os(keep) {
                cmd.env(keep, v);
            }
        }
        cmd.env("REGISTRO_HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("LOG_LEVEL", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Self::start(cmd, Path::new(""))
    }

    pub fn spawn_service(bin: &Path, env: &[(String, String)]) -> Registro {
        match Self::try_spawn_service(bin, env) {
            Spawned::Running(r) => r,
            Spawned::Exited { code, stderr } => {
                panic!("{} exited ({code:?}): {stderr}", bin.display())
            }
        }
    }

    fn start(mut cmd: Command, data_dir: &Path) -> Spawned {
        let mut child = cmd.spawn().expect("spawn registro");
        let stdout = child.stdout.take().expect("stdout");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<SocketAddr>();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if v["message"] == "listening"
                    && let Some(a) = v["addr"].as_str().and_then(|a| a.parse().ok())
                {
                    let _ = tx.send(a);
                }
                sink.lock().unwrap().push(v);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(addr) = rx.recv_timeout(Duration::from_millis(20)) {
                return Spawned::Running(Registro {
                    child,
                    addr,
                    base_url: format!("http://{addr}"),
                    logs,
                    data_dir: data_dir.to_owned(),
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
                }
                return Spawned::Exited {
                    code: status.code(),
                    stderr,
                };
            }
            assert!(
                Instant::now() < deadline,
                "registro did not start listening in 20 s"
            );
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn logs(&self) -> Vec<Value> {
        self.logs.lock().unwrap().clone()
    }

    /// All captured log lines as raw text, for leak scans.
    pub fn logs_text(&self) -> String {
        self.logs()
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits until a log line satisfies `pred` (lines arrive asynchronously).
    pub fn wait_for_log(&self, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = self.logs().into_iter().find(|v| pred(v)) {
                return Some(v);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the process to exit on its own (e.g. after an injected abort).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process hard (SIGKILL): a crash, not a shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registro {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP client that behaves like a browser posting a form but does not follow redirects,
/// so tests can read the 303 `Location`.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}
