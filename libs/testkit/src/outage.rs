//! A TCP forwarder between a service and its database that a test can cut and restore: a
//! database outage or failover as the service sees it, without touching the shared server.

use std::net::SocketAddr;

use tokio::{io::copy_bidirectional, net::TcpStream, sync::watch, task::JoinHandle};

/// Forwards connections from its own address to `target` while it is up.
#[derive(Debug)]
pub struct Outage {
    pub addr: SocketAddr,
    up: watch::Sender<bool>,
    _task: JoinHandle<()>,
}

impl Outage {
    pub async fn start(target: SocketAddr) -> Self {
        let (listener, addr) = crate::bind_local().await;
        let (up, watching) = watch::channel(true);
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut watching = watching.clone();
                if !*watching.borrow() {
                    // Down: the connection is closed at once, as by a server that is gone.
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        // Cut: both sides lose the connection mid-stream.
                        _ = watching.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self {
            addr,
            up,
            _task: task,
        }
    }

    /// Drops every open connection and refuses new ones until [`Outage::restore`].
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }

    /// `url` with its host and port replaced by this forwarder's.
    pub fn url_through(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
        let (credentials, rest) = match rest.split_once('@') {
            Some((credentials, rest)) => (format!("{credentials}@"), rest),
            None => (String::new(), rest),
        };
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        format!("{scheme}://{credentials}{}{path}", self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_are_rewritten_to_pass_through_the_forwarder() {
        let outage = Outage::start("127.0.0.1:5432".parse().expect("addr")).await;
        let url = outage
            .url_through("postgres://jiceng_test@127.0.0.1:5432/jiceng_test_1?sslmode=disable");
        assert_eq!(
            url,
            format!(
                "postgres://jiceng_test@{}/jiceng_test_1?sslmode=disable",
                outage.addr
            )
        );
        assert_eq!(
            outage.url_through("postgres://db.internal/x"),
            format!("postgres://{}/x", outage.addr)
        );
    }
}
