//! A TCP hop in front of a real server (moto) that a test can take down and bring back: while it is
//! down every connection, open or new, is reset — what a client sees when a service drops its
//! connections for a while ("Connection reset by peer").

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};

/// The hop; clones share it. It runs on the test's tokio runtime and stops with it.
#[derive(Clone)]
pub struct Outage {
    endpoint: String,
    down: Arc<watch::Sender<bool>>,
    refused: Arc<AtomicUsize>,
    refusal: Arc<Notify>,
}

impl Outage {
    /// Forwards to `upstream` (`http://127.0.0.1:PORT`); up at first.
    pub async fn start(upstream: &str) -> Outage {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let (down, _) = watch::channel(false);
        let outage = Outage {
            endpoint,
            down: Arc::new(down),
            refused: Arc::default(),
            refusal: Arc::default(),
        };
        let hop = outage.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *hop.down.borrow() {
                    hop.refuse(client);
                    continue;
                }
                let mut down = hop.down.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let mut client = client;
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = down.wait_for(|d| *d) => reset(client),
                    }
                });
            }
        });
        outage
    }

    /// `http://127.0.0.1:PORT`, for a client's endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Resets every open connection and every new one until [`Outage::up`].
    pub fn down(&self) {
        self.down.send_replace(true);
    }

    pub fn up(&self) {
        self.down.send_replace(false);
    }

    /// Waits until `n` connections in all were refused while down.
    pub async fn refused_at_least(&self, n: usize) {
        loop {
            let notified = self.refusal.notified();
            if self.refused.load(Ordering::SeqCst) >= n {
                return;
            }
            notified.await;
        }
    }

    fn refuse(&self, client: TcpStream) {
        reset(client);
        self.refused.fetch_add(1, Ordering::SeqCst);
        self.refusal.notify_waiters();
    }
}

/// Closes with a reset (no lingering), as a dropped connection looks to the client.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}
