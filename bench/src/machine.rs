//! The header line of a results file: which machine and commit produced the figures.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Header {
    pub kind: &'static str,
    pub machine: Machine,
    pub commit: String,
    pub date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub mem: String,
    pub mem_kib: u64,
    pub kernel: String,
    pub cpu_model: String,
}

pub fn header(commit: String, date: String, note: Option<String>) -> Header {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    Header {
        kind: "header",
        machine: Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            mem: format!("{:.1} GiB", mem_kib as f64 / 1024.0 / 1024.0),
            mem_kib,
            kernel,
            cpu_model,
        },
        commit,
        date,
        note,
    }
}
