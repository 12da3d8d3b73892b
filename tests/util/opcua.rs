//! Reads values from an OPC UA server the way an independent client would,
//! so a test can compare the dataflow's answer with what the server served.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use opcua::client::{ClientBuilder, IdentityToken, Session};
use opcua::types::{
    EndpointDescription, MessageSecurityMode, NodeId, ReadValueId, TimestampsToReturn, UserTokenPolicy, Variant,
};

use crate::{scratch_dir, Scratch};

/// An OPC UA session (security None, anonymous) with its own runtime.
pub struct SimReader {
    runtime: tokio::runtime::Runtime,
    session: Arc<Session>,
    /// The client's certificate store.
    _pki: Scratch,
}

impl SimReader {
    /// Connects to `endpoint` (`opc.tcp://...`), waiting up to 15 s.
    pub fn connect(endpoint: &str) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let pki = scratch_dir("opcua-reader-pki");
        let session = runtime.block_on(async {
            let mut client = ClientBuilder::new()
                .application_name("shopfloor-slm tests")
                .application_uri("urn:shopfloor-slm:tests")
                .pki_dir(pki.path())
                .create_sample_keypair(true)
                .trust_server_certs(true)
                .session_retry_limit(5)
                .client()
                .map_err(|errors| anyhow::anyhow!("invalid OPC UA client config: {}", errors.join("; ")))?;
            let endpoint: EndpointDescription =
                (endpoint, "None", MessageSecurityMode::None, UserTokenPolicy::anonymous()).into();
            let (session, event_loop) = client
                .connect_to_matching_endpoint(endpoint, IdentityToken::Anonymous)
                .await
                .map_err(|e| anyhow::anyhow!("cannot connect to the OPC UA server: {e}"))?;
            event_loop.spawn();
            tokio::time::timeout(Duration::from_secs(15), session.wait_for_connection())
                .await
                .map_err(|_| anyhow::anyhow!("OPC UA session not connected within 15 s"))?;
            anyhow::Ok(session)
        })?;
        Ok(Self { runtime, session, _pki: pki })
    }

    /// Values of a Double variable (as the fact sheet writes them) read every
    /// 100 ms for `window`, without repeats. The dataflow answers from the
    /// latest reading it received, which can be a publishing interval or two
    /// behind the server, so tests compare against a window of values.
    pub fn sample_values(&self, node_id: &str, window: Duration) -> anyhow::Result<Vec<String>> {
        let until = std::time::Instant::now() + window;
        let mut values: Vec<String> = Vec::new();
        loop {
            let value = shopfloor_core::schema::ReadingValue::Number(self.read_double(node_id)?).to_string();
            if values.last() != Some(&value) {
                values.push(value);
            }
            if std::time::Instant::now() >= until {
                return Ok(values);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The current value of a Double variable, e.g. `ns=2;s=Cell1.SpindleTemperature`.
    pub fn read_double(&self, node_id: &str) -> anyhow::Result<f64> {
        let node = NodeId::from_str(node_id).map_err(|e| anyhow::anyhow!("bad node id {node_id}: {e:?}"))?;
        let values = self.runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(5),
                self.session.read(&[ReadValueId::from(node)], TimestampsToReturn::Both, 0.0),
            )
            .await
        });
        let values = values
            .map_err(|_| anyhow::anyhow!("reading {node_id} timed out"))?
            .map_err(|e| anyhow::anyhow!("reading {node_id} failed: {e}"))?;
        match values.first().and_then(|v| v.value.as_ref()) {
            Some(Variant::Double(value)) => Ok(*value),
            other => anyhow::bail!("{node_id} is not a Double: {other:?}"),
        }
    }
}

impl Drop for SimReader {
    fn drop(&mut self) {
        let session = self.session.clone();
        let _ =
            self.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(2), session.disconnect()).await });
    }
}
