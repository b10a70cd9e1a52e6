//! The data of one call's `Store`: the WASI and wasi:http contexts, the instance's HTTP hook with its
//! allow-list, the memory limiter, and the page-commit pipeline's state. A fresh one per call: nothing
//! survives from one tick to the next inside the sandbox.

use super::imports::{CommitObserver, CommitStats, PageCommit};
use super::limits::Limiter;
use super::{RuntimeError, SandboxLimits};
use crate::dpop::{Nonces, ProofKey};
use crate::exclusions::Exclusions;
use crate::outbound::InstanceHttp;
use crate::redaction::Redaction;
use crate::signing::Rs256Signer;
use crate::state::{Outbox, StateError};
use okta_ingest_model::{DpopMode, TokenScheme};
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{Error as WasiHttpError, WasiBody};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What one call may use: which instance, its key, where pages go, its HTTP hook.
pub(crate) struct CallContext {
    /// Instance row id (pages are committed for it).
    pub instance_id: i64,
    /// Instance name (logs, the observer).
    pub instance: String,
    /// Signer over the instance's private key (`None` for `describe`, which never signs).
    pub signer: Option<Arc<Rs256Signer>>,
    /// Where pages are committed (`None` for `check` and `describe`, which must not commit).
    pub outbox: Option<Arc<dyn Outbox>>,
    /// The HTTP hook for this instance.
    pub http: InstanceHttp,
    /// Called after every committed page.
    pub observer: Option<CommitObserver>,
    /// What the WIT 1.1 `dpop` interface answers (`None` for `describe`, which never signs).
    pub dpop: Option<DpopCall>,
    /// Event types dropped from each page before it is committed.
    pub exclusions: Exclusions,
    /// Members removed from each event before it is committed.
    pub redaction: Redaction,
}

/// The DPoP side of a call: the instance's mode, the process's proof key, the org's nonce.
#[derive(Clone)]
pub(crate) struct DpopCall {
    /// The instance's setting.
    pub mode: DpopMode,
    /// The key proofs are signed with.
    pub key: Arc<ProofKey>,
    /// The token endpoints' nonces, by domain.
    pub nonces: Arc<Nonces>,
    /// The instance's Okta domain (whose nonce the call reads and keeps).
    pub domain: String,
    /// How the token passed in is presented.
    pub token_scheme: TokenScheme,
}

/// The instance's HTTP hook, recording the first request it refuses so the host can fail the call
/// whatever the component does with the error it gets.
pub(super) struct GuardedHttp {
    pub(super) inner: InstanceHttp,
    pub(super) refused: Option<String>,
}

type IoFuture = Box<dyn std::future::Future<Output = Result<(), WasiHttpError>> + Send>;

impl wasmtime_wasi_http::WasiHttpHooks for GuardedHttp {
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        self.inner.p2_outgoing_body_buffer_chunks()
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: IoFuture,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<(http::Response<WasiBody>, IoFuture), WasiHttpError>,
            > + Send,
    > {
        if self.refused.is_none() && !self.inner.origin.allows(request.uri()) {
            self.refused = Some(request.uri().to_string());
        }
        self.inner.send_request(request, options, fut)
    }
}

/// The `T` of `Store<T>`.
pub(crate) struct StoreData {
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    pub(super) http: GuardedHttp,
    pub(super) limits: Limiter,
    pub(super) sandbox: SandboxLimits,
    pub(super) instance_id: i64,
    pub(super) instance: String,
    pub(super) exclusions: Exclusions,
    pub(super) redaction: Redaction,
    pub(super) signer: Option<Arc<Rs256Signer>>,
    pub(super) outbox: Option<Arc<dyn Outbox>>,
    pub(super) observer: Option<CommitObserver>,
    /// What this call committed so far.
    pub(super) stats: CommitStats,
    /// Why the host refused a page, if it did (the first time).
    pub(super) refused_page: Option<super::PageRefused>,
    /// The page being validated and committed while the component fetches the next one.
    pub(super) in_flight: Option<tokio::task::JoinHandle<PageCommit>>,
    /// A commit that failed after the component had moved on.
    pub(super) commit_error: Option<StateError>,
    pub(super) dpop: Option<DpopCall>,
    /// The scheme the component named for the token it obtained (WIT 1.1 `set-token-scheme`).
    pub(super) token_scheme_out: Option<TokenScheme>,
}

impl StoreData {
    pub(super) fn new(ctx: CallContext, sandbox: &SandboxLimits) -> StoreData {
        let CallContext {
            instance_id,
            instance,
            signer,
            outbox,
            http,
            observer,
            dpop,
            exclusions,
            redaction,
        } = ctx;
        StoreData {
            // No preopens, no env, no args, no stdio, no sockets: the component sees nothing of the host.
            wasi: WasiCtxBuilder::new()
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build(),
            table: ResourceTable::new(),
            http_ctx: WasiHttpCtx::new(),
            http: GuardedHttp {
                inner: http,
                refused: None,
            },
            limits: Limiter::new(sandbox.memory_bytes),
            sandbox: sandbox.clone(),
            exclusions,
            redaction,
            instance_id,
            instance,
            signer,
            outbox,
            observer,
            stats: CommitStats::default(),
            refused_page: None,
            in_flight: None,
            commit_error: None,
            dpop,
            token_scheme_out: None,
        }
    }

    /// A host-enforced limit the call ran into, which fails the call whatever the component returned.
    pub(super) fn take_violation(&mut self) -> Option<RuntimeError> {
        if let Some(wanted) = self.limits.refused_growth {
            return Some(RuntimeError::MemoryLimit {
                wanted_mib: wanted.div_ceil(1 << 20),
                limit_mib: self.limits.memory_bytes >> 20,
            });
        }
        if let Some(uri) = &self.http.refused {
            return Some(RuntimeError::DestinationRefused {
                uri: uri.clone(),
                allowed: self.http.inner.origin.to_string(),
            });
        }
        if let Some(e) = self.refused_page.take() {
            return Some(RuntimeError::InvalidOutput(e));
        }
        self.commit_error.take().map(RuntimeError::Commit)
    }
}

impl WasiView for StoreData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreData {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http_ctx,
            table: &mut self.table,
            hooks: &mut self.http,
        }
    }
}
