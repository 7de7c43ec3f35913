//! Datagrams the kernel dropped before the daemon could read them: a full
//! UDP receive buffer. The Agent's users diagnose packet loss with this
//! counter, so it is on `/metrics` (`dogstatsd_kernel_drops_total`) and in
//! the log whenever it grows.
//!
//! Read from `/proc/net/udp` and `/proc/net/udp6` (the `drops` column) for
//! the sockets this process holds (`/proc/self/fd`), so no listener has to
//! register anything and every UDP socket is counted, however many there
//! are. Unix datagram sockets do not drop: a full one makes the sender
//! wait or fail, which the client counts. Elsewhere than Linux nothing is
//! read.

#[cfg(any(target_os = "linux", test))]
use std::collections::HashSet;
use std::time::Duration;

/// How often the log is told about new drops.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(30);

/// Drops summed over this process's UDP sockets; `None` when the kernel
/// does not say (not Linux, no `/proc`).
pub fn udp_drops() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        let mine = socket_inodes();
        let mut total = None;
        for table in ["/proc/net/udp", "/proc/net/udp6"] {
            if let Ok(text) = std::fs::read_to_string(table) {
                *total.get_or_insert(0) += drops_in(&text, &mine);
            }
        }
        total
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Inodes of the sockets this process holds.
#[cfg(target_os = "linux")]
fn socket_inodes() -> HashSet<u64> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return HashSet::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|link| {
            let s = link.to_str()?;
            s.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

#[cfg(any(target_os = "linux", test))]
/// The `drops` column summed over the rows of `table` (the text of
/// `/proc/net/udp`) whose inode is in `inodes`.
fn drops_in(table: &str, inodes: &HashSet<u64>) -> u64 {
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let cols: Vec<&str> = row.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            let inode: u64 = cols.get(9)?.parse().ok()?;
            let drops: u64 = cols.get(12)?.parse().ok()?;
            inodes.contains(&inode).then_some(drops)
        })
        .sum()
}

/// Logs, every [`LOG_EVERY`], how many datagrams the kernel dropped since
/// the last time, when any were.
pub(crate) fn spawn_logger(cancel: tokio_util::sync::CancellationToken) {
    let Some(mut last) = udp_drops() else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(LOG_EVERY) => {}
            }
            let Some(now) = udp_drops() else { return };
            if now > last {
                tracing::warn!(
                    kernel_drops = now,
                    "the kernel dropped {} UDP datagrams in the last {} s: the receive buffer was full (raise dogstatsd_so_rcvbuf)",
                    now - last,
                    LOG_EVERY.as_secs()
                );
            }
            last = now;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:1F9D 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  124: 0100007F:1F9E 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4343 2 0000000000000000 5
  125: 0100007F:1F9F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4444 2 0000000000000000 1000
";

    #[test]
    fn only_our_sockets_count() {
        let mine: HashSet<u64> = [4242, 4444].into_iter().collect();
        assert_eq!(drops_in(TABLE, &mine), 1017);
        assert_eq!(drops_in(TABLE, &HashSet::new()), 0);
        assert_eq!(drops_in("garbage\nnot a row\n", &mine), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_bound_socket_is_found() {
        use std::os::unix::fs::MetadataExt as _;
        use std::os::unix::io::AsRawFd as _;
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let ino = std::fs::metadata(format!("/proc/self/fd/{}", s.as_raw_fd()))
            .unwrap()
            .ino();
        assert!(socket_inodes().contains(&ino));
        assert!(udp_drops().is_some());
    }
}
