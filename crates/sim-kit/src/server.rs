//! Starting a simulator: bind an address (port 0 picks a free port) and serve
//! a router until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// Binds `addr`, returning the listener and the address actually bound.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Which data a simulator starts with (`--seed empty|demo|N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seed {
    /// No data.
    Empty,
    /// A realistic, fixed demo catalog.
    Demo,
    /// A generated catalog of this many products with, on each side, half as
    /// many coupons and as many orders (so `Generated(10_000)` on both
    /// simulators is the benchmark's 10,000 products per side, 5,000
    /// coupons per side and 20,000 orders).
    Generated(usize),
}

impl std::str::FromStr for Seed {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "empty" => Ok(Seed::Empty),
            "demo" => Ok(Seed::Demo),
            n => n.parse::<usize>().map(Seed::Generated).map_err(|_| {
                format!("seed must be `empty`, `demo` or a number of products, got `{n}`")
            }),
        }
    }
}

/// A simulator serving in the background of this process.
pub struct RunningSim {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The line `allybridge sim` prints: URL and credentials, as JSON.
    pub info: serde_json::Value,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningSim {
    /// Binds `addr` and serves `router` in a background task.
    pub async fn spawn(
        addr: SocketAddr,
        router: Router,
        info: impl FnOnce(&str) -> serde_json::Value,
    ) -> std::io::Result<Self> {
        let (listener, addr) = bind(addr).await?;
        let url = format!("http://{addr}");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router, async move {
            let _ = rx.await;
        }));
        Ok(Self {
            addr,
            info: info(&url),
            url,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// Stops serving and waits for open connections to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
