//! nginx terminating TLS (and mTLS) in front of a collector or a receiver, with certificates
//! from a private CA made by the openssl command.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::collector::wait_until_listening;
use super::collector::Collector;
use super::receiver::Receiver;
use super::{closed_port, openssl, Home};

/// nginx terminating TLS in front of a collector (rotel has no TLS of its own), with a
/// certificate for 127.0.0.1 from a private CA made with the openssl command. One process (no
/// workers that could outlive it), killed on drop.
pub struct TlsFront {
    nginx: Child,
    /// The certificates, the configuration and the log: a temporary directory, removed on drop.
    dir: Home,
    pub grpc: String,
    pub http: String,
    /// The HTTP API, when a receiver stands behind the front.
    pub api: Option<String>,
}

impl TlsFront {
    pub fn start(collector: &Collector) -> TlsFront {
        TlsFront::start_with(collector, None, false)
    }

    /// With `receiver`, a third server in front of the HTTP API; with
    /// `require_client_certificate`, every server asks for a client certificate signed by the
    /// test CA and refuses the handshake without one (mTLS).
    pub fn start_with(
        collector: &Collector,
        receiver: Option<&Receiver>,
        require_client_certificate: bool,
    ) -> TlsFront {
        let dir = Home::new();
        let d = &dir.dir;
        private_ca(d);
        let (grpc_port, http_port, api_port) = (closed_port(), closed_port(), closed_port());
        let upstream = |url: &str| {
            url.trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap()
                .to_string()
        };
        let mut tls = format!(
            "ssl_certificate {0}/server.pem; ssl_certificate_key {0}/server.key;",
            d.display()
        );
        if require_client_certificate {
            tls += &format!(
                " ssl_client_certificate {}/ca.pem; ssl_verify_client on;",
                d.display()
            );
        }
        let api_server = receiver.map_or_else(String::new, |receiver| {
            format!(
                "server {{ listen 127.0.0.1:{api_port} ssl; {tls} \
                 location / {{ proxy_pass http://{}; }} }}",
                upstream(&receiver.url)
            )
        });
        let config = format!(
            "daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    server {{
        listen 127.0.0.1:{grpc_port} ssl http2;
        {tls}
        location / {{ grpc_pass grpc://{grpc}; }}
    }}
    server {{
        listen 127.0.0.1:{http_port} ssl;
        {tls}
        location / {{ proxy_pass http://{http}; }}
    }}
    {api_server}
}}
",
            dir = d.display(),
            grpc = upstream(&collector.grpc),
            http = upstream(&collector.http),
        );
        std::fs::write(d.join("nginx.conf"), config).unwrap();
        let nginx = Command::new("nginx")
            .arg("-p")
            .arg(d)
            .arg("-c")
            .arg(d.join("nginx.conf"))
            .arg("-e")
            .arg(d.join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts (apt-get install nginx-light)");
        let mut ports = vec![grpc_port, http_port];
        ports.extend(receiver.map(|_| api_port));
        if let Err(port) = wait_until_listening(&ports, Duration::from_secs(10)) {
            let log = std::fs::read_to_string(d.join("error.log")).unwrap_or_default();
            panic!("nginx is not listening on {port}: {log}");
        }
        TlsFront {
            nginx,
            grpc: format!("https://127.0.0.1:{grpc_port}"),
            http: format!("https://127.0.0.1:{http_port}"),
            api: receiver.map(|_| format!("https://127.0.0.1:{api_port}/api/v1/events")),
            dir,
        }
    }

    pub fn ca(&self) -> String {
        self.file("ca.pem")
    }

    pub fn file(&self, name: &str) -> String {
        self.dir.dir.join(name).display().to_string()
    }

    /// Each endpoint with its protocol.
    pub fn endpoints(&self) -> [(&str, &str); 2] {
        [(&self.grpc, "grpc"), (&self.http, "http/protobuf")]
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
    }
}

/// A private CA made with the openssl command in `d`: `ca.pem` (and its key), `server.pem` and
/// `server.key` for 127.0.0.1, and `client.pem` and `client.key` for client authentication.
pub fn private_ca(d: &std::path::Path) {
    let key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2";
    openssl(
        d,
        &format!("req -x509 {key} -keyout ca.key -out ca.pem -subj /CN=test-ca"),
    );
    openssl(
        d,
        &format!("req {key} -keyout server.key -out server.csr -subj /CN=127.0.0.1"),
    );
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem \
         -days 2 -extfile server.ext",
    );
    openssl(
        d,
        &format!("req {key} -keyout client.key -out client.csr -subj /CN=earlyexit-test"),
    );
    std::fs::write(
        d.join("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(
        d,
        "x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem \
         -days 2 -extfile client.ext",
    );
}
