//! TLS at the desk's edges: the server's certificate and key
//! (`serve --tls-cert/--tls-key`) opening every accepted socket, and the
//! trust a console puts in a desk it attaches to with `--desk wss://…`
//! (the public web roots plus the desk's own CA from `--desk-ca`). Both
//! read their PEM files once at start; a file that cannot be used stops
//! the start naming its setting and path, and a private key's contents
//! never reach a message.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::{ConfigError, SettingDef, DESK_CA_FILE, DESK_TLS_CERT, DESK_TLS_KEY};

/// The one crypto provider: ring, which reqwest's TLS already builds.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `path`'s bytes, or why not, as `def`'s error.
fn read(def: &SettingDef, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|error| {
        def.error(
            &path.display().to_string(),
            format!("cannot read it: {error}"),
        )
    })
}

/// The key file's bytes. Its name is never repeated: a deployment that
/// put the key itself in `DESK_TLS_KEY` would see it in the message.
fn read_key(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|error| {
        DESK_TLS_KEY.error_unquoted(format!(
            "the key file it names cannot be read ({error}): give the path of a PEM private key file"
        ))
    })
}

/// Every PEM certificate in `path` (`def`'s file), at least one.
fn certificates(
    def: &SettingDef,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(def, path)?;
    let refuse = |problem: String| def.error(&path.display().to_string(), problem);
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| refuse(format!("not a PEM certificate file: {error}")))?;
    if certificates.is_empty() {
        return Err(refuse(
            "no PEM certificate in it (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certificates)
}

/// The desk server's certificate chain and key, ready to open sockets.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

impl ServerTls {
    /// Reads the PEM certificate chain at `cert` (the server's own
    /// certificate first) and the PEM private key at `key` (PKCS#8,
    /// PKCS#1 or SEC1) that belongs to it.
    pub fn load(cert: &Path, key: &Path) -> Result<ServerTls, ConfigError> {
        let chain = certificates(&DESK_TLS_CERT, cert)?;
        let key_pem = read_key(key)?;
        let refuse_key = |problem: &str| DESK_TLS_KEY.error_unquoted(problem);
        // The PEM parser's own words may quote the file: never for a key.
        let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
            refuse_key("no PEM private key in it (-----BEGIN PRIVATE KEY-----, RSA or EC)")
        })?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, private_key)
            .map_err(|error| match error {
                rustls::Error::InconsistentKeys(_) => refuse_key(&format!(
                    "it is not the key of the certificate in {} '{}' ({})",
                    DESK_TLS_CERT.env,
                    cert.display(),
                    DESK_TLS_CERT.flag
                )),
                _ => refuse_key("the private key cannot be used for TLS (ring takes RSA, ECDSA P-256/P-384 and Ed25519 keys)"),
            })?;
        Ok(ServerTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// How a listener opens the sockets it accepts: as they are, or with a
/// TLS handshake over them.
#[derive(Clone, Debug, Default)]
pub(crate) enum Opening {
    #[default]
    Plain,
    Tls(ServerTls),
}

impl Opening {
    pub(crate) fn new(tls: Option<&ServerTls>) -> Opening {
        tls.cloned().map_or(Opening::Plain, Opening::Tls)
    }

    /// `ws` or `wss`, for the address a listener announces.
    pub(crate) fn ws_scheme(&self) -> &'static str {
        match self {
            Opening::Plain => "ws",
            Opening::Tls(_) => "wss",
        }
    }

    /// `socket`, opened: the caller bounds the time a TLS handshake may
    /// take (a peer that stalls in it is dropped like one that never
    /// upgrades).
    pub(crate) async fn open(&self, socket: TcpStream) -> io::Result<ServerStream> {
        let _ = socket.set_nodelay(true);
        match self {
            Opening::Plain => Ok(ServerStream::Plain(socket)),
            Opening::Tls(tls) => {
                let stream = tls.acceptor.accept(socket).await?;
                Ok(ServerStream::Tls(Box::new(stream)))
            }
        }
    }
}

/// An accepted connection's stream, plain or TLS: one type, so that every
/// connection's code is written once over `AsyncRead + AsyncWrite`.
pub(crate) enum ServerStream {
    Plain(TcpStream),
    // Boxed: a TLS session is some kilobytes, a socket a few words.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(socket) => Pin::new(socket).poll_read(cx, buf),
            ServerStream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(socket) => Pin::new(socket).poll_write(cx, buf),
            ServerStream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(socket) => Pin::new(socket).poll_write_vectored(cx, bufs),
            ServerStream::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ServerStream::Plain(socket) => socket.is_write_vectored(),
            ServerStream::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(socket) => Pin::new(socket).poll_flush(cx),
            ServerStream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(socket) => Pin::new(socket).poll_shutdown(cx),
            ServerStream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Whom a console believes is the desk: the public web roots, plus the
/// desk's own CA when `--desk-ca` names one.
#[derive(Clone)]
pub struct DeskTrust {
    connector: tokio_rustls::TlsConnector,
}

impl DeskTrust {
    /// The public roots and, from `ca` (a PEM file of one or more CA
    /// certificates), the desk's own.
    pub fn load(ca: Option<&Path>) -> Result<DeskTrust, ConfigError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca {
            for certificate in certificates(&DESK_CA_FILE, path)? {
                roots.add(certificate).map_err(|error| {
                    DESK_CA_FILE.error(
                        &path.display().to_string(),
                        format!("not a CA certificate TLS can use: {error}"),
                    )
                })?;
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(DeskTrust {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    /// The public roots only.
    pub fn public() -> DeskTrust {
        DeskTrust::load(None).expect("no file to read")
    }

    /// TLS over `socket` to the desk at `host` (a name or an IP address,
    /// which its certificate must name); the error says, in an operator's
    /// words, what was wrong and what to do.
    pub(crate) async fn connect<S>(
        &self,
        host: &str,
        socket: S,
    ) -> Result<tokio_rustls::client::TlsStream<S>, String>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| format!("'{host}' is not a host name or IP address TLS can check"))?;
        self.connector
            .connect(name, socket)
            .await
            .map_err(|error| why_not_connected(&error, host))
    }
}

/// What a failed TLS handshake means to an operator.
fn why_not_connected(error: &io::Error, host: &str) -> String {
    use rustls::CertificateError;
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => format!(
            "the desk's certificate is not signed by a CA this console trusts (unknown issuer): give the desk's CA certificate with --desk-ca or {}",
            DESK_CA_FILE.env
        ),
        Some(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => format!(
            "the desk's certificate is not valid for '{host}' (name mismatch): connect by a name or address its certificate lists"
        ),
        Some(rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        )) => "the desk's certificate has expired".to_string(),
        // A CA of the same name as the desk's, but another key.
        Some(rustls::Error::InvalidCertificate(CertificateError::BadSignature)) => format!(
            "the desk's certificate does not verify against the CA of its issuer's name this console trusts (bad signature): check that --desk-ca or {} is the desk's CA",
            DESK_CA_FILE.env
        ),
        Some(other @ rustls::Error::InvalidCertificate(_)) => {
            format!("the desk's certificate is refused: {other}")
        }
        Some(rustls::Error::AlertReceived(alert)) => {
            format!("the desk refused the TLS handshake ({alert:?})")
        }
        // A plain WebSocket server reads the TLS hello as bad HTTP: it
        // answers 400 or just hangs up.
        Some(rustls::Error::InvalidMessage(_)) => PLAIN_DESK.to_string(),
        _ if matches!(
            error.kind(),
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
        ) =>
        {
            PLAIN_DESK.to_string()
        }
        _ => format!("the TLS handshake failed: {error}"),
    }
}

const PLAIN_DESK: &str =
    "the desk did not answer in TLS: it may serve plain ws:// (no --tls-cert); then use ws://";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_file_is_refused_naming_its_setting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let error = ServerTls::load(&missing, &empty).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "invalid DESK_TLS_CERT '{}' (--tls-cert): cannot read it: No such file or directory (os error 2)",
                missing.display()
            )
        );
        let error = DeskTrust::load(Some(&empty)).err().unwrap().to_string();
        assert_eq!(
            error,
            format!(
                "invalid DESK_CA_FILE '{}' (--desk-ca): no PEM certificate in it (-----BEGIN CERTIFICATE-----)",
                empty.display()
            )
        );
    }

    #[test]
    fn a_key_file_without_a_key_is_refused_without_quoting_it() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        std::fs::write(&key, "secret-material-Qx81\n").unwrap();
        let error = ServerTls::load(&cert, &key).unwrap_err().to_string();
        assert_eq!(
            error,
            "invalid DESK_TLS_KEY (--tls-key): no PEM private key in it (-----BEGIN PRIVATE KEY-----, RSA or EC)"
        );
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(&key, other.signing_key.serialize_pem()).unwrap();
        let error = ServerTls::load(&cert, &key).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "invalid DESK_TLS_KEY (--tls-key): it is not the key of the certificate in DESK_TLS_CERT '{}' (--tls-cert)",
                cert.display()
            )
        );
        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        assert!(ServerTls::load(&cert, &key).is_ok());
    }
}
