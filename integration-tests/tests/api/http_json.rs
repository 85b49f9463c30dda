//! Other government systems call over HTTP/JSON and browsers over gRPC-Web, on the port gRPC
//! callers use: every service's representative calls (create, get, list by pages, a custom
//! method, an error with its details, a stream) answer exactly as over gRPC. The transport does
//! not depend on the database, so `jiceng up`'s SQLite is enough.

use std::{net::SocketAddr, time::Duration};

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http::{Method, StatusCode};
use http_body_util::{BodyExt as _, Full};
use jiceng_auth::Role;
use jiceng_testkit::{TestDatabase, bearer};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use serde_json::{Value, json};
use tonic::Code;

use crate::common::{self, Platform, raw};

/// The origin the test platform lets browsers call from.
const PORTAL: &str = "https://portal.example.gov.cn";

/// Calls the platform three ways as one caller.
struct Caller {
    addr: SocketAddr,
    channel: tonic::transport::Channel,
    auth: String,
    pool: DescriptorPool,
}

/// An HTTP answer: its status and JSON body.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    json: Value,
}

impl Caller {
    async fn new(platform: &Platform, auth: String) -> Self {
        Self {
            addr: platform.server.addr,
            channel: platform.channel().await,
            auth,
            pool: jiceng_gateway::descriptor_pool().expect("the descriptor set"),
        }
    }

    /// A connection of its own, over HTTP/1.1 as a browser or a plain HTTP client opens one.
    async fn connect(&self) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("an HTTP/1.1 connection");
        tokio::spawn(connection);
        sender
    }

    /// One HTTP/1.1 request with this caller's token (`None`: without one).
    async fn http_as(
        &self,
        auth: Option<&str>,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> http::Response<hyper::body::Incoming> {
        let mut sender = self.connect().await;
        let mut request = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, self.addr.to_string());
        if let Some(auth) = auth {
            request = request.header(http::header::AUTHORIZATION, auth);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        if !body.is_empty() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        sender
            .send_request(
                request
                    .body(Full::new(Bytes::from(body)))
                    .expect("a request"),
            )
            .await
            .expect("an HTTP answer")
    }

    async fn http(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        answer(
            self.http_as(Some(&self.auth), method, path, &[], body)
                .await,
        )
        .await
    }

    fn rpc(&self, path: &str) -> MethodDescriptor {
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .expect("/service/method");
        self.pool
            .get_service_by_name(service)
            .and_then(|s| s.methods().find(|m| m.name() == method))
            .unwrap_or_else(|| panic!("no RPC {path}"))
    }

    /// A unary call over gRPC with the request given as proto3 JSON, its answer as JSON or the
    /// status it failed with, rendered as the gateway renders it.
    async fn grpc(&self, path: &str, request: Value) -> Result<Value, (Code, Value)> {
        let rpc = self.rpc(path);
        let request = DynamicMessage::deserialize(rpc.input(), request).expect("a request");
        match raw::call(
            self.channel.clone(),
            &self.auth,
            path,
            request.encode_to_vec().into(),
        )
        .await
        {
            Ok(bytes) => Ok(json_of(&rpc, bytes)),
            Err(status) => Err((
                status.code(),
                jiceng_gateway::GrpcOutcome::from(status).to_json(&self.pool),
            )),
        }
    }

    /// A unary call over gRPC-Web (binary), as a browser's client makes it over HTTP/1.1.
    async fn grpc_web(&self, path: &str, request: Value) -> Result<Value, (Code, String)> {
        let rpc = self.rpc(path);
        let request = DynamicMessage::deserialize(rpc.input(), request).expect("a request");
        let mut sender = self.connect().await;
        let http_request = http::Request::post(path)
            .header(http::header::HOST, self.addr.to_string())
            .header(http::header::CONTENT_TYPE, "application/grpc-web+proto")
            .header("x-grpc-web", "1")
            .header(http::header::ORIGIN, PORTAL)
            .header(http::header::AUTHORIZATION, &self.auth)
            .body(Full::new(frame(0, &request.encode_to_vec())))
            .expect("a request");
        let response = sender.send_request(http_request).await.expect("an answer");
        assert_eq!(response.status(), StatusCode::OK, "gRPC-Web answers 200");
        assert_eq!(
            response
                .headers()
                .get(http::header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .map(|v| v.to_str().expect("text")),
            Some(PORTAL),
            "the portal's page may read the answer"
        );
        let head = response.headers().clone();
        let mut body = response
            .into_body()
            .collect()
            .await
            .expect("the body")
            .to_bytes();
        let (mut message, mut trailers) = (None, String::new());
        while body.len() >= 5 {
            let flag = body.get_u8();
            let length = body.get_u32() as usize;
            let payload = body.split_to(length);
            if flag & 0x80 == 0 {
                message = Some(payload);
            } else {
                trailers = String::from_utf8(payload.to_vec()).expect("text trailers");
            }
        }
        let field = |name: &str| {
            head.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .or_else(|| {
                    trailers.lines().find_map(|line| {
                        let (key, value) = line.split_once(':')?;
                        key.trim()
                            .eq_ignore_ascii_case(name)
                            .then(|| value.trim().to_owned())
                    })
                })
        };
        let code = Code::from(
            field("grpc-status")
                .and_then(|s| s.parse::<i32>().ok())
                .expect("a grpc-status"),
        );
        if code != Code::Ok {
            let message = field("grpc-message").unwrap_or_default();
            let message = percent_encoding::percent_decode_str(&message)
                .decode_utf8_lossy()
                .into_owned();
            return Err((code, message));
        }
        Ok(json_of(&rpc, message.expect("a message")))
    }
}

fn json_of(rpc: &MethodDescriptor, bytes: Bytes) -> Value {
    let message = DynamicMessage::decode(rpc.output(), bytes).expect("the answer decodes");
    serde_json::to_value(&message).expect("JSON")
}

fn frame(flag: u8, message: &[u8]) -> Bytes {
    let mut framed = BytesMut::new();
    framed.put_u8(flag);
    framed.put_u32(u32::try_from(message.len()).expect("small"));
    framed.extend_from_slice(message);
    framed.freeze()
}

async fn answer(response: http::Response<hyper::body::Incoming>) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes();
    let json = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{status}: not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    Answer {
        status,
        headers,
        json,
    }
}

