//! The standard `process_*` series, named and computed as Prometheus' Go client does (its procfs
//! package): read from `/proc/self` at each scrape with `std::fs`; a value that cannot be read is
//! left out. Linux only.
//!
//! Not the `procfs` crate: it reads the auxiliary vector through rustix, whose vDSO check crashes
//! under valgrind, and `bench/instructions.sh` counts instructions under callgrind. Like the Go
//! client, clock ticks are `USER_HZ` = 100 (the kernel's ABI value for /proc on every architecture
//! Linux supports), and sizes come in bytes or kB, so no page size is needed.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// Clock ticks per second in /proc (`USER_HZ`).
const USER_HZ: f64 = 100.0;

/// Registers the process collector, and the start time when /proc tells it.
pub(super) fn register(registry: &mut Registry) {
    let start = read("/proc/self/stat")
        .and_then(|text| parse_stat(&text))
        .zip(read("/proc/stat").and_then(|text| parse_boot_time(&text)));
    if let Some((stat, boot)) = start {
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            ConstGauge::new(boot as f64 + stat.start_ticks as f64 / USER_HZ),
        );
    }
    registry.register_collector(Box::new(ProcessCollector));
}

#[derive(Debug)]
struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if let Some(stat) = read("/proc/self/stat").and_then(|text| parse_stat(&text)) {
            let cpu = (stat.user_ticks + stat.system_ticks) as f64 / USER_HZ;
            ConstCounter::new(cpu).encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                MetricType::Counter,
            )?)?;
            gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                stat.virtual_bytes,
            )?;
        }
        if let Some(kb) = read("/proc/self/status").and_then(|text| parse_status_kb(&text, "VmRSS")) {
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                kb.saturating_mul(1024),
            )?;
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors.",
                fds.count() as u64,
            )?;
        }
        if let Some(max) = read("/proc/self/limits").and_then(|text| parse_max_open_files(&text)) {
            gauge(
                &mut encoder,
                "process_max_fds",
                "Maximum number of open file descriptors.",
                max,
            )?;
        }
        Ok(())
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    // Gauges encode as i64 or f64; these values stay far below i64::MAX.
    let value = i64::try_from(value).unwrap_or(i64::MAX);
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// The fields of `/proc/<pid>/stat` used here (proc(5): utime, stime, starttime, vsize).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    user_ticks: u64,
    system_ticks: u64,
    start_ticks: u64,
    virtual_bytes: u64,
}

fn parse_stat(text: &str) -> Option<Stat> {
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so split after the last ')'.
    let fields: Vec<&str> = text.get(text.rfind(')')? + 1..)?.split_whitespace().collect();
    // fields[0] is field 3 (state) of proc(5).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        user_ticks: field(14)?,
        system_ticks: field(15)?,
        start_ticks: field(22)?,
        virtual_bytes: field(23)?,
    })
}

/// `Key:   1234 kB` in `/proc/<pid>/status`.
fn parse_status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The soft limit of `Max open files` in `/proc/<pid>/limits` (`None` when unlimited).
fn parse_max_open_files(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `btime` (boot time, seconds since the epoch) in `/proc/stat`.
fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        let text = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 300 0 0 0 25 7 0 0 20 0 5 0 \
                    1507036 96657408 2352 18446744073709551615 1 1 0 0 0 0 0 4096 17664 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                user_ticks: 25,
                system_ticks: 7,
                start_ticks: 1507036,
                virtual_bytes: 96657408,
            })
        );
        assert_eq!(parse_stat("4242 (truncated) S 1"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn status_limits_and_boot_time() {
        let status = "Name:\tferrovault\nVmPeak:\t  100 kB\nVmRSS:\t    9408 kB\nThreads:\t3\n";
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(9408));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             unlimited            unlimited            processes \n\
                      Max open files            20000                524288               files     \n";
        assert_eq!(parse_max_open_files(limits), Some(20000));
        let unlimited = "Max open files            unlimited            unlimited            files     \n";
        assert_eq!(parse_max_open_files(unlimited), None);
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1796059801\nprocesses 9\n"),
            Some(1796059801)
        );
    }
}
