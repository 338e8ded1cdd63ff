//! The hickory request handler: reads the current zone table and health status, answers.

use std::sync::Arc;

use hickory_proto::op::{Edns, Header, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use hickory_server::authority::MessageResponseBuilder;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use tracing::{debug, warn};

use crate::Shared;

/// Answers queries from the shared zone table; authoritative, no recursion.
#[derive(Debug, Clone)]
pub struct Handler {
    shared: Arc<Shared>,
}

impl Handler {
    /// A handler over the shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Handler { shared }
    }
}

fn failed() -> ResponseInfo {
    let mut header = Header::new();
    header.set_response_code(ResponseCode::ServFail);
    header.into()
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let mut builder = MessageResponseBuilder::from_message_request(request);
        if let Some(req_edns) = request.edns() {
            // Answer EDNS with EDNS so UDP answers may exceed 512 bytes (capped at the
            // 1232-byte size that avoids IP fragmentation).
            let mut edns = Edns::new();
            edns.set_max_payload(req_edns.max_payload().clamp(512, 1232));
            edns.set_version(0);
            builder.edns(edns);
        }
        let unsupported =
            request.op_code() != OpCode::Query || request.message_type() != MessageType::Query;
        let info = match request.request_info() {
            Ok(info) if !unsupported => info,
            Ok(_) => {
                let msg = builder.error_msg(request.header(), ResponseCode::NotImp);
                return response_handle
                    .send_response(msg)
                    .await
                    .unwrap_or_else(|_| failed());
            }
            Err(_) => {
                let msg = builder.error_msg(request.header(), ResponseCode::FormErr);
                return response_handle
                    .send_response(msg)
                    .await
                    .unwrap_or_else(|_| failed());
            }
        };
        let qname = Name::from(info.query.name().clone());
        let qtype = info.query.query_type();
        if matches!(qtype, RecordType::ANY | RecordType::AXFR | RecordType::IXFR) {
            let msg = builder.error_msg(request.header(), ResponseCode::NotImp);
            return response_handle
                .send_response(msg)
                .await
                .unwrap_or_else(|_| failed());
        }
        let table = self.shared.table.load();
        let health = |id: &str| self.shared.health.healthy(id);
        let answer = table.answer(&qname, qtype, &health);
        debug!(
            src = %info.src, protocol = ?info.protocol, %qname, %qtype,
            rcode = ?answer.rcode, answers = answer.answers.len(), "query"
        );
        let mut header = Header::response_from_request(request.header());
        header.set_authoritative(answer.rcode != ResponseCode::Refused);
        header.set_recursion_available(false);
        header.set_response_code(answer.rcode);
        let msg = builder.build(
            header,
            answer.answers.iter(),
            std::iter::empty(),
            answer.authority.iter(),
            std::iter::empty(),
        );
        match response_handle.send_response(msg).await {
            Ok(info) => info,
            Err(e) => {
                warn!(error = %e, "cannot send DNS response");
                failed()
            }
        }
    }
}