fn ok(answer: Answer) -> Value {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json);
    assert_eq!(
        answer
            .headers
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    answer.json
}

fn text(value: &Value) -> String {
    value.as_str().expect("a string").to_owned()
}

fn admin(platform: &Platform) -> String {
    bearer("district-admin", &[Role::DistrictAdmin], &platform.root_id)
}

/// Reads a list by pages of two over HTTP and over gRPC: the same pages, the same items, and
/// every item once.
async fn pages_agree(caller: &Caller, http_path: &str, rpc: &str, request: Value, items: &str) {
    let (mut token, mut seen) = (String::new(), Vec::new());
    loop {
        let separator = if http_path.contains('?') { '&' } else { '?' };
        let over_http = ok(caller
            .http(
                Method::GET,
                &format!("{http_path}{separator}pageSize=2&pageToken={token}"),
                None,
            )
            .await);
        let mut paged = request.clone();
        paged["pageSize"] = 2.into();
        paged["pageToken"] = token.clone().into();
        let over_grpc = caller.grpc(rpc, paged).await.expect("a page over gRPC");
        assert_eq!(
            over_http, over_grpc,
            "{rpc}: a page over HTTP and over gRPC"
        );
        let page = over_http[items].as_array().cloned().unwrap_or_default();
        assert!(page.len() <= 2, "{rpc}: a page holds at most its size");
        seen.extend(page.iter().map(|item| text(&item["id"])));
        match over_http["nextPageToken"].as_str() {
            Some(next) if !next.is_empty() => token = next.to_owned(),
            _ => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "{rpc}: no item on two pages");
    assert!(
        seen.len() >= 3,
        "{rpc}: the list spans pages ({})",
        seen.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_answers_over_http_json_as_over_grpc() {
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let caller = Caller::new(&platform, admin(&platform)).await;
    let root = platform.root_id.clone();

    // Org: create, get, a list by pages, a custom method, an error with its details.
    let street = ok(caller
        .http(
            Method::POST,
            "/v1/units",
            Some(json!({"parentId": root, "kind": "UNIT_KIND_STREET_WORKING_COMMITTEE", "name": "陆家嘴街道党工委"})),
        )
        .await);
    let street_id = text(&street["id"]);
    assert_eq!(street["name"], "陆家嘴街道党工委");
    for name in ["梅园一村", "梅园二村", "梅园三村"] {
        ok(caller
            .http(
                Method::POST,
                "/v1/units",
                Some(json!({"parentId": street_id, "kind": "UNIT_KIND_RESIDENTIAL_COMMITTEE", "name": format!("{name}居民区党总支")})),
            )
            .await);
    }
    let got = ok(caller
        .http(Method::GET, &format!("/v1/units/{street_id}"), None)
        .await);
    assert_eq!(got, street, "a unit reads back as it was created");
    assert_eq!(
        caller
            .grpc(
                "/jiceng.org.v1.OrgService/GetUnit",
                json!({"id": street_id})
            )
            .await
            .expect("over gRPC"),
        got
    );
    pages_agree(
        &caller,
        &format!("/v1/units/{street_id}/children"),
        "/jiceng.org.v1.OrgService/ListChildren",
        json!({"parentId": street_id}),
        "units",
    )
    .await;
    // A list that did not page before: whole when the caller names no page size, and the same
    // items by pages when it does.
    let whole = ok(caller.http(Method::GET, "/v1/kindRules", None).await);
    assert!(whole.get("nextPageToken").is_none(), "{whole}");
    let whole = whole["rules"].as_array().cloned().unwrap_or_default();
    let (mut paged, mut token) = (Vec::new(), String::new());
    loop {
        let page = ok(caller
            .http(
                Method::GET,
                &format!("/v1/kindRules?pageSize=2&pageToken={token}"),
                None,
            )
            .await);
        paged.extend(page["rules"].as_array().cloned().unwrap_or_default());
        match page["nextPageToken"].as_str() {
            Some(next) => token = next.to_owned(),
            None => break,
        }
    }
    assert!(whole.len() > 2, "the kind rules span pages");
    assert_eq!(paged, whole, "the kind rules by pages of two");
    let subtree = ok(caller
        .http(
            Method::GET,
            &format!("/v1/units/{street_id}:subtree?kinds=UNIT_KIND_RESIDENTIAL_COMMITTEE"),
            None,
        )
        .await);
    assert_eq!(subtree["units"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        caller
            .grpc(
                "/jiceng.org.v1.OrgService/ListSubtree",
                json!({"rootId": street_id, "kinds": ["UNIT_KIND_RESIDENTIAL_COMMITTEE"]}),
            )
            .await
            .expect("over gRPC"),
        subtree
    );
    let other_street = ok(caller
        .http(
            Method::POST,
            "/v1/units",
            Some(json!({"parentId": root, "kind": "UNIT_KIND_STREET_WORKING_COMMITTEE", "name": "花木街道党工委"})),
        )
        .await);
    let moved = ok(caller
        .http(
            Method::POST,
            &format!("/v1/units/{}:move", text(&subtree["units"][0]["id"])),
            Some(json!({"newParentId": other_street["id"], "etag": subtree["units"][0]["etag"]})),
        )
        .await);
    assert_eq!(
        moved["parentId"], other_street["id"],
        "a custom method with a body"
    );
    let invalid =
        json!({"parentId": street_id, "kind": "UNIT_KIND_RESIDENTIAL_COMMITTEE", "name": ""});
    let refused = caller
        .http(Method::POST, "/v1/units", Some(invalid.clone()))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.json["code"], Code::InvalidArgument as i32);
    assert_eq!(
        refused.json["details"][0]["@type"],
        "type.googleapis.com/google.rpc.BadRequest"
    );
    assert_eq!(
        refused.json["details"][0]["fieldViolations"][0]["field"],
        "name"
    );
    let (code, status) = caller
        .grpc("/jiceng.org.v1.OrgService/CreateUnit", invalid)
        .await
        .expect_err("refused over gRPC too");
    assert_eq!((code, status), (Code::InvalidArgument, refused.json));
    let missing = caller
        .http(
            Method::GET,
            "/v1/units/0193a4b2-0000-7000-8000-000000000000",
            None,
        )
        .await;
    assert_eq!(
        (missing.status, &missing.json["code"]),
        (StatusCode::NOT_FOUND, &json!(Code::NotFound as i32))
    );

    // Member: create, get, a list by pages.
    let committee = text(&subtree["units"][1]["id"]);
    let mut members = Vec::new();
    for (name, phone) in [
        ("王某", "13812345678"),
        ("李某", "13812345679"),
        ("张某", "13812345670"),
    ] {
        members.push(ok(caller
            .http(
                Method::POST,
                "/v1/members",
                Some(json!({"name": name, "phone": phone, "orgId": committee, "birthDate": "1970-01-01"})),
            )
            .await));
    }
    assert_eq!(members[0]["phone"], "138****5678", "masked as over gRPC");
    let member_id = text(&members[0]["id"]);
    let member = ok(caller
        .http(Method::GET, &format!("/v1/members/{member_id}"), None)
        .await);
    assert_eq!(
        caller
            .grpc(
                "/jiceng.member.v1.MemberService/GetMember",
                json!({"id": member_id})
            )
            .await
            .expect("over gRPC"),
        member
    );
    pages_agree(
        &caller,
        &format!("/v1/members?orgId={committee}"),
        "/jiceng.member.v1.MemberService/ListMembers",
        json!({"orgId": committee}),
        "members",
    )
    .await;

    // Grid: a case reported, read, listed and accepted (a custom method guarded by its etag).
    let grid = common::garbage_grid(&platform, &committee).await;
    let mut cases = Vec::new();
    for description in ["楼道口堆放建筑垃圾", "绿化带堆放大件垃圾", "垃圾箱房满溢"]
    {
        cases.push(ok(caller
            .http(
                Method::POST,
                "/v1/cases",
                Some(json!({
                    "categoryCode": "city.garbage",
                    "description": description,
                    "attributes": {"volume": "large"},
                    "gridId": grid,
                    "reporterKind": "REPORTER_KIND_RESIDENT",
                })),
            )
            .await));
    }
    let case_id = text(&cases[0]["id"]);
    let case = ok(caller
        .http(Method::GET, &format!("/v1/cases/{case_id}"), None)
        .await);
    assert_eq!(
        caller
            .grpc(
                "/jiceng.grid.v1.CaseService/GetCase",
                json!({"id": case_id})
            )
            .await
            .expect("over gRPC"),
        case
    );
    pages_agree(
        &caller,
        &format!("/v1/cases?orgId={committee}"),
        "/jiceng.grid.v1.CaseService/ListCases",
        json!({"orgId": committee}),
        "cases",
    )
    .await;
    let stale = caller
        .http(
            Method::POST,
            &format!("/v1/cases/{case_id}:accept"),
            Some(json!({"etag": "W/\"0\""})),
        )
        .await;
    assert!(stale.status.is_client_error(), "a stale etag is refused");
    let accepted = ok(caller
        .http(
            Method::POST,
            &format!("/v1/cases/{case_id}:accept"),
            Some(json!({"etag": case["etag"]})),
        )
        .await);
    assert_eq!(accepted["state"], "CASE_STATE_ACCEPTED");

    // Property: companies created, read and listed; the log's signed head.
    let town = ok(caller
        .http(
            Method::POST,
            "/v1/units",
            Some(
                json!({"parentId": root, "kind": "UNIT_KIND_TOWN_COMMITTEE", "name": "高行镇党委"}),
            ),
        )
        .await);
    let town_id = text(&town["id"]);
    for (code, name) in [
        ("91310115MA1K4PQR2G", "高行物业"),
        ("91310115MA1FL2AB3F", "东沟物业"),
        ("91310115MA1H7XYX0X", "森兰物业"),
    ] {
        ok(caller
            .http(
                Method::POST,
                "/v1/companies",
                Some(json!({"company": {
                    "name": name,
                    "creditCode": code,
                    "orgId": town_id,
                    "supervisionHotline": "021-58681234",
                    "repairHotline": "021-58685678",
                    "publishers": ["publisher-1"],
                }})),
            )
            .await);
    }
    pages_agree(
        &caller,
        &format!("/v1/companies?orgId={town_id}"),
        "/jiceng.property.v1.PropertyService/ListCompanies",
        json!({"orgId": town_id}),
        "companies",
    )
    .await;
    let head = ok(caller
        .http(Method::GET, "/v1/disclosureLog/signedTreeHead", None)
        .await);
    assert_eq!(
        caller
            .grpc(
                "/jiceng.property.v1.DisclosureService/GetSignedTreeHead",
                json!({})
            )
            .await
            .expect("over gRPC"),
        head
    );

    // Notify: a member's stream over HTTP carries what is published to them.
    ok(caller
        .http(
            Method::POST,
            "/v1/noticeCategories",
            Some(json!({"category": {"name": "party.notice", "titleTemplate": "{{title}}", "bodyTemplate": "请准时参加", "variables": ["title"]}})),
        )
        .await);
    let reader = bearer(&member_id, &[Role::Member], &street_id);
    let stream = caller
        .http_as(Some(&reader), Method::GET, "/v1/inbox:subscribe", &[], None)
        .await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(
        stream
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.as_bytes()),
        Some(&b"application/x-ndjson"[..])
    );
    let published = ok(caller
        .http(
            Method::POST,
            "/v1/notifications",
            Some(json!({
                "idempotencyKey": "http-json-1",
                "category": "party.notice",
                "variables": {"title": "主题党日"},
                "recipients": [{"memberId": member_id}],
            })),
        )
        .await);
    let line = first_line(stream.into_body()).await;
    let delivered: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(delivered["result"]["notification"]["id"], published["id"]);
    assert_eq!(delivered["result"]["notification"]["title"], "主题党日");
    let inbox = Caller::new(&platform, reader).await;
    let listed = ok(inbox.http(Method::GET, "/v1/inbox", None).await);
    assert_eq!(
        inbox
            .grpc("/jiceng.notify.v1.NotifyService/ListInbox", json!({}))
            .await
            .expect("over gRPC"),
        listed
    );
    assert_eq!(
        listed["items"][0]["notification"],
        delivered["result"]["notification"]
    );

    platform.stop().await;
}

/// The first line of a JSON-lines body, waited for at most 10 s.
async fn first_line(mut body: hyper::body::Incoming) -> String {
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("the stream").into_data() {
                buffer.extend_from_slice(&data);
                if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    return String::from_utf8(buffer[..end].to_vec()).expect("UTF-8");
                }
            }
        }
        panic!("the stream ended without a line");
    })
    .await;
    read.expect("a line within 10 s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_call_is_answered_in_the_status_shape() {
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let caller = Caller::new(&platform, admin(&platform)).await;
    let root = platform.root_id.clone();

    let unknown = caller.http(Method::GET, "/v1/planets", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json["code"], Code::NotFound as i32);
    let wrong = caller
        .http(Method::PUT, &format!("/v1/units/{root}"), None)
        .await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    let internal = caller
        .http(
            Method::POST,
            "/jiceng.events.v1.EventSinkService/Deliver",
            Some(json!({})),
        )
        .await;
    assert_eq!(
        internal.status,
        StatusCode::NOT_FOUND,
        "the platform's internal RPCs have no HTTP route"
    );
    let unreadable = caller
        .http(
            Method::GET,
            &format!("/v1/units/{root}:subtree?maxDepth=deep"),
            None,
        )
        .await;
    assert_eq!(unreadable.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        unreadable.json["details"][0]["fieldViolations"][0]["field"],
        "maxDepth"
    );
    let anonymous = answer(
        caller
            .http_as(None, Method::GET, &format!("/v1/units/{root}"), &[], None)
            .await,
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.json["code"], Code::Unauthenticated as i32);
    let outsider = Caller::new(
        &platform,
        bearer(
            "member-9",
            &[Role::Member],
            "0193a4b2-0000-7000-8000-000000000001",
        ),
    )
    .await;
    let denied = outsider.http(Method::GET, "/v1/auditRecords", None).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);

    // A browser's preflight: the deployment's portal may call, another origin may not.
    for (origin, allowed) in [(PORTAL, true), ("https://elsewhere.example", false)] {
        let preflight = caller
            .http_as(
                None,
                Method::OPTIONS,
                "/v1/units",
                &[
                    ("origin", origin),
                    ("access-control-request-method", "POST"),
                    (
                        "access-control-request-headers",
                        "authorization,content-type",
                    ),
                ],
                None,
            )
            .await;
        let allow = preflight
            .headers()
            .get(http::header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .map(|v| v.to_str().expect("text").to_owned());
        assert_eq!(allow.as_deref(), allowed.then_some(origin), "{origin}");
    }
    platform.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_calls_over_grpc_web_as_over_grpc() {
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let caller = Caller::new(&platform, admin(&platform)).await;
    let root = platform.root_id.clone();
    let street = caller
        .grpc(
            "/jiceng.org.v1.OrgService/CreateUnit",
            json!({"parentId": root, "kind": "UNIT_KIND_STREET_WORKING_COMMITTEE", "name": "花木街道党工委"}),
        )
        .await
        .expect("created over gRPC");
    let street_id = text(&street["id"]);
    let over_web = caller
        .grpc_web(
            "/jiceng.org.v1.OrgService/GetUnit",
            json!({"id": street_id}),
        )
        .await
        .expect("read over gRPC-Web");
    assert_eq!(over_web, street);
    let children = json!({"parentId": root, "pageSize": 5});
    assert_eq!(
        caller
            .grpc_web("/jiceng.org.v1.OrgService/ListChildren", children.clone())
            .await
            .expect("listed over gRPC-Web"),
        caller
            .grpc("/jiceng.org.v1.OrgService/ListChildren", children)
            .await
            .expect("listed over gRPC")
    );
    let created = caller
        .grpc_web(
            "/jiceng.org.v1.OrgService/CreateUnit",
            json!({"parentId": street_id, "kind": "UNIT_KIND_RESIDENTIAL_COMMITTEE", "name": "联洋居民区党总支"}),
        )
        .await
        .expect("created over gRPC-Web");
    assert_eq!(created["parentId"], json!(street_id));
    let (code, message) = caller
        .grpc_web(
            "/jiceng.org.v1.OrgService/GetUnit",
            json!({"id": "not-a-uuid"}),
        )
        .await
        .expect_err("refused");
    let (grpc_code, grpc_status) = caller
        .grpc(
            "/jiceng.org.v1.OrgService/GetUnit",
            json!({"id": "not-a-uuid"}),
        )
        .await
        .expect_err("refused over gRPC");
    assert_eq!(
        (code, json!(message)),
        (grpc_code, grpc_status["message"].clone())
    );
    platform.stop().await;
}

/// Every RPC whose request has REQUIRED fields refuses a request without them, naming each one,
/// before its handler runs; a caller without a token still hears only that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_fields_are_checked_once_for_every_rpc() {
    let platform = Platform::start(TestDatabase::sqlite()).await;
    let caller = Caller::new(&platform, admin(&platform)).await;
    let mut checked = 0;
    for service in caller.pool.services() {
        if !service.full_name().starts_with("jiceng.") {
            continue;
        }
        for rpc in service.methods().filter(|m| !m.is_server_streaming()) {
            let required: std::collections::BTreeSet<String> = rpc
                .input()
                .fields()
                .filter(jiceng_gateway::field_behavior::is_required)
                .map(|f| f.name().to_owned())
                .collect();
            if required.is_empty() {
                continue;
            }
            let path = format!("/{}/{}", service.full_name(), rpc.name());
            let anonymous = raw::call(caller.channel.clone(), "", &path, Bytes::new())
                .await
                .expect_err("no token");
            assert_eq!(anonymous.code(), Code::Unauthenticated, "{path}");
            let refused = raw::call(caller.channel.clone(), &caller.auth, &path, Bytes::new())
                .await
                .expect_err("an empty request");
            assert_eq!(refused.code(), Code::InvalidArgument, "{path}");
            let status = jiceng_gateway::GrpcOutcome::from(refused).to_json(&caller.pool);
            let named: std::collections::BTreeSet<String> = status["details"][0]["fieldViolations"]
                .as_array()
                .unwrap_or_else(|| panic!("{path}: {status}"))
                .iter()
                .map(|v| text(&v["field"]))
                .collect();
            assert_eq!(named, required, "{path}");
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} RPCs checked");
    platform.stop().await;
}
