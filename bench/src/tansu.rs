//! A Tansu broker (Kafka protocol) run by a benchmark on a free loopback port, in-memory
//! storage; the binary comes from `scripts/servers/tansu.sh install`.

use anyhow::{Context, Result, bail};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A broker process; stopped on drop.
#[derive(Debug)]
pub struct Broker {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    /// A broker to be run from the `tansu` binary `bin` on a free loopback port (not started).
    pub fn new(bin: PathBuf) -> Result<Broker> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Ok(Broker { bin, port, child: None })
    }

    /// `127.0.0.1:PORT`, the `bootstrap.servers` of its clients.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker (empty: in-memory storage) and waits until it accepts connections.
    pub fn start(&mut self) -> Result<()> {
        let url = format!("tcp://{}", self.addr());
        let child = Command::new(&self.bin)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url, "--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        wait_until(Duration::from_secs(15), "tansu accepts connections", || TcpStream::connect(self.addr()).is_ok())
    }

    /// Kills the broker (what it stored is lost).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `cond` every 5 ms until it holds; an error naming `what` after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + limit;
    while !cond() {
        if Instant::now() >= deadline {
            bail!("timed out after {limit:?} waiting until {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
