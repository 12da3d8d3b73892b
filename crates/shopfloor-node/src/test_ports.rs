//! Loopback ports for the servers a test starts (plant simulator, brokers,
//! gateway), handed out so that nothing else takes them before the server
//! binds. Used by the whole-dataflow tests and by node crates' driver tests,
//! which run beside them under nextest.
//!
//! A port found with `bind(127.0.0.1:0)` comes from the kernel's ephemeral
//! range, the same range every dora node draws its zenoh listener from as it
//! starts; a simulator started a moment later could then find its port taken
//! and never serve. So ports come from just below that range, which only
//! explicit binds use, and each is reserved across test processes by a lock
//! file held until the process ends.

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Mutex;

/// How many ports below the ephemeral range are candidates.
const WINDOW: u16 = 8_000;
/// The kernel's default ephemeral range starts here (used when it cannot be read).
const DEFAULT_EPHEMERAL_LOW: u16 = 32_768;

/// Locks this process holds, so no other test process hands out the same ports.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());

/// A loopback TCP port nobody listens on, reserved for this test process.
pub fn reserve() -> u16 {
    let (low, high) = candidate_range();
    let span = u32::from(high - low);
    let start = seed() % span;
    for step in 0..span {
        let port = low + ((start + step) % span) as u16;
        let Some(lock) = lock(port) else { continue };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            if let Ok(mut held) = HELD.lock() {
                held.push(lock);
            }
            return port;
        }
    }
    panic!("no free loopback port in {low}..{high}");
}

/// Ports just below the ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`).
pub fn candidate_range() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next().and_then(|low| low.parse::<u16>().ok()))
        .unwrap_or(DEFAULT_EPHEMERAL_LOW);
    let high = ephemeral_low.max(WINDOW + 1_024);
    (high - WINDOW, high)
}

/// Takes the port's lock file, or `None` when another process holds it.
fn lock(port: u16) -> Option<File> {
    let dir = lock_dir();
    std::fs::create_dir_all(&dir).ok()?;
    let file = File::options().create(true).truncate(false).write(true).open(dir.join(format!("{port}.lock"))).ok()?;
    file.try_lock().ok()?;
    Some(file)
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("shopfloor-test-ports")
}

/// Differs between processes and calls, so parallel tests start apart.
fn seed() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    std::process::id().wrapping_mul(2_654_435_761).wrapping_add(nanos)
}

/// [`reserve`] as a `127.0.0.1` socket address.
pub fn reserve_address() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], reserve()))
}
