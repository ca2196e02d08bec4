//! The HTTPS client every AWS client of a function shares: the SDK's default (hyper, rustls with
//! aws-lc, proxy settings from the environment) with two start-up costs taken out.
//!
//! * **One root load.** The SDK builds a TLS connector, and so parses every trusted root, each
//!   time a client is created (to load the roots at init rather than on the first request).
//!   A function creates two or three clients at init and one more per cluster session;
//!   `OneRootLoad` lets the first one do it.
//! * **One bundle file.** By default the roots are the platform's bundle file *and* every file
//!   of its certificate directory (rustls-native-certs via openssl-probe): on Debian 147 more
//!   files, the same certificates again. `platform_roots` reads the bundle file only, in
//!   openssl-probe's order of bundle paths; `SSL_CERT_FILE` or `SSL_CERT_DIR`, when set, still
//!   decide (the operator's choice wins).

use std::sync::OnceLock;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::config_bag::ConfigBag;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Linux CA bundle files, in openssl-probe's order (what rustls-native-certs would read first).
const CA_BUNDLE_FILES: [&str; 8] = [
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Gentoo
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // Amazon Linux 2023, RHEL, CentOS
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL 6
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/pki/tls/cacert.pem",            // OpenELEC
    "/etc/ssl/cert.pem",                  // Alpine
    "/opt/etc/ssl/certs/ca-certificates.crt", // Entware
    "/etc/ssl/certs/cacert.pem",          // OpenHarmony
];

/// The HTTPS client for `aws_config::defaults(..).http_client(..)`.
pub fn https_client() -> SharedHttpClient {
    let context = TlsContext::builder()
        .with_trust_store(platform_roots())
        .build()
        .unwrap_or_default();
    // What `aws_smithy_runtime`'s default HTTPS client does, with this trust store.
    let inner = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut builder = ConnectorBuilder::default()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .tls_context(context.clone());
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    });
    OneRootLoad {
        inner,
        warmed: OnceLock::new(),
    }
    .into_shared()
}

/// The roots to trust: the first bundle file found, or the platform default when the operator
/// set `SSL_CERT_FILE`/`SSL_CERT_DIR` or no bundle file holds a usable root.
pub fn platform_roots() -> TrustStore {
    let configured = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if configured {
        return TrustStore::default();
    }
    CA_BUNDLE_FILES
        .iter()
        .find_map(|path| std::fs::read(path).ok())
        .and_then(|pem| usable_roots(&pem))
        .map_or_else(TrustStore::default, |pem| {
            TrustStore::empty().with_pem_certificate(pem)
        })
}

/// The certificates of a PEM bundle that rustls accepts as roots, as PEM; `None` when there
/// are none. The SDK aborts on a custom root it cannot parse (it expects them hand-picked), so
/// a platform bundle is filtered first, as the SDK's own native-root loading does.
pub fn usable_roots(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let mut kept = Vec::with_capacity(pem.len());
    let mut probe = rustls::RootCertStore::empty();
    // Each piece ends with a certificate's END line (the last may be a trailing remainder).
    for piece in text.split_inclusive("-----END CERTIFICATE-----") {
        // Only the certificate itself: no comments or other PEM blocks from before it.
        let Some(begin) = piece.rfind("-----BEGIN CERTIFICATE-----") else {
            continue;
        };
        let section = &piece[begin..];
        let usable = CertificateDer::from_pem_slice(section.as_bytes())
            .ok()
            .is_some_and(|der| probe.add(der).is_ok());
        if usable {
            kept.extend_from_slice(section.as_bytes());
            kept.push(b'\n');
        }
    }
    (!probe.is_empty()).then_some(kept)
}

/// Loads the roots once for every client: the first client's start-up check builds a
/// connector (which parses the roots, as the SDK intends at init); later clients skip it and
/// requests build their connector on first use, as before.
#[derive(Debug)]
struct OneRootLoad {
    inner: SharedHttpClient,
    /// Set once a client's start-up check has loaded the roots (shared: the SDK keeps this
    /// client behind one `Arc` for every client made from the same `SdkConfig`).
    warmed: OnceLock<()>,
}

impl HttpClient for OneRootLoad {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.inner.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        if self.warmed.get().is_some() {
            return Ok(());
        }
        self.inner.validate_base_client_config(components, cfg)?;
        let _ = self.warmed.set(());
        Ok(())
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.inner.validate_final_config(components, cfg)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed root rustls accepts (made with `openssl req -x509` for this test).
    const ROOT: &str = "-----BEGIN CERTIFICATE-----
MIIBqzCCAVGgAwIBAgIUQUvzZ9T0PcaHPKXPXKzEcvtIpMYwCgYIKoZIzj0EAwIw
KzEpMCcGA1UEAwwgZWtzLWV4cG9zdXJlLXJlc3BvbmRlciB0ZXN0IHJvb3QwHhcN
MjYxMTI2MTkxMjMwWhcNMzYxMTIzMTkxMjMwWjArMSkwJwYDVQQDDCBla3MtZXhw
b3N1cmUtcmVzcG9uZGVyIHRlc3Qgcm9vdDBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABJ5zrbaof1wf9RtY69JxD5fmX1B9LA6iihZzredqjWpbLbbANGTwAnZ+vQ3u
elhEJSDOzxf1GLxlp8tPBcYAEoyjUzBRMB0GA1UdDgQWBBQBx0xPNLm+aBlSo85B
I+m+1P+78DAfBgNVHSMEGDAWgBQBx0xPNLm+aBlSo85BI+m+1P+78DAPBgNVHRMB
Af8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQDrRKRdG7TU+yeXUXsgpN9KsZ6l
0oeJR//S9UpvozV1fwIgEjMYQw/u8AboHouqV70DYDtait35/nyDDmVRIm+cgz8=
-----END CERTIFICATE-----";

    #[test]
    fn unusable_sections_are_dropped_and_an_empty_bundle_is_no_bundle() {
        assert_eq!(usable_roots(b""), None);
        assert_eq!(usable_roots(b"not a bundle"), None);
        let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert_eq!(usable_roots(broken.as_bytes()), None);
    }

    #[test]
    fn usable_roots_are_kept_whole_around_broken_ones() {
        let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----";
        let bundle = format!("# comment\n{ROOT}\n{broken}\n\n{ROOT}\n# trailing\n");
        let kept = usable_roots(bundle.as_bytes()).expect("two usable roots");
        assert_eq!(
            String::from_utf8(kept).expect("PEM is ASCII"),
            format!("{ROOT}\n{ROOT}\n")
        );
    }
}
